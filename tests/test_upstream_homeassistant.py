"""The upstream backend's connection in real Home Assistant: a "Backend connected" binary sensor on the charger."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from bmw_wallbox.app import Application, Settings
from bmw_wallbox.homeassistant.model.entities import charger_entities
from bmw_wallbox.options import Options

from ha_client import HaClient
from peer import library_charger
from upstream_backend import running_backend

if TYPE_CHECKING:
    from ha_fixtures import OnboardedCore

pytest_plugins = ["ha_fixtures"]

CHARGER_ID = "DE*BMW*EUPHA0001"
ENTITY = "binary_sensor.bmw_wallbox_backend_connected"


def test_the_sensor_is_there_only_when_a_charger_is_forwarded() -> None:
    """Without an upstream backend the charger has no backend sensor."""
    assert "backend_connected" not in {d.key for d in charger_entities(site=False)}
    assert "backend_connected" in {d.key for d in charger_entities(site=False, upstream=True)}


async def test_backend_connected_follows_the_upstream(home_assistant: OnboardedCore, tmp_path: Path) -> None:
    """With a forwarded charger the sensor is on while the backend is reached and off once it is gone."""
    from ha_fixtures import reset_core  # the plugin module, loaded (and rewritten) by pytest before this runs

    async with aiohttp.ClientSession() as http, running_backend() as backend:
        ha = HaClient(http, home_assistant.core.url, home_assistant.token)
        await reset_core(ha, home_assistant)
        options = Options.model_validate(
            {"ssl": False, "chargers": [{"id": CHARGER_ID, "upstream_url": backend.url("UP*HA*1")}]}
        )
        settings = Settings(
            options=options, data_dir=tmp_path / "data", host="127.0.0.1", ocpp_port=0, panel_port=0, transfer_port=0,
            ha_url=home_assistant.core.url, ha_token=home_assistant.token, min_apply_interval_s=0.0,
            upstream_backoff_s=0.1,
        )  # fmt: skip
        app = Application(settings)
        await app.start()
        try:
            async with library_charger(f"ws://127.0.0.1:{app.ocpp_port}", CHARGER_ID):
                await backend.session("UP*HA*1")
                state = await ha.wait_state(ENTITY, lambda s: s["state"] == "on", what="on", timeout_s=20)
                assert state["attributes"]["device_class"] == "connectivity"
                await backend.stop()
                await ha.wait_state(ENTITY, lambda s: s["state"] == "off", what="off", timeout_s=20)
        finally:
            await app.stop()

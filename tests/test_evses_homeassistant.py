"""A charger with two EVSEs in real Home Assistant: each EVSE's entities on the charger's device, both transports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
from test_evses import two_charging

from bmw_wallbox.app import Application, Settings
from bmw_wallbox.homeassistant.model.evses import evse_entities
from bmw_wallbox.homeassistant.model.values import node_id
from bmw_wallbox.options import Options
from bmw_wallbox.state import ChargerState

from ha_client import HaClient
from helpers import profile_limit
from mosquitto import watching
from peer import library_charger

if TYPE_CHECKING:
    from ha_fixtures import OnboardedCore
    from mosquitto import Mosquitto

pytest_plugins = ["ha_fixtures"]

CHARGER_ID = "DE*BMW*EEVSEHA01"
SLUG = "bmw_wallbox"
OPTIONS = Options.model_validate({"ssl": False, "chargers": [{"id": CHARGER_ID}]})


def test_a_charger_with_one_evse_has_no_evse_entities() -> None:
    """One EVSE: its entities are the charger's; two: seven entities per EVSE, named "EVSE <n> ..."."""
    one = ChargerState(charger_id="A", name="A", max_current_a=16)
    one.evse(1)
    assert evse_entities(one) == ()
    two = ChargerState(charger_id="B", name="B", max_current_a=16)
    two.evse(1), two.evse(2)
    names = [d.name for d in evse_entities(two)]
    assert len(names) == 14
    assert {"EVSE 2 power", "EVSE 2 status", "EVSE 2 current limit", "EVSE 1 energy"} <= set(names)


async def test_evse_2_has_its_own_entities_in_home_assistant(home_assistant: OnboardedCore, tmp_path: Path) -> None:
    """REST: EVSE 2's status, energy and limit are the charger's entities; an event sets EVSE 2's limit."""
    from ha_fixtures import reset_core  # the plugin module, loaded (and rewritten) by pytest before this runs

    async with aiohttp.ClientSession() as http:
        ha = HaClient(http, home_assistant.core.url, home_assistant.token)
        await reset_core(ha, home_assistant)
        settings = Settings(
            options=OPTIONS, data_dir=tmp_path / "data", host="127.0.0.1", ocpp_port=0, panel_port=0, transfer_port=0,
            ha_url=home_assistant.core.url, ha_token=home_assistant.token, min_apply_interval_s=0.0,
        )  # fmt: skip
        app = Application(settings)
        await app.start()
        try:
            async with library_charger(f"ws://127.0.0.1:{app.ocpp_port}", CHARGER_ID) as charger:
                await two_charging(charger)
                status = await ha.wait_state(
                    f"sensor.{SLUG}_evse_2_status", lambda s: s["state"] == "Occupied", what="Occupied", timeout_s=30
                )
                assert status["attributes"]["friendly_name"] == "BMW Wallbox EVSE 2 status"
                energy = await ha.wait_state(
                    f"sensor.{SLUG}_evse_2_energy", lambda s: s["state"] == "0.5", what="0.5 kWh", timeout_s=30
                )
                assert energy["attributes"]["state_class"] == "total_increasing"
                await ha.wait_state(f"sensor.{SLUG}_evse_1_energy", lambda s: s["state"] == "1.0", what="1.0 kWh")
                await ha.wait_state(f"sensor.{SLUG}_energy", lambda s: s["state"] == "1.5", what="the sum")
                limit = await ha.wait_state(
                    f"sensor.{SLUG}_evse_2_current_limit", lambda s: s["state"] not in ("unknown", "unavailable")
                )
                assert float(limit["state"]) > 0
                await ha.fire_event("bmw_wallbox_command", {"action": "set_current_limit", "amps": 10, "evse_id": 2})
                await ha.wait_state(f"sensor.{SLUG}_evse_2_current_limit", lambda s: s["state"] == "10.0", what="10 A")
                sent = [p for a, p in charger.received if a == "SetChargingProfile" and p["evse_id"] == 2]
                assert profile_limit(sent[-1]) == 10.0
        finally:
            await app.stop()


async def test_evse_2_is_on_the_mqtt_device(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """MQTT (a real broker): the charger's discovery document has EVSE 2's components, and their states follow."""
    node = node_id(CHARGER_ID)
    config_topic = f"homeassistant/device/{node}/config"
    settings = Settings(
        options=OPTIONS, data_dir=tmp_path / "data", host="127.0.0.1", ocpp_port=0, panel_port=0, transfer_port=0,
        min_apply_interval_s=0.0, mqtt_url=mosquitto.url,
    )  # fmt: skip
    app = Application(settings)
    await app.start()
    try:
        async with (
            watching(mosquitto, config_topic, f"bmw_wallbox/{node}/#") as watcher,
            library_charger(f"ws://127.0.0.1:{app.ocpp_port}", CHARGER_ID) as charger,
        ):
            await two_charging(charger)
            await watcher.wait_for(config_topic, lambda p: "evse2_power" in p, timeout_s=20)
            components = watcher.json(config_topic)["cmps"]
            assert components["evse2_status"]["name"] == "EVSE 2 status"
            assert components["evse2_energy"]["stat_cla"] == "total_increasing"
            await watcher.wait_for(f"bmw_wallbox/{node}/evse2_energy/state", lambda p: p == "0.5")
            await watcher.wait_for(f"bmw_wallbox/{node}/energy/state", lambda p: p == "1.5")
    finally:
        await app.stop()

"""A charger with two EVSEs in real Home Assistant: each EVSE's entities on the charger's device, both transports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
from helpers import eventually, profile_limit
from mosquitto import watching
from peer import LibraryCharger, library_charger

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
    assert {"EVSE 2 power", "EVSE 2 status", "EVSE 2 applied current limit", "EVSE 1 energy"} <= set(names)


@asynccontextmanager
async def rest_charger(home_assistant: OnboardedCore, tmp_path: Path) -> AsyncIterator[tuple[HaClient, LibraryCharger]]:
    """The add-on on Home Assistant's REST API and a two-EVSE charger with both EVSEs charging."""
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
                yield ha, charger
        finally:
            await app.stop()


def evse_limits(charger: LibraryCharger, evse_id: int) -> list[float]:
    """The limits of the SetChargingProfile frames the charger got for EVSE ``evse_id``, in order."""
    return [profile_limit(p) for a, p in charger.received if a == "SetChargingProfile" and p["evse_id"] == evse_id]


async def test_evse_2_has_its_own_entities_in_home_assistant(home_assistant: OnboardedCore, tmp_path: Path) -> None:
    """REST: EVSE 2's status, energy and applied limit are the charger's entities; an event sets EVSE 2's limit."""
    async with rest_charger(home_assistant, tmp_path) as (ha, charger):
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
        applied = f"sensor.{SLUG}_evse_2_applied_current_limit"
        limit = await ha.wait_state(applied, lambda s: s["state"] not in ("unknown", "unavailable"))
        assert float(limit["state"]) > 0
        await ha.fire_event("bmw_wallbox_command", {"action": "set_current_limit", "amps": 10, "evse_id": 2})
        await ha.wait_state(applied, lambda s: s["state"] == "10.0", what="10 A")
        await ha.wait_state(f"input_number.{SLUG}_evse_2_current_limit", lambda s: s["state"] == "10.0", what="10 A")
        assert evse_limits(charger, 2)[-1] == 10.0


async def test_evse_2_has_its_own_slider_and_buttons_in_home_assistant(
    home_assistant: OnboardedCore, tmp_path: Path
) -> None:
    """REST: EVSE 2's slider sets EVSE 2's limit, its Pause button sends 0 A to EVSE 2 only, Resume brings it back."""
    async with rest_charger(home_assistant, tmp_path) as (ha, charger):
        slider = f"input_number.{SLUG}_evse_2_current_limit"
        # Created at 0 when the charger reported EVSE 2, then moved to EVSE 2's limit: the add-on follows it now.
        state = await ha.wait_state(slider, lambda s: s["state"] == "32.0", timeout_s=30, what="EVSE 2's 32 A")
        assert state["attributes"]["friendly_name"] == "BMW Wallbox EVSE 2 current limit"
        await ha.call_service("input_number", "set_value", {"entity_id": slider, "value": 8})
        await eventually(lambda: evse_limits(charger, 2)[-1:], until=lambda x: x == [8.0], what="8 A on EVSE 2")
        before = len(evse_limits(charger, 1))
        await ha.call_service("input_button", "press", {"entity_id": f"input_button.{SLUG}_evse_2_pause"})
        await eventually(lambda: evse_limits(charger, 2)[-1:], until=lambda x: x == [0.0], what="0 A on EVSE 2")
        await ha.wait_state(slider, lambda s: s["state"] == "0.0", what="the slider at 0 while EVSE 2 is paused")
        assert 0.0 not in evse_limits(charger, 1)[before:]
        await ha.call_service("input_button", "press", {"entity_id": f"input_button.{SLUG}_evse_2_resume"})
        await eventually(lambda: evse_limits(charger, 2)[-1:], until=lambda x: x == [8.0], what="8 A on EVSE 2 again")
        await ha.wait_state(slider, lambda s: s["state"] == "8.0", what="the slider back at 8")


async def test_evse_2_is_on_the_mqtt_device(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """MQTT (a real broker): EVSE 2's sensors and controls are on the charger's device; its switch pauses EVSE 2."""
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
            assert (components["evse2_limit"]["p"], components["evse2_charging_enabled"]["p"]) == ("number", "switch")
            before = len(evse_limits(charger, 1))
            await watcher.publish(f"bmw_wallbox/{node}/evse2_charging_enabled/set", "OFF")
            await eventually(lambda: evse_limits(charger, 2)[-1:], until=lambda x: x == [0.0], what="0 A on EVSE 2")
            await watcher.wait_for(f"bmw_wallbox/{node}/evse2_charging_enabled/state", lambda p: p == "OFF")
            assert await watcher.wait_for(f"bmw_wallbox/{node}/charging_enabled/state") == "ON"
            assert 0.0 not in evse_limits(charger, 1)[before:]
            await watcher.publish(f"bmw_wallbox/{node}/evse2_limit/set", "9")
            await watcher.publish(f"bmw_wallbox/{node}/evse2_charging_enabled/set", "ON")
            await eventually(lambda: evse_limits(charger, 2)[-1:], until=lambda x: x == [9.0], what="9 A on EVSE 2")
    finally:
        await app.stop()

"""MQTT discovery in a real Home Assistant Core 2025.4.4 with a real Mosquitto broker.

This module runs its own Home Assistant (fresh config dir, so its registries
hold only what these tests made) whose MQTT integration uses the session's
broker (``mosquitto``). Every test that changes something gets its own
scenario (``device``): a fresh add-on with one charger of a new id, a simulated
wallbox with a car, and at the end the device removed from Home Assistant, so
the next scenario gets the same entity ids. Tests that only read share what one
such scenario showed (``looked``). A charger with two EVSEs has a scenario of
its own (``two_evses``: the simulator's dual-evse wallbox). Nothing a test does
reaches another.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from ha_mqtt import KEYS, MAX_CURRENT_A, Scenario, evse_control_models, evse_models, scenario
from test_maintenance_firmware import upload_firmware
from test_site_homeassistant import Site, check_limiting_events, check_site_entities, running_site

from bmw_wallbox.homeassistant.model.entities import EntityDescription
from bmw_wallbox.simulator import DUAL_EVSE, WallboxSimulator

from conftest import running
from ha_client import HaClient, add_mqtt_integration
from ha_fixtures import OnboardedCore, start_and_onboard
from ha_install import ensure_installed, ensure_mqtt_requirement
from ha_process import HomeAssistantCore, run_sync
from helpers import eventually, free_port
from mosquitto import PASSWORD, USER, Mosquitto, watching

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: The site device's sensors (keys and entity id suffixes), sorted.
SITE_KEYS = ("headroom", "household", "meter_age", "state")


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HomeAssistantCore]:
    """A Home Assistant of this module's own, onboarded."""
    hass = ensure_installed()
    ensure_mqtt_requirement()
    instance = HomeAssistantCore(hass, tmp_path_factory.mktemp("ha-mqtt"))
    onboarded: OnboardedCore = run_sync(start_and_onboard(instance))
    try:
        yield onboarded.core
    finally:
        run_sync(instance.stop())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ha(core: HomeAssistantCore, mosquitto: Mosquitto) -> AsyncIterator[HaClient]:
    """A client of this module's Home Assistant, with its MQTT integration on the session's broker."""
    assert core.token is not None
    async with aiohttp.ClientSession() as http:
        await add_mqtt_integration(http, core.url, core.token, port=mosquitto.port, username=USER, password=PASSWORD)
        yield HaClient(http, core.url, core.token)


@pytest_asyncio.fixture(loop_scope="module")
async def device(
    core: HomeAssistantCore, mosquitto: Mosquitto, ha: HaClient, tmp_path: Path
) -> AsyncIterator[Scenario]:
    """This test's own scenario (see :func:`scenario`)."""
    async with scenario(core, mosquitto, ha, tmp_path / "addon-data") as setup:
        yield setup


@dataclass(frozen=True)
class Looked:
    """What one scenario showed, for the tests that only read."""

    device: dict[str, Any]
    entries: dict[str, dict[str, Any]]
    states: dict[str, dict[str, Any]]
    statistic: dict[str, Any] | None
    panel_ids: list[str]
    panel_port: int
    node: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def looked(
    core: HomeAssistantCore, mosquitto: Mosquitto, ha: HaClient, tmp_path_factory: pytest.TempPathFactory
) -> Looked:
    """One scenario, looked at once: device, registry, states with a value, statistics, the panel's ids."""
    async with scenario(core, mosquitto, ha, tmp_path_factory.mktemp("addon-data")) as setup:
        assert setup.app is not None
        app = setup.app
        entries = {e["unique_id"].removeprefix(f"{setup.node}_"): e for e in await setup.registry_complete()}
        states = {
            key: await ha.wait_state(entries[key]["entity_id"], lambda s: s["state"] != "unknown", timeout_s=20)
            for key in ("power", "energy", "voltage_l1", "charge_status", "limit", *HEALTH)
        }

        async def statistic() -> dict[str, Any] | None:
            items = await ha.ws_command({"type": "recorder/list_statistic_ids", "statistic_type": "sum"})
            return next((i for i in items if i["statistic_id"] == entries["energy"]["entity_id"]), None)

        await eventually(statistic, timeout=20, what="the energy sensor among the recorder statistics")
        registered = sorted(e["entity_id"] for e in entries.values())

        def shown() -> list[str]:
            return sorted(dict(app.setup_facts().entity_ids).get(setup.charger_id, ()))

        await eventually(lambda: shown() == registered, timeout=15, what="the panel to show the registry's ids")
        found = await setup.device()
        assert found is not None
        return Looked(found, entries, states, await statistic(), shown(), app.panel_port or 0, setup.node)


#: The connection health entities and the update entity (keys).
HEALTH = ("rtt", "reconnects_24h", "boot_reason", "firmware_update")


async def test_charger_is_one_device_with_maker_model_and_firmware(looked: Looked) -> None:
    """The device registry has the charger with manufacturer, model, serial, firmware and the panel link."""
    device = looked.device
    assert (device["name"], device["manufacturer"], device["model"], device["sw_version"], device["serial_number"]) == (
        "BMW Wallbox",
        "Delta Electronics",
        "EIAW-E22KTSE6B04",
        "01.20.06.71",
        "DE2201A00042",
    )
    assert device["configuration_url"] == f"http://127.0.0.1:{looked.panel_port}/"


async def test_every_entity_is_registered_once_with_its_unique_id(looked: Looked) -> None:
    """Every component is in the entity registry with its unique id, on the charger's device, and none twice."""
    assert sorted(looked.entries) == sorted(KEYS)
    assert {e["device_id"] for e in looked.entries.values()} == {looked.device["id"]}
    assert [e["entity_id"] for e in looked.entries.values() if e["entity_id"].endswith("_2")] == []


@pytest.mark.parametrize(
    ("key", "attributes"),
    [
        ("power", {"unit_of_measurement": "W", "device_class": "power", "state_class": "measurement"}),
        ("energy", {"unit_of_measurement": "kWh", "device_class": "energy", "state_class": "total_increasing"}),
        ("voltage_l1", {"unit_of_measurement": "V", "device_class": "voltage", "state_class": "measurement"}),
        ("charge_status", {"device_class": "enum", "options": ["disconnected", "connected", "charging"]}),
        ("limit", {"unit_of_measurement": "A", "device_class": "current", "min": 0, "max": 16, "step": 1}),
    ],
)
async def test_entity_state_carries_unit_and_classes(looked: Looked, key: str, attributes: dict[str, Any]) -> None:
    """The entity's state has the unit, device class and state class the statistics and Energy dashboard need."""
    state = looked.states[key]
    assert {name: state["attributes"].get(name) for name in attributes} == attributes


async def test_technical_entities_are_diagnostic(looked: Looked) -> None:
    """Firmware and last seen are diagnostic entities, the reboot button a configuration one, power neither."""
    categories = {key: looked.entries[key]["entity_category"] for key in ("firmware", "last_seen", "reboot", "power")}
    assert categories == {"firmware": "diagnostic", "last_seen": "diagnostic", "reboot": "config", "power": None}


async def test_energy_sensor_is_a_statistic(looked: Looked) -> None:
    """The recorder lists the lifetime energy sensor as a statistic with a sum in kWh."""
    assert looked.statistic is not None
    assert (looked.statistic["has_sum"], looked.statistic["statistics_unit_of_measurement"]) == (True, "kWh")


async def test_entity_ids_follow_the_names(looked: Looked) -> None:
    """Entity ids are the device name and the entity name: the number is current_limit, the sensor applied_..."""
    ids = {key: looked.entries[key]["entity_id"] for key in ("power", "current_limit", "limit", "reboot", "pause")}
    assert ids == {
        "power": "sensor.bmw_wallbox_power",
        "current_limit": "sensor.bmw_wallbox_applied_current_limit",
        "limit": "number.bmw_wallbox_current_limit",
        "reboot": "button.bmw_wallbox_reboot",
        "pause": "button.bmw_wallbox_pause",
    }


async def test_health_and_update_entities_show_the_connection_and_the_firmware(looked: Looked) -> None:
    """Round trip (ms), reconnects and boot reason are diagnostic sensors; the update entity shows the firmware."""
    ids = {key: looked.entries[key]["entity_id"] for key in HEALTH}
    assert ids == {
        "rtt": "sensor.bmw_wallbox_round_trip",
        "reconnects_24h": "sensor.bmw_wallbox_reconnects_24h",
        "boot_reason": "sensor.bmw_wallbox_boot_reason",
        "firmware_update": "update.bmw_wallbox_firmware_update",
    }
    assert {looked.entries[key]["entity_category"] for key in HEALTH} == {"diagnostic", "config"}
    states = {key: looked.states[key] for key in HEALTH}
    assert 0 <= float(states["rtt"]["state"]) < 1000
    assert states["rtt"]["attributes"]["unit_of_measurement"] == "ms"
    assert (states["reconnects_24h"]["state"], states["boot_reason"]["state"]) == ("0", "PowerUp")
    update = states["firmware_update"]
    shown = {k: update["attributes"].get(k) for k in ("installed_version", "latest_version", "in_progress")}
    assert (update["state"], shown) == (
        "off",
        {"installed_version": "01.20.06.71", "latest_version": "01.20.06.71", "in_progress": False},
    )


async def test_panel_shows_the_entity_ids_home_assistant_gave(looked: Looked) -> None:
    """The setup report lists the charger's entity ids as Home Assistant's entity registry has them."""
    assert looked.panel_ids == sorted(e["entity_id"] for e in looked.entries.values())
    assert "switch.bmw_wallbox_charging_enabled" in looked.panel_ids


async def test_migration_removes_the_rest_states_and_helpers(
    core: HomeAssistantCore, mosquitto: Mosquitto, ha: HaClient, tmp_path: Path
) -> None:
    """Moving from REST to MQTT: the helpers of the REST mode are gone, the MQTT sensors take the REST entity ids."""
    setup = Scenario(core, mosquitto, ha, tmp_path / "addon-data", free_port(), f"DE*BMW*EMIG{uuid.uuid4().hex[:6]}")
    try:
        await setup.start_app(mqtt=False)
        await ha.wait_state("input_button.bmw_wallbox_pause", timeout_s=30)
        await ha.wait_state("sensor.bmw_wallbox_power", timeout_s=30)
        app = await setup.start_app(mqtt=True)
        assert app.home_assistant is not None
        await eventually(app.home_assistant.rest_cleared.is_set, timeout=30, what="the REST states and helpers removed")
        await setup.registry_complete()
        helpers = (await ha.helpers("input_number"), await ha.helpers("input_button"))
        assert (helpers, await setup.entity_id("power")) == (([], []), "sensor.bmw_wallbox_power")
    finally:
        if setup.app is not None:
            await setup.app.stop()
        await setup.remove_devices(setup.charger_id)


async def test_migration_removes_each_evses_rest_states_and_helpers(
    core: HomeAssistantCore, mosquitto: Mosquitto, ha: HaClient, tmp_path: Path
) -> None:
    """REST to MQTT with two EVSEs: EVSE 2's REST states and helpers go, its MQTT entities take the same ids."""
    setup = Scenario(core, mosquitto, ha, tmp_path / "addon-data", free_port(), f"DE*BMW*EMIG{uuid.uuid4().hex[:6]}")
    setup.evses = 2
    try:
        await setup.start_app(mqtt=False)
        wallbox = WallboxSimulator(
            f"ws://127.0.0.1:{setup.ocpp_port}", setup.charger_id, personality=DUAL_EVSE, time_scale=10.0, reboot_s=3
        )
        async with running(wallbox):
            await ha.wait_state("sensor.bmw_wallbox_evse_2_power", timeout_s=30)
            await ha.wait_state("input_button.bmw_wallbox_evse_2_pause", timeout_s=30)
            app = await setup.start_app(mqtt=True)
            assert app.home_assistant is not None
            await eventually(
                app.home_assistant.rest_cleared.is_set, timeout=30, what="the REST states and helpers gone"
            )
            await setup.registry_complete()
            helpers = (await ha.helpers("input_number"), await ha.helpers("input_button"))
            ids = [await setup.entity_id(key) for key in ("evse2_power", "evse2_limit")]
            assert (helpers, ids) == (
                ([], []),
                ["sensor.bmw_wallbox_evse_2_power", "number.bmw_wallbox_evse_2_current_limit"],
            )
    finally:
        if setup.app is not None:
            await setup.app.stop()
        await setup.remove_devices(setup.charger_id)


async def test_switch_off_pauses_and_on_resumes(device: Scenario) -> None:
    """Turning the charging switch off sends a 0 A profile; turning it on sends the limit again."""
    switch = await device.entity_id("charging_enabled")
    assert device.wallbox is not None
    after = len(device.wallbox.received)
    await device.ha.call_service("switch", "turn_off", {"entity_id": switch})
    assert (await device.limit_sent(0, after))[-1] == 0.0
    await device.ha.wait_state(switch, lambda s: s["state"] == "off")
    after = len(device.wallbox.received)
    await device.ha.call_service("switch", "turn_on", {"entity_id": switch})
    assert (await device.limit_sent(MAX_CURRENT_A, after))[-1] == float(MAX_CURRENT_A)
    shown = await device.ha.wait_state(switch, lambda s: s["state"] == "on")
    assert shown["state"] == "on"


async def test_number_sets_the_limit_and_the_event_entity_says_so(device: Scenario) -> None:
    """Setting the number sends that limit; the number shows it and the event entity has the accepted outcome."""
    number, event = await device.entity_id("limit"), await device.entity_id("events")
    assert device.wallbox is not None
    after = len(device.wallbox.received)
    await device.ha.call_service("number", "set_value", {"entity_id": number, "value": 10})
    assert (await device.limit_sent(10, after))[-1] == 10.0
    await device.ha.wait_state(number, lambda s: s["state"] == "10")
    state = await device.ha.wait_state(
        event,
        lambda s: (
            s["attributes"].get("event_type") == "command_result" and s["attributes"].get("applied_limit_a") == 10
        ),
    )
    assert state["attributes"]["outcome"] == "accepted"


@pytest.mark.parametrize(("key", "action"), [("pause", "SetChargingProfile"), ("reboot", "Reset")])
async def test_button_press_reaches_the_charger(device: Scenario, key: str, action: str) -> None:
    """Pressing a button entity sends its request to the wallbox, once."""
    button = await device.entity_id(key)
    assert device.wallbox is not None
    after = len(device.wallbox.received)
    await device.ha.call_service("button", "press", {"entity_id": button})
    await device.wallbox.wait_for_call(action, 15, after=after)
    assert [a for a, _ in device.wallbox.received[after:]].count(action) == 1


async def test_entities_are_back_after_home_assistant_restarts(device: Scenario) -> None:
    """After a restart of Home Assistant every entity is back with the same id, none twice, none unavailable."""
    before = sorted((e["unique_id"], e["entity_id"]) for e in await device.registry_complete())
    await device.core.restart()
    after = sorted((e["unique_id"], e["entity_id"]) for e in await device.registry_complete())
    assert after == before
    power = await device.entity_id("power")
    await device.ha.wait_state(power, lambda s: s["state"] not in ("unavailable", "unknown"), timeout_s=30)


async def test_states_flow_again_after_the_broker_restarts(device: Scenario) -> None:
    """After the broker restarts, Home Assistant gets new values again."""
    duration = await device.entity_id("session_duration")
    await asyncio.to_thread(device.broker.restart)
    first = (await device.ha.wait_state(duration, lambda s: s["state"].isdigit(), timeout_s=30))["state"]
    later = await device.ha.wait_state(duration, lambda s: s["state"].isdigit() and s["state"] != first, timeout_s=40)
    assert int(later["state"]) > int(first)


async def test_stopped_addon_makes_entities_unavailable(device: Scenario) -> None:
    """When the add-on stops, Home Assistant shows its entities unavailable; they come back with it."""
    power, firmware = await device.entity_id("power"), await device.entity_id("firmware")
    assert device.app is not None
    await device.app.stop()
    gone = [await device.ha.wait_state(e, lambda s: s["state"] == "unavailable") for e in (power, firmware)]
    assert [state["state"] for state in gone] == ["unavailable", "unavailable"]
    await device.start_app()
    back = await device.ha.wait_state(firmware, lambda s: s["state"] == "01.20.06.71", timeout_s=20)
    assert back["state"] == "01.20.06.71"


async def test_removed_charger_loses_its_device(device: Scenario) -> None:
    """A charger taken out of the options has its device removed from Home Assistant."""
    second = f"DE*BMW*E{uuid.uuid4().hex[:10].upper()}"
    await device.start_app(chargers=(device.charger_id, second))
    await eventually(lambda: device.device(second), timeout=20, what="the second charger's device")
    await device.start_app()

    async def gone() -> bool:
        return await device.device(second) is None

    await eventually(gone, timeout=20, what="the removed charger's device gone")
    assert await device.device() is not None


async def test_install_on_the_update_entity_sends_update_firmware(device: Scenario) -> None:
    """An uploaded file is the update entity's latest version; install sends UpdateFirmware, the wallbox installs it."""
    assert device.app is not None
    assert device.wallbox is not None
    wallbox = device.wallbox
    name = "delta-01.20.07.00.bin"
    status, _ = await upload_firmware(device.app, os.urandom(50_000), name=name)
    assert status in (200, 201)
    update = await device.entity_id("firmware_update")
    offered = await device.ha.wait_state(update, lambda s: s["state"] == "on", timeout_s=20)
    assert offered["attributes"]["latest_version"] == name
    mark = len(wallbox.received)
    await device.ha.call_service("update", "install", {"entity_id": update})
    request = await wallbox.wait_for_call("UpdateFirmware", after=mark, timeout_s=10)
    assert request["firmware"]["location"].startswith("http")
    done = await device.ha.wait_state(update, lambda s: s["state"] == "off", timeout_s=20)
    assert (done["attributes"]["release_summary"], done["attributes"]["in_progress"]) == (f"{name}: Installed", False)
    assert len(wallbox.transfers.firmware or b"") == 50_000


@pytest_asyncio.fixture(loop_scope="module")
async def two_evses(
    core: HomeAssistantCore, mosquitto: Mosquitto, ha: HaClient, tmp_path: Path
) -> AsyncIterator[Scenario]:
    """This test's own scenario with a wallbox of two EVSEs (the simulator's dual-evse), the car at EVSE 1."""
    async with scenario(core, mosquitto, ha, tmp_path / "addon-data", personality=DUAL_EVSE) as setup:
        yield setup


def evse_entity_id(description: EntityDescription[Any]) -> str:
    """``sensor.bmw_wallbox_evse_<n>_...``: the device name and the EVSE sensor's name ("EVSE 2 power")."""
    return "sensor.bmw_wallbox_" + description.name.lower().replace(" ", "_")


async def test_each_evse_has_its_own_sensors_on_the_chargers_one_device(two_evses: Scenario) -> None:
    """Two EVSEs: each one's sensors of the model are on the charger's device with ids, units, classes; in the panel."""
    models = evse_models(2)
    assert {d.key for d in models} >= {"evse1_power", "evse2_power", "evse2_energy"}
    entries = {e["unique_id"].removeprefix(f"{two_evses.node}_"): e for e in await two_evses.registry_complete()}
    assert sorted(entries) == sorted(two_evses.keys)
    found = await two_evses.device()
    assert found is not None
    assert {e["device_id"] for e in entries.values()} == {found["id"]}
    assert {d.key: entries[d.key]["entity_id"] for d in models} == {d.key: evse_entity_id(d) for d in models}
    for d in models:
        state = await two_evses.ha.wait_state(evse_entity_id(d))
        expected = {
            "friendly_name": f"BMW Wallbox {d.name}",
            "unit_of_measurement": d.unit,
            "device_class": d.device_class,
            "state_class": d.state_class,
            "options": list(d.options) if d.options else None,
        }
        assert {name: state["attributes"].get(name) for name in expected} == expected
    power = (await two_evses.ha.wait_state("sensor.bmw_wallbox_evse_2_power"))["attributes"]
    assert (power["unit_of_measurement"], power["device_class"], power["state_class"]) == ("W", "power", "measurement")
    assert two_evses.app is not None
    app, registered = two_evses.app, sorted(e["entity_id"] for e in entries.values())

    def shown() -> list[str]:
        return sorted(dict(app.setup_facts().entity_ids).get(two_evses.charger_id, ()))

    await eventually(shown, until=lambda ids: ids == registered, what="the panel to show the registry's ids")


async def test_evse_2_charges_on_its_own_sensors_and_the_chargers_energy_is_the_sum(two_evses: Scenario) -> None:
    """Car moved to EVSE 2: its sensors show it charging, its energy rises (a statistic); Energy is both EVSEs' sum."""
    ha, wallbox = two_evses.ha, two_evses.wallbox
    assert wallbox is not None
    await ha.wait_state("sensor.bmw_wallbox_evse_1_power", lambda s: number(s) > 0, what="> 0 W", timeout_s=20)
    idle = await ha.wait_state("sensor.bmw_wallbox_evse_2_status", lambda s: s["state"] == "Available")
    assert idle["state"] == "Available"
    await wallbox.unplug(1)
    await wallbox.plug_in(2)
    await ha.wait_state("sensor.bmw_wallbox_evse_2_status", lambda s: s["state"] == "Occupied", timeout_s=20)
    await ha.wait_state("sensor.bmw_wallbox_evse_2_charging_state", lambda s: s["state"] == "Charging", timeout_s=20)
    power = await ha.wait_state("sensor.bmw_wallbox_evse_2_power", lambda s: number(s) > 0, what="> 0 W", timeout_s=20)
    assert float(power["state"]) > 0
    other = await ha.wait_state("sensor.bmw_wallbox_evse_1_power", lambda s: number(s) == 0, what="0 W", timeout_s=20)
    assert float(other["state"]) == 0
    first = number(await ha.wait_state("sensor.bmw_wallbox_evse_2_energy", lambda s: number(s) > 0))
    later = await ha.wait_state(
        "sensor.bmw_wallbox_evse_2_energy", lambda s: number(s) > first, what="to rise", timeout_s=30
    )
    assert later["attributes"]["state_class"] == "total_increasing"

    async def statistic() -> dict[str, Any] | None:
        items = await ha.ws_command({"type": "recorder/list_statistic_ids", "statistic_type": "sum"})
        return next((i for i in items if i["statistic_id"] == "sensor.bmw_wallbox_evse_2_energy"), None)

    listed = await eventually(statistic, timeout=20, what="EVSE 2's energy among the recorder statistics")
    assert (listed["has_sum"], listed["statistics_unit_of_measurement"]) == (True, "kWh")

    await wallbox.unplug(2)
    now = wallbox.clock.now_s()
    registers = [wallbox.evse(n).meter.energy_wh(now) / 1000 for n in (1, 2)]

    async def energies() -> list[float]:
        ids = ("energy", "evse_1_energy", "evse_2_energy")
        return [number(await ha.wait_state(f"sensor.bmw_wallbox_{key}")) for key in ids]

    total, evse1, evse2 = await eventually(
        energies,
        until=lambda kwh: (
            kwh[1:] == pytest.approx(registers, abs=0.0006) and kwh[0] == pytest.approx(sum(kwh[1:]), abs=0.0015)
        ),
        timeout=30,
        what=f"EVSE energies of {registers} kWh and the charger's their sum",
    )
    assert total == pytest.approx(evse1 + evse2, abs=0.0015)


async def test_evse_1s_switch_and_number_act_on_evse_1_alone(two_evses: Scenario) -> None:
    """EVSE 1's switch off pauses EVSE 1 (0 A there, the charger's switch stays on); its number sets it to 10 A."""
    ha, wallbox = two_evses.ha, two_evses.wallbox
    assert wallbox is not None
    controls = {c.key: c for c in evse_control_models(2)}
    assert {key: controls[key].name for key in ("evse1_limit", "evse1_charging_enabled")} == {
        "evse1_limit": "EVSE 1 current limit",
        "evse1_charging_enabled": "EVSE 1 charging enabled",
    }
    switch, slider = await two_evses.entity_id("evse1_charging_enabled"), await two_evses.entity_id("evse1_limit")
    assert (switch, slider) == ("switch.bmw_wallbox_evse_1_charging_enabled", "number.bmw_wallbox_evse_1_current_limit")
    await eventually(lambda: wallbox.evse(1).meter.current_a, until=lambda a: a > 0, what="EVSE 1 to charge")
    await ha.call_service("switch", "turn_off", {"entity_id": switch})
    await eventually(lambda: wallbox.evse(1).offered_current_a(), until=lambda a: a == 0, what="0 A at EVSE 1")
    await ha.wait_state(switch, lambda s: s["state"] == "off")
    await ha.wait_state(slider, lambda s: s["state"] == "0")
    charger_switch = await ha.wait_state(await two_evses.entity_id("charging_enabled"))
    assert charger_switch["state"] == "on"
    await ha.call_service("number", "set_value", {"entity_id": slider, "value": 10})
    await eventually(lambda: wallbox.evse(1).offered_current_a(), until=lambda a: a == 10, what="10 A at EVSE 1")
    await ha.wait_state(switch, lambda s: s["state"] == "on")
    shown = await ha.wait_state(slider, lambda s: s["state"] == "10")
    assert shown["attributes"]["max"] == MAX_CURRENT_A


def number(state: dict[str, Any]) -> float:
    """A state's value as a number; NaN for "unknown" or "unavailable" (which no comparison holds for)."""
    try:
        return float(state["state"])
    except ValueError:
        return float("nan")


@pytest_asyncio.fixture(loop_scope="module")
async def mqtt_site(core: HomeAssistantCore, mosquitto: Mosquitto, ha: HaClient, tmp_path: Path) -> AsyncIterator[Site]:
    """The site scenario of ``test_site_homeassistant`` over MQTT with this module's Core; its devices removed after."""
    assert core.token is not None
    onboarded = OnboardedCore(core=core, token=core.token, baseline=frozenset())
    try:
        async with running_site(onboarded, tmp_path, chargers=1, mqtt_url=mosquitto.url) as site:
            yield site
    finally:
        async with watching(mosquitto) as client:
            for node in ("bmw_wallbox-site", "bmw_wallbox_DE_BMW_ESITE0001"):
                await client.publish(f"homeassistant/device/{node}/config", "", retain=True)


async def test_mqtt_shows_the_site_device_and_each_chargers_budget(mqtt_site: Site, ha: HaClient) -> None:
    """MQTT: a site device with state, headroom, household, meter age and events; the charger's budget sensors."""
    await check_site_entities(mqtt_site)
    devices = await ha.ws_command({"type": "config/device_registry/list"})
    site_device = next(d for d in devices if ["mqtt", "bmw_wallbox-site"] in d["identifiers"])
    entries = await ha.ws_command({"type": "config/entity_registry/list"})
    on_site = sorted(e["entity_id"] for e in entries if e["device_id"] == site_device["id"])
    assert (site_device["name"], on_site) == (
        "BMW Wallbox Site",
        [f"{p}.bmw_wallbox_site_{k}" for p, k in (("event", "events"), *(("sensor", k) for k in SITE_KEYS))],
    )


async def test_mqtt_site_event_entity_and_bus_say_when_limiting_ends_and_starts(mqtt_site: Site) -> None:
    """MQTT: limiting_ended and limiting_started on the site's event entity and on the bus."""
    await check_limiting_events(mqtt_site, event_entity=True)


async def test_site_device_goes_when_the_site_block_does(
    mqtt_site: Site, core: HomeAssistantCore, mosquitto: Mosquitto, ha: HaClient, tmp_path: Path
) -> None:
    """An add-on started without a site block removes the site device it had published before."""

    async def site_device() -> dict[str, Any] | None:
        devices = await ha.ws_command({"type": "config/device_registry/list"})
        return next((d for d in devices if ["mqtt", "bmw_wallbox-site"] in d["identifiers"]), None)

    await eventually(site_device, timeout=30, what="the site device")
    await mqtt_site.app.stop()
    async with scenario(core, mosquitto, ha, tmp_path / "plain"):

        async def gone() -> bool:
            return await site_device() is None

        await eventually(gone, timeout=20, what="the site device removed")

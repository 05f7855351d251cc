"""MQTT discovery in a real Home Assistant Core 2025.4.4 with a real Mosquitto broker.

This module runs its own Home Assistant (fresh config dir, so its registries
hold only what these tests made), sets up its MQTT integration through the
config-flow API, and first runs the add-on without a broker (REST entities and
helpers, as before), then with the broker: the tests check from Home
Assistant's side what a user sees. They share one add-on and one simulated
wallbox and run in file order; the last ones restart Home Assistant and the
broker, stop the add-on and remove a charger.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bmw_wallbox.app import Application, Settings
from bmw_wallbox.homeassistant.entities import ENTITIES
from bmw_wallbox.homeassistant.mqtt_entities import CONTROLS
from bmw_wallbox.options import Options
from bmw_wallbox.simulator import WallboxSimulator

from ha_client import HaClient, add_mqtt_integration
from ha_fixtures import OnboardedCore, start_and_onboard
from ha_install import ensure_installed, ensure_mqtt_requirement
from ha_process import HomeAssistantCore, run_sync
from helpers import eventually, free_port
from mosquitto import PASSWORD, USER, Mosquitto

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHARGER_ID = "DE*BMW*EHAMQTT01"
SECOND_ID = "DE*BMW*EHAMQTT02"
NODE = "bmw_wallbox_DE_BMW_EHAMQTT01"
MAX_CURRENT_A = 16
TIME_SCALE = 10.0


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


@pytest.fixture(scope="module")
def broker() -> Iterator[Mosquitto]:
    """This module's own broker (it is restarted by a test)."""
    instance = Mosquitto()
    instance.start()
    yield instance
    instance.remove()


@dataclass
class Setup:
    """Home Assistant, the broker, the add-on on it, the wallbox, and a client."""

    core: HomeAssistantCore
    broker: Mosquitto
    ha: HaClient
    http: aiohttp.ClientSession
    data_dir: Path
    ocpp_port: int
    app: Application
    wallbox: WallboxSimulator
    wallbox_task: asyncio.Task[None]
    removed_by_migration: list[str]

    def settings(self, *, mqtt: bool, chargers: tuple[str, ...] = (CHARGER_ID,)) -> Settings:
        """The add-on's settings: with the broker (--mqtt-url) or without (REST)."""
        options = Options.model_validate(
            {"ssl": False, "chargers": [{"id": cid, "max_current": MAX_CURRENT_A} for cid in chargers]}
        )
        return Settings(
            options=options,
            data_dir=self.data_dir,
            host="127.0.0.1",
            ocpp_port=self.ocpp_port,
            panel_port=0,
            transfer_port=0,
            ha_url=self.core.url,
            ha_token=self.core.token,
            min_apply_interval_s=0.0,
            mqtt_url=self.broker.url if mqtt else None,
        )

    async def registry(self) -> list[dict[str, Any]]:
        """The entity registry entries of the add-on's MQTT entities."""
        entries = await self.ha.ws_command({"type": "config/entity_registry/list"})
        return [e for e in entries if e["platform"] == "mqtt" and str(e["unique_id"]).startswith("bmw_wallbox_")]

    async def device(self, charger_id: str = CHARGER_ID) -> dict[str, Any] | None:
        """The device registry entry of a charger, or None."""
        devices = await self.ha.ws_command({"type": "config/device_registry/list"})
        return next((d for d in devices if ["mqtt", f"bmw_wallbox_{charger_id}"] in d["identifiers"]), None)

    async def entity_id(self, key: str) -> str:
        """The entity id Home Assistant gave one component of the charger."""
        entries = await self.registry()
        return next(e["entity_id"] for e in entries if e["unique_id"] == f"{NODE}_{key}")

    async def profile_with(self, limit_a: float, after: int, *, timeout_s: float = 10.0) -> list[float]:
        """Wait for a SetChargingProfile of ``limit_a`` A after ``received[after]``; return the limits sent since."""

        def seen() -> list[float]:
            return [
                float(p["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"])
                for a, p in self.wallbox.received[after:]
                if a == "SetChargingProfile"
            ]

        await eventually(lambda: limit_a in seen(), timeout=timeout_s, what=f"a {limit_a:g} A profile at the charger")
        return seen()

    async def restart_app(self, *, chargers: tuple[str, ...] = (CHARGER_ID,)) -> None:
        """Stop the add-on and start it again (same data dir) with these chargers; the wallbox reconnects."""
        await self.app.stop()
        self.app = Application(self.settings(mqtt=True, chargers=chargers))
        await self.app.start()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def setup(
    core: HomeAssistantCore, broker: Mosquitto, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Setup]:
    """First the add-on without a broker (REST states and helpers), then with it: the migration a user makes."""
    assert core.token is not None
    async with aiohttp.ClientSession() as http:
        ha = HaClient(http, core.url, core.token)
        await add_mqtt_integration(http, core.url, core.token, port=broker.port, username=USER, password=PASSWORD)
        data_dir = tmp_path_factory.mktemp("addon-data")
        ocpp_port = free_port()  # fixed, so the wallbox finds the add-on again after a restart
        placeholder = Setup(core, broker, ha, http, data_dir, ocpp_port, None, None, None, [])  # type: ignore[arg-type]
        rest_app = Application(placeholder.settings(mqtt=False))
        await rest_app.start()
        await ha.wait_state("input_button.bmw_wallbox_pause", timeout_s=30)
        await ha.wait_state("sensor.bmw_wallbox_power", timeout_s=30)
        await rest_app.stop()
        app = Application(placeholder.settings(mqtt=True))
        await app.start()
        wallbox = WallboxSimulator(f"ws://127.0.0.1:{app.ocpp_port}", CHARGER_ID, time_scale=TIME_SCALE, reboot_s=3)
        task = asyncio.create_task(wallbox.run())
        setup = Setup(core, broker, ha, http, data_dir, ocpp_port, app, wallbox, task, [])
        try:
            await wallbox.wait_connected(10)
            await wallbox.plug_in()
            await eventually(
                lambda: app.home_assistant is not None and app.home_assistant.rest_cleared.is_set(),
                timeout=30,
                what="the REST states and helpers removed",
            )
            for entry in await registry_complete(setup):  # Home Assistant subscribes a few seconds after discovery
                await ha.wait_state(entry["entity_id"], lambda s: s["state"] != "unavailable", timeout_s=30)
            yield setup
        finally:
            await wallbox.stop()
            await task
            await setup.app.stop()


async def registry_complete(setup: Setup) -> list[dict[str, Any]]:
    """The registry entries once every component is registered."""
    expected = len(ENTITIES) + len(CONTROLS) + 1
    entries: list[dict[str, Any]] = []

    async def complete() -> bool:
        nonlocal entries
        entries = await setup.registry()
        return len(entries) >= expected

    try:
        await eventually(complete, timeout=30, what=f"{expected} entities in the registry")
    except AssertionError as err:
        raise AssertionError(
            f"{err}: {len(entries)} of {expected} registered: {sorted(e['unique_id'] for e in entries)}\n"
            f"{setup.core.log_tail()}"
        ) from None
    return entries


async def test_charger_is_one_device_with_maker_model_and_firmware(setup: Setup) -> None:
    """The device registry has the charger with manufacturer, model, serial, firmware and the panel link."""
    await registry_complete(setup)
    device = await setup.device()
    assert device is not None
    assert (device["name"], device["manufacturer"], device["model"], device["sw_version"], device["serial_number"]) == (
        "BMW Wallbox",
        "Delta Electronics",
        "EIAW-E22KTSE6B04",
        "01.20.06.71",
        "DE2201A00042",
    )
    assert device["configuration_url"] == f"http://127.0.0.1:{setup.app.panel_port}/"


async def test_every_entity_is_registered_once_with_its_unique_id(setup: Setup) -> None:
    """Every component is in the entity registry with its unique id, on the charger's device, and none twice."""
    entries = await registry_complete(setup)
    device = await setup.device()
    assert device is not None
    keys = [d.key for d in ENTITIES] + [c.key for c in CONTROLS] + ["events"]
    assert sorted(e["unique_id"] for e in entries) == sorted(f"{NODE}_{key}" for key in keys)
    assert {e["device_id"] for e in entries} == {device["id"]}
    assert [e["entity_id"] for e in entries if e["entity_id"].endswith("_2")] == []


async def test_migration_removed_the_rest_states_and_helpers(setup: Setup) -> None:
    """The helpers of the REST mode are gone, and the MQTT sensors took over the REST entity ids."""
    await registry_complete(setup)
    numbers = await setup.ha.ws_command({"type": "input_number/list"})
    buttons = await setup.ha.ws_command({"type": "input_button/list"})
    assert (numbers, buttons) == ([], [])
    assert await setup.entity_id("power") == "sensor.bmw_wallbox_power"


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
async def test_entity_state_carries_unit_and_classes(setup: Setup, key: str, attributes: dict[str, Any]) -> None:
    """The entity's state has the unit, device class and state class the statistics and Energy dashboard need."""
    await registry_complete(setup)
    state = await setup.ha.wait_state(
        await setup.entity_id(key), lambda s: s["state"] not in ("unknown",), timeout_s=20
    )
    assert {name: state["attributes"].get(name) for name in attributes} == attributes


async def test_technical_entities_are_diagnostic(setup: Setup) -> None:
    """Firmware, last seen, last command and the applied limit are diagnostic entities."""
    entries = {e["unique_id"]: e for e in await registry_complete(setup)}
    categories = {key: entries[f"{NODE}_{key}"]["entity_category"] for key in ("firmware", "last_seen", "power")}
    assert categories == {"firmware": "diagnostic", "last_seen": "diagnostic", "power": None}


async def test_energy_sensor_is_a_statistic(setup: Setup) -> None:
    """The recorder lists the lifetime energy sensor as a statistic with a sum in kWh."""
    await registry_complete(setup)
    energy = await setup.entity_id("energy")

    async def listed() -> dict[str, Any] | None:
        items = await setup.ha.ws_command({"type": "recorder/list_statistic_ids", "statistic_type": "sum"})
        return next((item for item in items if item["statistic_id"] == energy), None)

    await eventually(lambda: listed(), timeout=20, what="the energy sensor among the recorder statistics")
    item = await listed()
    assert item is not None
    assert (item["has_sum"], item["statistics_unit_of_measurement"]) == (True, "kWh")


async def test_panel_shows_the_entity_ids_home_assistant_gave(setup: Setup) -> None:
    """The setup report lists the charger's entity ids as Home Assistant's entity registry has them."""
    registered = sorted(e["entity_id"] for e in await registry_complete(setup))

    def shown() -> list[str]:
        return sorted(dict(setup.app.setup_facts().entity_ids).get(CHARGER_ID, ()))

    await eventually(lambda: shown() == registered, timeout=15, what="the panel to show the registry's entity ids")
    assert "switch.bmw_wallbox_charging_enabled" in shown()


async def test_switch_off_sends_a_zero_amp_profile(setup: Setup) -> None:
    """Turning the charging switch off in Home Assistant pauses the wallbox with a 0 A profile."""
    switch = await setup.entity_id("charging_enabled")
    after = len(setup.wallbox.received)
    await setup.ha.call_service("switch", "turn_off", {"entity_id": switch})
    assert (await setup.profile_with(0, after))[-1] == 0.0
    shown = await setup.ha.wait_state(switch, lambda s: s["state"] == "off")
    assert shown["state"] == "off"


async def test_switch_on_resumes_with_the_limit(setup: Setup) -> None:
    """Turning the charging switch on sends the limit again."""
    switch = await setup.entity_id("charging_enabled")
    after = len(setup.wallbox.received)
    await setup.ha.call_service("switch", "turn_on", {"entity_id": switch})
    assert (await setup.profile_with(MAX_CURRENT_A, after))[-1] == float(MAX_CURRENT_A)
    shown = await setup.ha.wait_state(switch, lambda s: s["state"] == "on")
    assert shown["state"] == "on"


async def test_number_sets_the_limit(setup: Setup) -> None:
    """Setting the current limit number sends that limit to the wallbox, and the number shows it."""
    number = await setup.entity_id("limit")
    after = len(setup.wallbox.received)
    await setup.ha.call_service("number", "set_value", {"entity_id": number, "value": 10})
    assert (await setup.profile_with(10, after))[-1] == 10.0
    shown = await setup.ha.wait_state(number, lambda s: s["state"] == "10")
    assert shown["state"] == "10"


async def test_command_result_is_an_event_of_the_event_entity(setup: Setup) -> None:
    """The event entity shows the outcome of the last command."""
    event = await setup.entity_id("events")
    number = await setup.entity_id("limit")
    await setup.ha.call_service("number", "set_value", {"entity_id": number, "value": 12})
    state = await setup.ha.wait_state(
        event,
        lambda s: (
            s["attributes"].get("event_type") == "command_result" and s["attributes"].get("applied_limit_a") == 12
        ),
    )
    assert state["attributes"]["outcome"] == "accepted"


@pytest.mark.parametrize(("key", "action"), [("start", "SetChargingProfile"), ("reboot", "Reset")])
async def test_button_press_reaches_the_charger(setup: Setup, key: str, action: str) -> None:
    """Pressing a button entity sends its request to the wallbox."""
    button = await setup.entity_id(key)
    after = len(setup.wallbox.received)
    await setup.ha.call_service("button", "press", {"entity_id": button})
    await setup.wallbox.wait_for_call(action, 15, after=after)
    assert [a for a, _ in setup.wallbox.received[after:]].count(action) == 1
    await setup.wallbox.wait_connected(60)


async def test_entities_are_back_after_home_assistant_restarts(setup: Setup) -> None:
    """After a restart of Home Assistant every entity is back with the same id, none twice, none unavailable."""
    before = sorted((e["unique_id"], e["entity_id"]) for e in await registry_complete(setup))
    await setup.core.restart()
    after = sorted((e["unique_id"], e["entity_id"]) for e in await registry_complete(setup))
    assert after == before
    power = await setup.entity_id("power")
    await setup.ha.wait_state(power, lambda s: s["state"] not in ("unavailable", "unknown"), timeout_s=30)


async def test_states_flow_again_after_the_broker_restarts(setup: Setup) -> None:
    """After the broker restarts, Home Assistant gets new values again."""
    duration = await setup.entity_id("session_duration")
    await asyncio.to_thread(setup.broker.restart)
    first = (await setup.ha.wait_state(duration, lambda s: s["state"].isdigit(), timeout_s=30))["state"]
    later = await setup.ha.wait_state(duration, lambda s: s["state"].isdigit() and s["state"] != first, timeout_s=40)
    assert int(later["state"]) > int(first)


async def test_stopped_addon_makes_entities_unavailable(setup: Setup) -> None:
    """When the add-on stops, Home Assistant shows its entities unavailable; they come back with it."""
    power = await setup.entity_id("power")
    firmware = await setup.entity_id("firmware")
    await setup.app.stop()
    gone = [await setup.ha.wait_state(e, lambda s: s["state"] == "unavailable") for e in (power, firmware)]
    assert [state["state"] for state in gone] == ["unavailable", "unavailable"]
    await setup.restart_app()
    back = await setup.ha.wait_state(firmware, lambda s: s["state"] == "01.20.06.71", timeout_s=20)
    assert back["state"] == "01.20.06.71"


async def test_removed_charger_loses_its_device(setup: Setup) -> None:
    """A charger taken out of the options has its device removed from Home Assistant."""
    await setup.restart_app(chargers=(CHARGER_ID, SECOND_ID))
    await eventually(lambda: setup.device(SECOND_ID), timeout=20, what="the second charger's device")
    await setup.restart_app(chargers=(CHARGER_ID,))

    async def gone() -> bool:
        return await setup.device(SECOND_ID) is None

    await eventually(gone, timeout=20, what="the removed charger's device gone")
    assert await setup.device(CHARGER_ID) is not None

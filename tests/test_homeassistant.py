"""The add-on against a real Home Assistant Core 2025.4.4 with the wallbox simulator charging a car.

One Home Assistant runs for the whole test session and this module shares one
add-on and one simulated wallbox with a car plugged in (fixtures in
``ha_core``). Tests that change the charging state set what they need first.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ha_core import Scenario

pytest_plugins = ["ha_core"]
pytestmark = pytest.mark.asyncio(loop_scope="module")

#: What the scenario in ``ha_core`` configures: one charger with the default name.
CHARGER_ID = "DE*BMW*EHA00001"
SLUG = "bmw_wallbox"
MAX_CURRENT_A = 32


def is_number(check: Any = lambda v: True) -> Any:
    """A state check: a number for which ``check`` holds."""

    def holds(state: dict[str, Any]) -> bool:
        try:
            return bool(check(float(state["state"])))
        except ValueError:
            return False

    return holds


def equals(value: str) -> Any:
    """A state check: exactly ``value``."""
    return lambda state: state["state"] == value


async def next_result_after(results: asyncio.Queue[dict[str, Any]], moment: datetime) -> dict[str, Any]:
    """The data of the first command result event of a command run after ``moment`` (earlier ones are skipped)."""
    async with asyncio.timeout(10):
        while True:
            data: dict[str, Any] = (await results.get())["data"]
            if datetime.fromisoformat(data["at"]) >= moment:
                return data


def is_timestamp(state: dict[str, Any]) -> bool:
    """A state check: an ISO 8601 time with a zone."""
    try:
        return datetime.fromisoformat(state["state"]).tzinfo is not None
    except ValueError:
        return False


CONNECTOR_STATUSES = ["Available", "Occupied", "Reserved", "Unavailable", "Faulted"]
CHARGING_STATES = ["Charging", "EVConnected", "SuspendedEV", "SuspendedEVSE", "Idle"]
MEASUREMENT = {"state_class": "measurement"}

#: entity id -> (state check, attributes it must carry): written out here, not derived from the descriptions.
EXPECTED: dict[str, tuple[Any, dict[str, Any]]] = {
    f"sensor.{SLUG}_power": (
        is_number(lambda w: 10_000 < w < 12_000),
        {"unit_of_measurement": "W", "device_class": "power", **MEASUREMENT, "friendly_name": "BMW Wallbox Power"},
    ),
    f"sensor.{SLUG}_energy": (
        is_number(lambda kwh: kwh >= 1234.567),
        {"unit_of_measurement": "kWh", "device_class": "energy", "state_class": "total_increasing"},
    ),
    f"sensor.{SLUG}_session_energy": (
        is_number(lambda kwh: kwh >= 0),
        {"unit_of_measurement": "kWh", "device_class": "energy", "running": True},
    ),
    f"sensor.{SLUG}_current": (
        is_number(lambda a: 15 < a < 17),
        {"unit_of_measurement": "A", "device_class": "current", **MEASUREMENT},
    ),
    f"sensor.{SLUG}_voltage": (
        is_number(lambda v: 220 < v < 240),
        {"unit_of_measurement": "V", "device_class": "voltage", **MEASUREMENT},
    ),
    f"sensor.{SLUG}_status": (equals("Occupied"), {"device_class": "enum", "options": CONNECTOR_STATUSES}),
    f"sensor.{SLUG}_charging_state": (equals("Charging"), {"device_class": "enum", "options": CHARGING_STATES}),
    f"sensor.{SLUG}_current_limit": (
        is_number(lambda a: a == MAX_CURRENT_A),
        {"unit_of_measurement": "A", "device_class": "current", "desired_limit_a": MAX_CURRENT_A, "paused": False},
    ),
    f"sensor.{SLUG}_session_duration": (
        is_number(lambda s: s >= 0),
        {"unit_of_measurement": "s", "device_class": "duration"},
    ),
    f"sensor.{SLUG}_last_seen": (is_timestamp, {"device_class": "timestamp"}),
    f"sensor.{SLUG}_firmware": (equals("01.20.06.71"), {"vendor": "Delta Electronics", "model": "EIAW-E22KTSE6B04"}),
    f"binary_sensor.{SLUG}_connected": (equals("on"), {"device_class": "connectivity", "charger_id": CHARGER_ID}),
    f"binary_sensor.{SLUG}_charging": (equals("on"), {"device_class": "battery_charging"}),
    f"binary_sensor.{SLUG}_limit_in_sync": (equals("on"), {"friendly_name": "BMW Wallbox Limit in sync"}),
    f"input_number.{SLUG}_current_limit": (
        is_number(lambda a: a == MAX_CURRENT_A),
        {"min": 0.0, "max": float(MAX_CURRENT_A), "step": 1.0, "unit_of_measurement": "A", "mode": "slider"},
    ),
    **{
        f"input_button.{SLUG}_{key}": (lambda s: True, {"friendly_name": f"BMW Wallbox {key.title()}"})
        for key in ("start", "pause", "resume", "stop", "reset")
    },
}
MEASUREMENTS = [
    f"sensor.{SLUG}_{key}" for key in ("power", "energy", "session_energy", "current", "voltage", "current_limit")
]


@pytest.mark.parametrize("entity_id", list(EXPECTED))
async def test_entity_has_its_state_and_attributes(scenario: Scenario, entity_id: str) -> None:
    """Every entity appears with the right state, unit, device class, state class and details."""
    await scenario.ready()
    check, attributes = EXPECTED[entity_id]
    state = await scenario.ha.wait_state(entity_id, check, timeout_s=15)
    assert {key: state["attributes"].get(key) for key in attributes} == attributes


async def test_last_command_entity_shows_the_latest_outcome(scenario: Scenario) -> None:
    """The last-command sensor shows the outcome, command and detail of the latest command."""
    await scenario.ready()
    await scenario.app.controller.set_current_limit(CHARGER_ID, 20)
    state = await scenario.ha.wait_state(
        f"sensor.{SLUG}_last_command",
        lambda s: s["state"] == "accepted" and "20 A" in s["attributes"].get("detail", ""),
        timeout_s=15,
    )
    assert (state["attributes"]["device_class"], state["attributes"]["command"]) == ("enum", "set_current_limit")


async def test_energy_sensor_is_a_statistic(scenario: Scenario) -> None:
    """Home Assistant's recorder lists the energy sensor as a statistic with a sum in kWh."""
    await scenario.ready()
    listed = await scenario.ha.ws_command({"type": "recorder/list_statistic_ids", "statistic_type": "sum"})
    energy = next(item for item in listed if item["statistic_id"] == f"sensor.{SLUG}_energy")
    assert (energy["has_sum"], energy["statistics_unit_of_measurement"], energy["unit_class"]) == (
        True,
        "kWh",
        "energy",
    )


async def test_pause_button_sends_a_zero_amp_profile(scenario: Scenario) -> None:
    """Pressing the pause helper reaches the wallbox as a 0 A charging profile."""
    await scenario.ready()
    after = len(scenario.wallbox.received)
    await scenario.ha.call_service("input_button", "press", {"entity_id": f"input_button.{SLUG}_pause"})
    await scenario.profile_with(0, after)


async def test_resume_button_restores_the_limit(scenario: Scenario) -> None:
    """Pressing the resume helper after a pause sends the limit again."""
    await scenario.ready()
    await scenario.app.controller.pause(CHARGER_ID)
    after = len(scenario.wallbox.received)
    await scenario.ha.call_service("input_button", "press", {"entity_id": f"input_button.{SLUG}_resume"})
    await scenario.profile_with(MAX_CURRENT_A, after)


async def test_command_event_sends_a_zero_amp_profile(scenario: Scenario) -> None:
    """A bmw_wallbox_command event with action pause reaches the wallbox as a 0 A charging profile."""
    await scenario.ready()
    after = len(scenario.wallbox.received)
    await scenario.ha.fire_event("bmw_wallbox_command", {"action": "pause"})
    await scenario.profile_with(0, after)


async def test_command_event_answers_with_a_result_event(scenario: Scenario) -> None:
    """A command event is answered by a bmw_wallbox_command_result event with the honest outcome."""
    await scenario.ready()
    async with scenario.ha.events("bmw_wallbox_command_result") as results:
        fired = datetime.now(UTC)
        await scenario.ha.fire_event(
            "bmw_wallbox_command", {"action": "set_current_limit", "amps": 10, "charger": CHARGER_ID}
        )
        data = await next_result_after(results, fired)
    assert (data["charger"], data["command"], data["outcome"], data["applied_limit_a"]) == (
        CHARGER_ID,
        "set_current_limit",
        "accepted",
        10,
    )


async def test_invalid_command_event_is_answered_invalid(scenario: Scenario) -> None:
    """A command event with an unknown action is answered with outcome invalid and nothing is sent."""
    await scenario.ready()
    async with scenario.ha.events("bmw_wallbox_command_result") as results:
        fired = datetime.now(UTC)
        await scenario.ha.fire_event("bmw_wallbox_command", {"action": "explode"})
        data = await next_result_after(results, fired)
    assert (data["command"], data["outcome"]) == ("command", "invalid")


async def test_slider_follows_a_limit_set_through_the_json_api(scenario: Scenario) -> None:
    """PUT /api/chargers/{id}/current_limit moves the input_number slider to the new limit."""
    await scenario.ready()
    await scenario.api_put(f"/api/chargers/{CHARGER_ID.replace('*', '%2A')}/current_limit", {"amps": 10})
    await scenario.ha.wait_state(f"input_number.{SLUG}_current_limit", is_number(lambda a: a == 10))


async def test_slider_shows_zero_while_paused(scenario: Scenario) -> None:
    """Pausing from elsewhere moves the slider to 0."""
    await scenario.ready()
    await scenario.app.controller.pause(CHARGER_ID)
    await scenario.ha.wait_state(f"input_number.{SLUG}_current_limit", is_number(lambda a: a == 0))


async def test_slider_sets_the_limit(scenario: Scenario) -> None:
    """Moving the slider sends that limit to the wallbox."""
    await scenario.ready()
    after = len(scenario.wallbox.received)
    await scenario.ha.call_service(
        "input_number", "set_value", {"entity_id": f"input_number.{SLUG}_current_limit", "value": 12}
    )
    await scenario.profile_with(12, after)


async def test_slider_below_six_amps_becomes_six(scenario: Scenario) -> None:
    """A slider value of 1..5 A is clamped to 6 A, and the slider moves to 6."""
    await scenario.ready()
    after = len(scenario.wallbox.received)
    await scenario.ha.call_service(
        "input_number", "set_value", {"entity_id": f"input_number.{SLUG}_current_limit", "value": 3}
    )
    await scenario.profile_with(6, after)
    await scenario.ha.wait_state(f"input_number.{SLUG}_current_limit", is_number(lambda a: a == 6))


async def test_helpers_are_created_once(scenario: Scenario) -> None:
    """Setting up again (as at every connect and add-on start) reuses the helpers instead of adding more."""
    await scenario.ready()
    bridge = scenario.app.home_assistant
    assert bridge is not None
    await bridge.controls.setup()
    numbers = await scenario.ha.ws_command({"type": "input_number/list"})
    buttons = await scenario.ha.ws_command({"type": "input_button/list"})
    ours = sorted(item["id"] for item in numbers + buttons if item["id"].startswith(SLUG))
    assert ours == sorted(f"{SLUG}_{key}" for key in ("current_limit", "start", "pause", "resume", "stop", "reset"))


async def test_slider_range_follows_max_current_and_keeps_the_users_name(scenario: Scenario) -> None:
    """A slider whose maximum differs from max_current is corrected at the next set-up; its name stays."""
    await scenario.ready()
    slider_id = f"{SLUG}_current_limit"
    await scenario.ha.ws_command(
        {"type": "input_number/update", "input_number_id": slider_id, "name": "My limit", "min": 0, "max": 20}
    )
    bridge = scenario.app.home_assistant
    assert bridge is not None
    await bridge.controls.setup()
    numbers = await scenario.ha.ws_command({"type": "input_number/list"})
    slider = next(item for item in numbers if item["id"] == slider_id)
    assert (slider["name"], slider["min"], slider["max"]) == ("My limit", 0, MAX_CURRENT_A)


async def test_offline_charger_makes_measurements_unavailable(scenario: Scenario) -> None:
    """While the wallbox is disconnected its measurements are unavailable, not stale numbers."""
    await scenario.ready()
    await scenario.wallbox.drop_connection(offline_s=5 * scenario.time_scale)
    try:
        await scenario.ha.wait_state(f"binary_sensor.{SLUG}_connected", equals("off"))
        for entity_id in MEASUREMENTS:
            await scenario.ha.wait_state(entity_id, equals("unavailable"), timeout_s=3)
    finally:
        await scenario.wallbox.wait_connected(60)


async def test_session_end_and_start_fire_events(scenario: Scenario) -> None:
    """Unplugging fires bmw_wallbox_session_ended with energy and duration; plugging in fires session_started."""
    await scenario.ready()
    evse = scenario.app.hub.chargers[CHARGER_ID].main_evse
    async with asyncio.timeout(20):  # let the session run a few (simulated) seconds, so its duration is not 0
        while not (
            evse.transaction is not None
            and evse.meter.updated_at is not None
            and (evse.meter.updated_at - evse.transaction.started_at).total_seconds() >= 2
        ):
            await asyncio.sleep(0.05)
    async with (
        scenario.ha.events("bmw_wallbox_session_ended") as ended,
        scenario.ha.events("bmw_wallbox_session_started") as started,
    ):
        await scenario.wallbox.unplug()
        async with asyncio.timeout(10):
            end = (await ended.get())["data"]
        await scenario.wallbox.plug_in()
        async with asyncio.timeout(10):
            start = (await started.get())["data"]
            while start["transaction_id"] == end["transaction_id"]:  # the ended session's own start, fired late
                start = (await started.get())["data"]
    assert (end["charger"], end["energy_kwh"] > 0, end["duration_s"] > 0) == (CHARGER_ID, True, True)
    assert (start["charger"], start["transaction_id"] != end["transaction_id"]) == (CHARGER_ID, True)


async def test_entities_are_back_within_10_s_after_a_restart(scenario: Scenario) -> None:
    """After Home Assistant restarts, every entity is back within 10 s of its API answering."""
    await scenario.ready()
    await asyncio.to_thread(scenario.core.restart)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for entity_id in EXPECTED:
        await scenario.ha.wait_state(
            entity_id, lambda s: s["state"] != "unavailable", timeout_s=max(0.1, 10 - (loop.time() - started))
        )
    assert loop.time() - started < 10


async def test_pause_button_works_after_a_restart(scenario: Scenario) -> None:
    """After a Home Assistant restart the helpers still control the wallbox."""
    await scenario.ready()
    after = len(scenario.wallbox.received)
    await scenario.ha.call_service("input_button", "press", {"entity_id": f"input_button.{SLUG}_pause"})
    await scenario.profile_with(0, after)

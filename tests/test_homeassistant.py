"""The add-on against a real Home Assistant Core 2025.4.4 with the wallbox simulator charging a car.

One Core runs for the whole session; every test gets Core back at its state
after onboarding, its own add-on and its own simulated wallbox charging a car
at the full limit (the ``charging`` fixture of ``ha_fixtures``), so a test
that fails leaves nothing behind for the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pytest

from helpers import eventually

if TYPE_CHECKING:
    from ha_fixtures import Scenario

pytest_plugins = ["ha_fixtures"]

#: What the ``charging`` fixture configures: one charger with the default name.
CHARGER_ID = "DE*BMW*EHA00001"
SLUG = "bmw_wallbox"
MAX_CURRENT_A = 32
SLIDER = f"input_number.{SLUG}_current_limit"


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


def is_timestamp(state: dict[str, Any]) -> bool:
    """A state check: an ISO 8601 time with a zone."""
    try:
        return datetime.fromisoformat(state["state"]).tzinfo is not None
    except ValueError:
        return False


async def next_event(
    queue: asyncio.Queue[dict[str, Any]], *, what: str, where: Any = lambda data: True, timeout_s: float = 10.0
) -> dict[str, Any]:
    """The data of the next event in ``queue`` for which ``where(data)`` holds; fails naming ``what``."""
    try:
        async with asyncio.timeout(timeout_s):
            while not where(data := (await queue.get())["data"]):
                pass
    except TimeoutError:
        raise AssertionError(f"no {what} within {timeout_s:g} s") from None
    return data


def metered_for(snapshot: dict[str, Any]) -> timedelta:
    """How long into the running session the add-on's latest meter value is (zero without one)."""
    started, metered = snapshot["session_started_at"], snapshot["meter_updated_at"]
    if started is None or metered is None:
        return timedelta(0)
    return datetime.fromisoformat(metered) - datetime.fromisoformat(started)


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
    f"sensor.{SLUG}_applied_current_limit": (
        is_number(lambda a: a == MAX_CURRENT_A),
        {"unit_of_measurement": "A", "device_class": "current", "desired_limit_a": MAX_CURRENT_A, "paused": False},
    ),
    f"sensor.{SLUG}_session_duration": (
        is_number(lambda s: s >= 0),
        {"unit_of_measurement": "s", "device_class": "duration"},
    ),
    f"sensor.{SLUG}_last_seen": (is_timestamp, {"device_class": "timestamp"}),
    f"sensor.{SLUG}_firmware": (equals("01.20.06.71"), {"vendor": "Delta Electronics", "model": "EIAW-E22KTSE6B04"}),
    f"sensor.{SLUG}_last_token": (equals("no token"), {"running": True, "friendly_name": "BMW Wallbox Last token"}),
    f"binary_sensor.{SLUG}_connected": (equals("on"), {"device_class": "connectivity", "charger_id": CHARGER_ID}),
    f"binary_sensor.{SLUG}_charging": (equals("on"), {"device_class": "battery_charging"}),
    f"binary_sensor.{SLUG}_limit_in_sync": (equals("on"), {"friendly_name": "BMW Wallbox Limit in sync"}),
    f"sensor.{SLUG}_round_trip": (
        is_number(lambda ms: 0 <= ms < 1000),
        {"unit_of_measurement": "ms", "device_class": "duration", **MEASUREMENT},
    ),
    f"sensor.{SLUG}_reconnects_24h": (equals("0"), {"friendly_name": "BMW Wallbox Reconnects 24h", **MEASUREMENT}),
    f"sensor.{SLUG}_boot_reason": (equals("PowerUp"), {"friendly_name": "BMW Wallbox Boot reason"}),
    f"sensor.{SLUG}_connected_since": (is_timestamp, {"device_class": "timestamp"}),
    SLIDER: (
        is_number(lambda a: a == MAX_CURRENT_A),
        {"min": 0.0, "max": float(MAX_CURRENT_A), "step": 1.0, "unit_of_measurement": "A", "mode": "slider"},
    ),
    **{
        f"input_button.{SLUG}_{key}": (lambda s: True, {"friendly_name": f"BMW Wallbox {key.title()}"})
        for key in ("start", "pause", "resume", "stop", "reboot")
    },
}
MEASUREMENTS = [
    f"sensor.{SLUG}_{key}"
    for key in ("power", "energy", "session_energy", "current", "voltage", "applied_current_limit")
]


# --- entities --------------------------------------------------------------------------------------


def settled(state: dict[str, Any]) -> bool:
    """A state check: a value, not ``unknown`` or ``unavailable`` (a button never pressed is ``unknown``)."""
    return state["entity_id"].startswith("input_button.") or state["state"] not in ("unknown", "unavailable")


@pytest.fixture(scope="module")
def shown(look_at_charging: Any) -> Mapping[str, dict[str, Any]]:
    """What Core shows for every expected entity once each has a value, looked at once (the tests only read it)."""

    async def look(charging: Scenario) -> dict[str, dict[str, Any]]:
        return {
            entity_id: await charging.ha.wait_state(entity_id, settled, what="to have a value", timeout_s=15)
            for entity_id in EXPECTED
        }

    return MappingProxyType(look_at_charging(look))


@pytest.mark.parametrize("entity_id", list(EXPECTED))
def test_entity_has_its_state_and_attributes(shown: Mapping[str, dict[str, Any]], entity_id: str) -> None:
    """Every entity appears with the right state, unit, device class, state class and details."""
    check, attributes = EXPECTED[entity_id]
    state = shown[entity_id]
    assert check(state), state["state"]
    assert {key: state["attributes"].get(key) for key in attributes} == attributes


async def test_without_a_site_block_there_is_no_site_device_and_no_budget_sensor(charging: Scenario) -> None:
    """No site block: neither the site's sensors nor the charger's budget sensors appear."""
    await charging.ha.wait_state(f"sensor.{SLUG}_round_trip", is_number(), what="to have a value")
    ids = await charging.ha.entity_ids()
    assert [
        e for e in ids if e.startswith("sensor.bmw_wallbox_site") or e.endswith(("_budget_limit", "_limited_by"))
    ] == []


async def test_reconnects_count_a_dropped_connection(charging: Scenario) -> None:
    """A connection that drops and comes back counts as one reconnect in 24 h."""
    await charging.wallbox.drop_connection()
    await charging.wallbox.wait_connected(15)
    await charging.ha.wait_state(f"sensor.{SLUG}_reconnects_24h", equals("1"), timeout_s=15)


async def test_last_command_entity_shows_the_latest_outcome(charging: Scenario) -> None:
    """The last-command sensor shows the outcome, command and detail of the latest command."""
    await charging.api_put("/current_limit", {"amps": 20})
    state = await charging.ha.wait_state(
        f"sensor.{SLUG}_last_command",
        lambda s: "20 A" in s["attributes"].get("detail", ""),
        what="to describe the 20 A command",
        timeout_s=15,
    )
    attributes = state["attributes"]
    assert (state["state"], attributes["device_class"], attributes["command"]) == (
        "accepted",
        "enum",
        "set_current_limit",
    )


async def test_energy_sensor_is_a_statistic(charging: Scenario) -> None:
    """Home Assistant's recorder lists the energy sensor as a statistic with a sum in kWh."""
    await charging.ha.wait_state(f"sensor.{SLUG}_energy", is_number(), what="to show a number")
    listed = await charging.ha.ws_command({"type": "recorder/list_statistic_ids", "statistic_type": "sum"})
    energy = next(item for item in listed if item["statistic_id"] == f"sensor.{SLUG}_energy")
    assert (energy["has_sum"], energy["statistics_unit_of_measurement"], energy["unit_class"]) == (
        True,
        "kWh",
        "energy",
    )


async def test_offline_charger_makes_measurements_unavailable(charging: Scenario) -> None:
    """While the wallbox is disconnected its measurements are unavailable, not stale numbers."""
    await charging.wallbox.drop_connection(offline_s=60 * charging.time_scale)
    await charging.ha.wait_state(f"binary_sensor.{SLUG}_connected", equals("off"), what="to turn off")
    shown = {
        entity_id: (await charging.ha.wait_state(entity_id, lambda s: not is_number()(s), what="to drop its number"))
        for entity_id in MEASUREMENTS
    }
    assert {entity_id: state["state"] for entity_id, state in shown.items()} == dict.fromkeys(
        MEASUREMENTS, "unavailable"
    )


# --- controls --------------------------------------------------------------------------------------


async def test_pause_button_sends_a_zero_amp_profile(charging: Scenario) -> None:
    """Pressing the pause helper reaches the wallbox as a 0 A charging profile."""
    after = charging.mark()
    await charging.ha.call_service("input_button", "press", {"entity_id": f"input_button.{SLUG}_pause"})
    assert await charging.next_profile_limit(after) == 0


async def test_resume_button_restores_the_limit(charging: Scenario) -> None:
    """Pressing the resume helper after a pause sends the limit again."""
    await charging.api_post("/pause")
    after = charging.mark()
    await charging.ha.call_service("input_button", "press", {"entity_id": f"input_button.{SLUG}_resume"})
    assert await charging.next_profile_limit(after) == MAX_CURRENT_A


async def test_slider_follows_a_limit_set_through_the_json_api(charging: Scenario) -> None:
    """PUT /api/chargers/{id}/current_limit moves the input_number slider to the new limit."""
    await charging.api_put("/current_limit", {"amps": 10})
    state = await charging.ha.wait_state(SLIDER, lambda s: s["state"] != f"{MAX_CURRENT_A:.1f}", what="to move")
    assert float(state["state"]) == 10


async def test_slider_shows_zero_while_paused(charging: Scenario) -> None:
    """Pausing from elsewhere moves the slider to 0."""
    await charging.api_post("/pause")
    state = await charging.ha.wait_state(SLIDER, lambda s: s["state"] != f"{MAX_CURRENT_A:.1f}", what="to move")
    assert float(state["state"]) == 0


async def test_slider_sets_the_limit(charging: Scenario) -> None:
    """Moving the slider sends that limit to the wallbox."""
    after = charging.mark()
    await charging.ha.call_service("input_number", "set_value", {"entity_id": SLIDER, "value": 12})
    assert await charging.next_profile_limit(after) == 12


async def test_slider_below_six_amps_becomes_six(charging: Scenario) -> None:
    """A slider value of 1..5 A is clamped to 6 A: the wallbox gets 6 A and the slider moves to 6."""
    after = charging.mark()
    await charging.ha.call_service("input_number", "set_value", {"entity_id": SLIDER, "value": 3})
    sent = await charging.next_profile_limit(after)
    slider = await charging.ha.wait_state(SLIDER, lambda s: s["state"] != "3.0", what="to move away from 3")
    assert (sent, float(slider["state"])) == (6, 6)


async def test_helpers_are_created_once(charging: Scenario) -> None:
    """Setting up again (as at every connect and add-on start) reuses the helpers instead of adding more."""
    output = charging.app.home_assistant
    assert output is not None
    assert output.rest is not None
    await output.rest.controls.setup()
    numbers = await charging.ha.helpers("input_number")
    buttons = await charging.ha.helpers("input_button")
    ours = sorted(item["id"] for item in numbers + buttons if item["id"].startswith(SLUG))
    assert ours == sorted(f"{SLUG}_{key}" for key in ("current_limit", "start", "pause", "resume", "stop", "reboot"))


async def test_slider_range_follows_max_current_and_keeps_the_users_name(charging: Scenario) -> None:
    """A slider whose maximum differs from max_current is corrected at the next set-up; its name stays."""
    slider_id = f"{SLUG}_current_limit"
    await charging.ha.ws_command(
        {"type": "input_number/update", "input_number_id": slider_id, "name": "My limit", "min": 0, "max": 20}
    )
    output = charging.app.home_assistant
    assert output is not None
    assert output.rest is not None
    await output.rest.controls.setup()
    slider = next(item for item in await charging.ha.helpers("input_number") if item["id"] == slider_id)
    assert (slider["name"], slider["min"], slider["max"]) == ("My limit", 0, MAX_CURRENT_A)


async def test_reset_helper_of_an_earlier_version_becomes_the_reboot_button(charging: Scenario) -> None:
    """A helper named "Reset" (earlier versions) is kept, renamed Reboot, and reboots the wallbox; none is added."""
    output = charging.app.home_assistant
    assert output is not None
    assert output.rest is not None
    await charging.ha.ws_command({"type": "input_button/delete", "input_button_id": f"{SLUG}_reboot"})
    await charging.ha.ws_command({"type": "input_button/create", "name": "BMW Wallbox Reset", "icon": "mdi:restart"})
    await output.rest.controls.setup()
    buttons = {item["id"]: item["name"] for item in await charging.ha.helpers("input_button")}
    assert (buttons.get(f"{SLUG}_reset"), f"{SLUG}_reboot" in buttons) == ("BMW Wallbox Reboot", False)
    after = charging.mark()
    await charging.ha.call_service("input_button", "press", {"entity_id": f"input_button.{SLUG}_reset"})
    await charging.wallbox.wait_for_call("Reset", 10, after=after)


async def test_pause_button_works_after_a_restart(charging: Scenario) -> None:
    """After a Home Assistant restart the helpers still control the wallbox."""
    await charging.core.restart()
    # Core forgets posted states when it restarts; the firmware never changes, so only the add-on's
    # WebSocket reconnect (which follows Core's events again) posts it again.
    await charging.ha.wait_state(f"sensor.{SLUG}_firmware", what="to be posted again", timeout_s=20)
    after = charging.mark()
    await charging.ha.call_service("input_button", "press", {"entity_id": f"input_button.{SLUG}_pause"})
    assert await charging.next_profile_limit(after) == 0


# --- events ----------------------------------------------------------------------------------------


async def test_command_event_sends_a_zero_amp_profile(charging: Scenario) -> None:
    """A bmw_wallbox_command event with action pause reaches the wallbox as a 0 A charging profile."""
    after = charging.mark()
    await charging.ha.fire_event("bmw_wallbox_command", {"action": "pause"})
    assert await charging.next_profile_limit(after) == 0


async def test_command_event_answers_with_a_result_event(charging: Scenario) -> None:
    """A command event is answered by a bmw_wallbox_command_result event with the honest outcome."""
    async with charging.ha.events("bmw_wallbox_command_result") as results:
        fired = datetime.now(UTC)
        await charging.ha.fire_event(
            "bmw_wallbox_command", {"action": "set_current_limit", "amps": 10, "charger": CHARGER_ID}
        )
        data = await next_event(
            results, what="result of the fired command", where=lambda d: datetime.fromisoformat(d["at"]) >= fired
        )
    assert (data["charger"], data["command"], data["outcome"], data["applied_limit_a"]) == (
        CHARGER_ID,
        "set_current_limit",
        "accepted",
        10,
    )


async def test_invalid_command_event_is_answered_invalid(charging: Scenario) -> None:
    """A command event with an unknown action is answered with outcome invalid and nothing is sent."""
    after = charging.mark()
    async with charging.ha.events("bmw_wallbox_command_result") as results:
        fired = datetime.now(UTC)
        await charging.ha.fire_event("bmw_wallbox_command", {"action": "explode"})
        data = await next_event(
            results, what="result of the fired command", where=lambda d: datetime.fromisoformat(d["at"]) >= fired
        )
    assert (data["command"], data["outcome"], charging.profile_limits(after)) == ("command", "invalid", [])


async def test_session_end_and_start_fire_events(charging: Scenario) -> None:
    """Unplugging fires bmw_wallbox_session_ended with energy and duration; plugging in fires session_started."""
    await eventually(  # let the session run a few (simulated) seconds, so its duration is not 0
        charging.snapshot,
        until=lambda s: metered_for(s) >= timedelta(seconds=2),
        what="a meter value 2 simulated seconds into the session",
        timeout=20,
    )
    async with (
        charging.ha.events("bmw_wallbox_session_ended") as ended,
        charging.ha.events("bmw_wallbox_session_started") as started,
    ):
        await charging.wallbox.unplug()
        end = await next_event(ended, what="bmw_wallbox_session_ended")
        await charging.wallbox.plug_in()
        # The ended session's own start event may come late: skip it.
        start = await next_event(
            started,
            what="bmw_wallbox_session_started of a new session",
            where=lambda d: d["transaction_id"] != end["transaction_id"],
        )
    assert (end["charger"], end["energy_kwh"] > 0, end["duration_s"] > 0, start["charger"]) == (
        CHARGER_ID,
        True,
        True,
        CHARGER_ID,
    )
    assert (start["token_name"], end["token_name"]) == ("no token", "no token")

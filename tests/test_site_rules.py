"""The site budget's rules without I/O: the meter's edge, the shares of the fuse, and their timing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bmw_wallbox.site.budget import ChargerLoad, LimitedBy, SiteRules, SiteState, allocate
from bmw_wallbox.site.governor import Governor
from bmw_wallbox.site.meter import GridMeter, Reading, Refused, parse_state

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
RULES = SiteRules(main_fuse_a=25, safety_margin_a=1, failsafe_a=6)


def state(value: object, *, unit: str | None = "A", age_s: float = 0.0, **extra: Any) -> dict[str, Any]:
    """A Home Assistant state as its WebSocket API sends it."""
    attributes = {"unit_of_measurement": unit} if unit is not None else {}
    return {
        "state": str(value),
        "attributes": attributes,
        "last_reported": (NOW - timedelta(seconds=age_s)).isoformat(),
        **extra,
    }


def load(charger_id: str = "a", *, draw: float = 16.0, asked: float = 16.0, session: bool = True) -> ChargerLoad:
    return ChargerLoad(
        charger_id=charger_id, session=session, phase_currents_a=(draw,) * 3, asked_a=asked, max_current_a=32
    )


# --- the meter's edge ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"state": "unavailable"}, "unavailable"),
        ({"state": "unknown"}, "unknown"),
        (state("nan"), "beyond"),
        (state("inf"), "beyond"),
        (state("-1e309"), "beyond"),
        (state("5000"), "beyond"),
        (state("12,5"), "not a number"),
        (state("12", unit="V"), "unit"),
        (
            {"state": "12", "attributes": {"unit_of_measurement": "A"}, "last_reported": "2026-12-06T12:00:00"},
            "time zone",
        ),
        (None, "no state"),
        ("12", "no state"),
    ],
)
def test_a_state_that_is_no_reading_is_refused_with_its_reason(raw: Any, reason: str) -> None:
    """Unavailable, unknown, non-finite, absurd, wrong unit or zone-less states give no reading, and say why."""
    parsed = parse_state(raw, "current")
    assert isinstance(parsed, Refused)
    assert reason in parsed.reason


def test_units_are_honoured() -> None:
    """kW become W and mA become A."""
    power = parse_state(state("6.9", unit="kW"), "power")
    current = parse_state(state("12500", unit="mA"), "current")
    assert isinstance(power, Reading)
    assert power.value == pytest.approx(6900)
    assert isinstance(current, Reading)
    assert current.value == pytest.approx(12.5)


def test_one_phase_unavailable_puts_the_whole_meter_out() -> None:
    """A site with three phase entities cannot be judged from two of them."""
    meter = GridMeter(phase_entities=("sensor.l1", "sensor.l2", "sensor.l3"), stale_after_s=30)
    meter.observe("sensor.l1", state(10))
    meter.observe("sensor.l2", state(11))
    meter.observe("sensor.l3", {"state": "unavailable"})
    view = meter.view(NOW)
    assert view.phase_currents_a is None
    assert view.problem == "sensor.l3: unavailable"
    meter.observe("sensor.l3", state(12))
    assert meter.view(NOW).phase_currents_a == (10.0, 11.0, 12.0)


def test_a_reading_turns_stale_after_stale_after_s_counted_from_last_reported() -> None:
    """The age is Home Assistant's last_reported, not when the add-on saw the state."""
    meter = GridMeter(phase_entities=("sensor.l1",), stale_after_s=30)
    meter.observe("sensor.l1", state(10, age_s=25))
    assert meter.view(NOW).age_s == pytest.approx(25)
    assert meter.view(NOW + timedelta(seconds=5)).phase_currents_a == (10.0,)
    stale = meter.view(NOW + timedelta(seconds=6))
    assert stale.phase_currents_a is None
    assert stale.problem == "the meter has not reported for 31 s"
    assert meter.next_stale_at() == NOW + timedelta(seconds=5)


def test_an_older_state_never_replaces_a_newer_one() -> None:
    """A late state (older last_reported) keeps the newer reading."""
    meter = GridMeter(phase_entities=("sensor.l1",), stale_after_s=30)
    meter.observe("sensor.l1", state(10))
    meter.observe("sensor.l1", state(3, age_s=20))
    assert meter.view(NOW).phase_currents_a == (10.0,)


def test_grid_power_is_spread_over_the_phases_at_230_v() -> None:
    """6,900 W on three phases are 10 A per phase; export is a negative current."""
    meter = GridMeter(power_entity="sensor.grid", stale_after_s=30)
    meter.observe("sensor.grid", state(6900, unit="W"))
    assert meter.view(NOW).phase_currents_a == pytest.approx((10.0, 10.0, 10.0))
    meter.observe("sensor.grid", state(-2300, unit="W"))
    assert meter.view(NOW).phase_currents_a == pytest.approx((-10 / 3,) * 3)


def test_other_entities_are_not_taken() -> None:
    """A state of an entity that is not configured changes nothing."""
    meter = GridMeter(phase_entities=("sensor.l1",), stale_after_s=30)
    assert meter.observe("sensor.other", state(10)) is None
    assert meter.view(NOW).problem == "no reading of sensor.l1 yet"


# --- the shares --------------------------------------------------------------------------------------


def test_a_household_jump_leaving_7_a_gives_the_charger_7_a() -> None:
    """25 A fuse, 1 A margin, household 17 A beside a charger drawing 16 A: 7 A, limited by the budget."""
    budget = allocate(RULES, (33.0, 33.0, 33.0), [load()])
    assert budget.household_a == (17.0, 17.0, 17.0)
    assert budget.headroom_a == (7.0, 7.0, 7.0)
    share = budget.shares["a"]
    assert (share.budget_a, share.effective_a, share.limited_by) == (7.0, 7.0, LimitedBy.BUDGET)
    assert budget.state is SiteState.LIMITED


def test_a_share_below_the_minimum_pauses_the_charger_by_the_budget() -> None:
    """5.9 A of headroom is below 6 A: the budget gives 0 A (a pause, the session is kept by the controller)."""
    share = allocate(RULES, (34.1, 30.0, 30.0), [load()]).shares["a"]
    assert (share.budget_a, share.effective_a, share.limited_by) == (0.0, 0.0, LimitedBy.BUDGET)


def test_plenty_of_headroom_leaves_the_asked_limit() -> None:
    """With room to spare the user's limit counts, and the site is ok."""
    budget = allocate(RULES, (18.0, 18.0, 18.0), [load(asked=10, draw=10)])
    assert budget.shares["a"].effective_a == 10
    assert budget.shares["a"].limited_by is LimitedBy.USER
    assert budget.state is SiteState.OK


def test_the_worst_phase_decides() -> None:
    """A heavy household on L2 only limits a three-phase charger on every phase."""
    share = allocate(RULES, (16.0, 28.0, 16.0), [load()]).shares["a"]
    assert share.budget_a == 12.0


def test_two_chargers_share_the_headroom_equally() -> None:
    """20 A of headroom between two sessions: 10 A each."""
    budget = allocate(RULES, (36.0,) * 3, [load("a"), load("b")])
    assert budget.headroom_a == (20.0, 20.0, 20.0)
    assert [budget.shares[c].budget_a for c in "ab"] == [10.0, 10.0]


def test_the_last_charger_gives_way_when_both_would_starve() -> None:
    """10 A of headroom for two sessions: the first gets 10 A, the second is paused by the budget."""
    budget = allocate(RULES, (46.0,) * 3, [load("a"), load("b")])
    assert budget.headroom_a == (10.0,) * 3
    assert (budget.shares["a"].budget_a, budget.shares["b"].budget_a) == (10.0, 0.0)


def test_a_charger_without_a_session_gets_what_a_new_session_could_have() -> None:
    """One session and an idle charger, 20 A of headroom: the idle one may start at 10 A, the running one keeps 20 A."""
    budget = allocate(RULES, (20.0,) * 3, [load("a", draw=16), load("b", draw=0, session=False)])
    assert budget.headroom_a == (20.0,) * 3
    assert (budget.shares["a"].budget_a, budget.shares["b"].budget_a) == (20.0, 10.0)


def test_missing_charger_readings_count_as_zero_and_export_as_no_household() -> None:
    """A charger without readings makes the household look bigger; export never adds room."""
    no_readings = ChargerLoad(charger_id="a", session=True, asked_a=16, max_current_a=32)
    budget = allocate(RULES, (20.0,) * 3, [no_readings])
    assert budget.household_a == (20.0,) * 3
    assert budget.shares["a"].budget_a == 0.0  # 4 A headroom is below 6 A
    exporting = allocate(RULES, (-10.0,) * 3, [load(draw=0)])
    assert exporting.household_a == (0.0,) * 3
    assert exporting.headroom_a == (24.0,) * 3


def test_without_a_meter_reading_every_charger_gets_the_failsafe() -> None:
    """No usable grid reading: failsafe_a each, named as the cap."""
    budget = allocate(RULES, None, [load("a"), load("b")])
    assert budget.state is SiteState.FAILSAFE
    assert {s.effective_a for s in budget.shares.values()} == {6.0}
    assert {s.limited_by for s in budget.shares.values()} == {LimitedBy.FAILSAFE}


def test_without_site_rules_nothing_is_capped() -> None:
    """No site block: the user's limit and the charger's maximum only."""
    budget = allocate(None, None, [load(asked=40)])
    assert budget.state is SiteState.OFF
    assert (budget.shares["a"].effective_a, budget.shares["a"].limited_by) == (32.0, LimitedBy.CHARGER)


# --- over time -----------------------------------------------------------------------------------


def _decide(governor: Governor, grid: float | None, now: float) -> float:
    loads = [load()]
    return governor.decide(allocate(RULES, None if grid is None else (grid,) * 3, loads), loads, now)["a"].effective_a


def test_a_reduction_is_enforced_at_once_and_an_increase_after_steady_headroom() -> None:
    """Down at once; up only after resume_after_s without a dip, at the lowest value seen meanwhile."""
    governor = Governor(resume_after_s=60)
    assert _decide(governor, None, 0) == 6.0  # start: failsafe at once
    assert _decide(governor, 33, 1) == 6.0  # 7 A would be more: waits
    assert _decide(governor, 30, 30) == 6.0  # 10 A: still waiting, 7 A was the lowest
    assert governor.next_rise_at() == 61
    assert _decide(governor, 30, 61) == 7.0  # 60 s of at least 7 A
    assert _decide(governor, 35, 62) == 0.0  # 5 A of headroom: paused at once
    assert _decide(governor, 20, 70) == 0.0
    assert _decide(governor, 36, 100) == 0.0  # a dip to 4 A restarts the wait
    assert _decide(governor, 20, 130) == 0.0
    assert _decide(governor, 20, 189) == 0.0  # the wait counts from when the headroom came back (130)
    assert _decide(governor, 20, 190) == 16.0  # 60 s of steady headroom: back to the asked 16 A

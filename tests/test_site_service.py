"""The site budget at work against the controller and a fake charger port: what goes on the wire, and when."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from bmw_wallbox.controller import Controller
from bmw_wallbox.energy import SampledValue
from bmw_wallbox.hub import StateHub
from bmw_wallbox.options import SiteOptions
from bmw_wallbox.site.service import SiteBudget
from bmw_wallbox.state import ChargerState, ChargingState, ConnectorStatus

from fakeport import FakePort
from helpers import eventually

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
PHASES = ("sensor.grid_l1", "sensor.grid_l2", "sensor.grid_l3")


@dataclass
class Clock:
    """A wall clock and a monotonic clock that move together when the test says so."""

    seconds: float = 0.0

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.seconds)


@dataclass
class Site:
    """Two chargers (the second optional) on a 25 A fuse with a 1 A margin, and what their ports were sent."""

    hub: StateHub
    budget: SiteBudget
    ports: dict[str, FakePort]
    clock: Clock
    events: list[str] = field(default_factory=list)

    def meter(self, amps: float, *, age_s: float = 0.0) -> None:
        """Home Assistant reports the grid current on all three phases."""
        at = (self.clock.now() - timedelta(seconds=age_s)).isoformat()
        for entity in PHASES:
            self.budget.observe(
                entity, {"state": str(amps), "attributes": {"unit_of_measurement": "A"}, "last_reported": at}
            )

    def draw(self, charger_id: str, amps: float) -> None:
        """The charger reports its own current per phase."""
        readings = [SampledValue(measurand="Current.Import", value=amps, phase=p) for p in ("L1", "L2", "L3")]
        self.hub.chargers[charger_id].meter_values(1, readings, at=self.clock.now(), now=self.clock.now())

    def limits(self, charger_id: str) -> list[float]:
        """Every limit sent to this charger, in order."""
        return [profile.limit for name, profile in self.ports[charger_id].calls if name == "set_limit"]


def charger(charger_id: str, *, session: bool) -> ChargerState:
    """A connected 32 A charger asked for 16 A; with ``session``, a car charging."""
    charger = ChargerState(charger_id=charger_id, name=charger_id, max_current_a=32, connected=True)
    charger.want(paused=False, limit_a=16.0)
    if session:
        charger.status_reported(1, ConnectorStatus.OCCUPIED)
        charger.transaction_event(
            event_type="Started", transaction_id=f"tx-{charger_id}", evse_id=1, at=T0, now=T0,
            charging_state=ChargingState.CHARGING,
        )  # fmt: skip
    return charger


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    """Charger A charging, charger B idle, on a 25 A fuse with a 1 A margin and a 60 s resume wait."""
    clock = Clock()
    chargers = [charger("A", session=True), charger("B", session=False)]
    hub = StateHub(chargers)
    ports = {c.charger_id: FakePort(c) for c in chargers}
    controller = Controller(hub, ports=lambda cid: ports.get(cid), min_interval_s=0.0)
    controller.attach()
    options = SiteOptions(main_fuse_a=25, safety_margin_a=1, failsafe_a=6, phase_current_entities=list(PHASES))
    site = Site(hub=hub, budget=None, ports=ports, clock=clock)  # type: ignore[arg-type]
    site.budget = SiteBudget(
        options, hub, enforce=lambda cid, lower: controller.limit_moved(cid, lower=lower),
        clock=clock.monotonic, now=clock.now,
    )  # fmt: skip
    site.budget.subscribe(lambda kind: site.events.append(kind) if kind else None)
    task = asyncio.create_task(site.budget.run())
    yield site
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    site.budget.detach()
    await controller.close()


def last(limits: list[float], value: float) -> bool:
    return limits[-1:] == [value]


async def test_start_is_failsafe_until_the_first_reading(site: Site) -> None:
    """Before the meter is seen every charger gets failsafe_a, on the wire at once, and limiting is announced."""
    site.budget.attach()
    await eventually(lambda: site.limits("A"), what="6 A for A", until=lambda sent: last(sent, 6.0))
    charger = site.hub.chargers["A"]
    assert (charger.budget.limit_a, charger.budget.limited_by, charger.desired.limit_a) == (6.0, "failsafe", 16.0)
    assert site.budget.view().to_json()["state"] == "failsafe"
    assert site.events == ["limiting_started"]


async def test_a_household_jump_cuts_at_once_pauses_below_6_a_and_comes_back_after_the_wait(site: Site) -> None:
    """Asked 16 A, 25 A fuse: household 17 A gives 7 A at once, 19 A pauses (session kept), 3 A: 16 A after 60 s."""
    site.draw("A", 16.0)
    site.meter(16.0)  # household 0 A
    site.budget.attach()
    await eventually(lambda: site.limits("A"), what="16 A for A", until=lambda sent: last(sent, 16.0))
    assert site.hub.chargers["A"].budget.limited_by == "user"
    site.clock.seconds = 1
    site.meter(33.0)  # household 17 A: 7 A left
    await eventually(lambda: site.limits("A"), what="7 A for A", until=lambda sent: last(sent, 7.0))
    assert site.hub.chargers["A"].budget.limited_by == "budget"
    site.clock.seconds = 2
    site.meter(35.0)  # household 19 A: 5 A left, below 6 A
    await eventually(lambda: site.limits("A"), what="A paused", until=lambda sent: last(sent, 0.0))
    charger = site.hub.chargers["A"]
    assert charger.main_evse.transaction is not None  # a budget pause keeps the session
    assert (charger.desired.paused, charger.desired.limit_a) == (False, 16.0)  # and leaves the user's wish alone
    assert site.budget.view().to_json()["allocations"]["A"] == 0.0
    site.clock.seconds = 3
    site.draw("A", 0.0)
    site.meter(3.0)  # household 3 A: 21 A left
    site.budget.evaluate()
    for seconds in (30, 62):  # the meter reports the same value again (state_reported)
        site.clock.seconds = seconds
        site.meter(3.0)
        site.budget.evaluate()
    assert last(site.limits("A"), 0.0)  # 59 s of headroom is not enough
    site.clock.seconds = 63
    site.budget.evaluate()
    await eventually(lambda: site.limits("A"), what="A back at 16 A", until=lambda sent: last(sent, 16.0))
    assert site.hub.chargers["A"].budget.limited_by == "user"
    assert site.events == ["limiting_started", "limiting_ended"]


async def test_two_sessions_share_the_headroom(site: Site) -> None:
    """Household 4 A on a 25 A fuse: 20 A, 10 A each for two sessions."""
    site.hub.chargers["B"].status_reported(1, ConnectorStatus.OCCUPIED)
    site.hub.chargers["B"].transaction_event(
        event_type="Started", transaction_id="tx-B", evse_id=1, at=T0, now=T0, charging_state=ChargingState.CHARGING
    )
    site.draw("A", 6.0)
    site.draw("B", 6.0)
    site.meter(16.0)  # household 4 A
    site.budget.attach()
    for cid in "AB":
        await eventually(lambda cid=cid: site.limits(cid), what=f"10 A for {cid}", until=lambda sent: last(sent, 10.0))
    assert site.budget.view().to_json()["headroom_a"] == [20.0, 20.0, 20.0]


async def test_a_meter_that_stops_reporting_brings_the_failsafe(site: Site) -> None:
    """stale_after_s (30 s) without a report: failsafe_a (6 A), named as the cap."""
    site.draw("A", 16.0)
    site.meter(16.0)
    site.budget.attach()
    await eventually(lambda: site.limits("A"), what="16 A for A", until=lambda sent: last(sent, 16.0))
    site.clock.seconds = 30
    site.draw("A", 16.0)
    site.budget.evaluate()
    assert last(site.limits("A"), 16.0)
    site.clock.seconds = 30.5
    site.budget.evaluate()
    await eventually(lambda: site.limits("A"), what="the failsafe", until=lambda sent: last(sent, 6.0))
    view = site.budget.view().to_json()
    assert (view["state"], view["problem"]) == ("failsafe", "the meter has not reported for 30 s")
    assert site.hub.chargers["A"].budget.limited_by == "failsafe"


async def test_an_unavailable_phase_brings_the_failsafe_at_once(site: Site) -> None:
    """One phase entity turning unavailable puts the whole site in failsafe."""
    site.draw("A", 16.0)
    site.meter(16.0)
    site.budget.attach()
    await eventually(lambda: site.limits("A"), what="16 A for A", until=lambda sent: last(sent, 16.0))
    site.budget.observe("sensor.grid_l2", {"state": "unavailable", "last_reported": T0.isoformat()})
    await eventually(lambda: site.limits("A"), what="the failsafe", until=lambda sent: last(sent, 6.0))
    assert site.budget.view().to_json()["problem"] == "sensor.grid_l2: unavailable"


async def test_a_raise_the_grid_sees_before_the_charger_reports_it_is_not_cut_back(site: Site) -> None:
    """The grid shows the car at its new 16 A while the charger still reports 10 A: no cut back to 14 A."""
    site.draw("A", 10.0)
    site.meter(24.0)  # household 14 A: 10 A for A, at once
    site.budget.attach()
    await eventually(lambda: site.limits("A"), what="10 A", until=lambda sent: last(sent, 10.0))
    for seconds in (1, 30, 61):  # household 4 A from second 1 on, the meter and the charger alive
        site.clock.seconds = seconds
        site.draw("A", 10.0)
        site.meter(14.0)
        site.budget.evaluate()
    await eventually(lambda: site.limits("A"), what="16 A after the wait", until=lambda sent: last(sent, 16.0))
    site.clock.seconds = 62
    site.meter(20.0)  # the car took 16 A; the charger's next reading is still seconds away
    site.budget.evaluate()
    assert site.budget.view().to_json()["household_a"] == [4.0, 4.0, 4.0]
    assert site.limits("A")[-1] == 16.0


async def test_after_a_cut_the_grid_that_followed_is_not_counted_twice(site: Site) -> None:
    """Cut to 7 A; once the grid shows the car at 7 A, the charger's older 16 A reading is not subtracted."""
    site.draw("A", 16.0)
    site.meter(16.0)
    site.budget.attach()
    await eventually(lambda: site.limits("A"), what="16 A", until=lambda sent: last(sent, 16.0))
    site.clock.seconds = 1
    site.meter(33.0)  # household 17 A
    await eventually(lambda: site.limits("A"), what="7 A", until=lambda sent: last(sent, 7.0))
    site.clock.seconds = 2
    site.meter(33.0)  # the grid has not seen the car slow down yet
    site.budget.evaluate()
    assert site.budget.view().to_json()["household_a"] == [17.0, 17.0, 17.0]
    site.clock.seconds = 7
    site.meter(24.0)  # the car follows: 17 + 7
    site.budget.evaluate()
    assert site.budget.view().to_json()["household_a"] == [17.0, 17.0, 17.0]
    assert site.limits("A")[-1] == 7.0


async def test_a_charger_that_takes_no_limits_is_named_once_when_the_budget_would_cap_it(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """A charger without smart charging gets nothing; the log says once that it cannot be held to the budget."""
    site.hub.chargers["A"].limits_unsupported("NotImplemented")
    site.draw("A", 16.0)
    site.meter(33.0)  # household 17 A: the budget would give 7 A
    site.budget.attach()
    for _ in range(3):
        site.budget.evaluate()
    warnings = [r.getMessage() for r in caplog.records if "cannot be held to the budget" in r.getMessage()]
    expected = "[A] The site budget would cap this charger at 7.0 A, but it takes no current limits"
    assert warnings == [f"{expected}: it cannot be held to the budget"]
    assert site.limits("A") == []


async def test_subscribers_hear_every_look_and_each_limiting_change_once(site: Site) -> None:
    """A subscriber is called after every look (None) and with limiting_started / _ended when they happen."""
    heard: list[str | None] = []
    unsubscribe = site.budget.subscribe(heard.append)
    site.budget.attach()
    site.budget.evaluate()
    assert heard[:2] == ["limiting_started", None]
    site.hub.chargers["A"].want(paused=False, limit_a=6.0)
    site.hub.commit("A")
    site.budget.evaluate()
    assert [kind for kind in heard if kind] == ["limiting_started", "limiting_ended"]
    unsubscribe()
    site.budget.evaluate()
    assert len(heard) == 3

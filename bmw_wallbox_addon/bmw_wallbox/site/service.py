"""The site budget at work: follows the meter and the chargers, and puts each charger's share in force.

:class:`SiteBudget` takes Home Assistant states of the meter entities
(:meth:`SiteBudget.observe`, fed by the Home Assistant side) and the chargers'
own readings (the state hub), decides with :func:`~bmw_wallbox.site.budget.allocate`
and the :class:`~bmw_wallbox.site.governor.Governor`, writes each charger's
``budget_limit_a`` and ``limited_by`` into its state, and asks the controller
(``enforce``) to put a changed limit on the wire: at once (``urgent``) when it
went down, coalesced as usual when it went up.

It looks again (in :meth:`SiteBudget.run`, woken at once) at every meter
state, every change of a charger, and at the
moments a reading turns stale or a waiting increase is due (a timer), so a
meter that stops reporting brings the failsafe within ``stale_after_s`` plus
the timer's resolution.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from bmw_wallbox.hub import StateHub
from bmw_wallbox.options import SiteOptions
from bmw_wallbox.site.budget import Budget, ChargerLoad, LimitedBy, Share, SiteRules, SiteState, allocate
from bmw_wallbox.site.draw import Draws
from bmw_wallbox.site.governor import Governor
from bmw_wallbox.site.meter import GridMeter, GridView, Refused
from bmw_wallbox.site.view import LIMITING_ENDED, LIMITING_STARTED, SiteListener, SiteView
from bmw_wallbox.state import BudgetCap, ChargerState, Save, utcnow

_LOGGER = logging.getLogger(__name__)

#: Called with a charger id and whether its limit went down (then it must go out at once).
Enforce = Callable[[str, bool], None]
#: Longest sleep between two looks without any input (bounds how late a staleness is noticed).
TICK_S = 1.0


_NO_METER = GridView(phase_currents_a=None, age_s=None)


class SiteBudget:
    """Keeps every charger within its share of the main fuse (see the module docstring).

    Without ``main_fuse_a`` the budget is off: nothing is capped or enforced, and
    each charger's ``limited_by`` still names its lowest cap (the user's or its own maximum).
    """

    def __init__(
        self,
        options: SiteOptions,
        hub: StateHub,
        *,
        enforce: Enforce,
        settle_s: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.options = options
        self.rules = (
            None
            if options.main_fuse_a is None
            else SiteRules(
                main_fuse_a=options.main_fuse_a, safety_margin_a=options.safety_margin_a, failsafe_a=options.failsafe_a
            )
        )
        self.meter = (
            None
            if self.rules is None
            else GridMeter(
                phase_entities=options.phase_current_entities,
                power_entity=options.grid_power_entity,
                stale_after_s=options.stale_after_s,
            )
        )
        self._hub = hub
        self._enforce = enforce
        self._clock = clock
        self._now = now
        self._governor = Governor(resume_after_s=options.resume_after_s)
        self._draws = Draws(settle_s=settle_s, stale_after_s=options.stale_after_s)
        self._grid = GridView(phase_currents_a=None, age_s=None, problem="no reading yet")
        self._budget: Budget | None = None
        self._limiting = False
        self._wake = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None
        self._reported_problem: str | None = None
        self._uncapped: set[str] = set()
        self._listeners: list[SiteListener] = []

    @property
    def entities(self) -> tuple[str, ...]:
        """The Home Assistant entities to follow (none while the budget is off)."""
        return self.meter.entities if self.meter is not None else ()

    def attach(self) -> None:
        """Follow the chargers and decide once (failsafe until the first reading)."""
        self._unsubscribe = self._hub.subscribe(self._on_hub_changed)
        self.evaluate()

    def detach(self) -> None:
        """Stop following the chargers."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def subscribe(self, listener: SiteListener) -> Callable[[], None]:
        """Call ``listener`` after every look, with the limiting event when one happened; returns the unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _tell(self, kind: str | None) -> None:
        for listener in list(self._listeners):
            listener(kind)

    def observe(self, entity_id: str, state: Mapping[str, Any] | None) -> None:
        """A Home Assistant state of a meter entity (from get_states, state_changed or state_reported)."""
        if self.meter is None:
            return
        parsed = self.meter.observe(entity_id, state)
        if isinstance(parsed, Refused) and parsed.reason != self._reported_problem:
            _LOGGER.warning("Site meter %s gives no usable reading: %s", entity_id, parsed.reason)
            self._reported_problem = parsed.reason
        if parsed is not None:
            self._wake.set()  # several entities of one update are decided on together, by the loop

    def _on_hub_changed(self, charger_id: str, save: Save) -> None:
        self._wake.set()  # a reading, a session start or end: looked at by the loop, never inside the commit

    def evaluate(self) -> None:
        """Decide now and put changed limits in force."""
        now = self._now()
        grid = self.meter.view(now) if self.meter is not None else _NO_METER
        usable, was_usable = grid.phase_currents_a is not None, self._grid.phase_currents_a is not None
        if self.rules is not None and not usable and (was_usable or self._budget is None):
            _LOGGER.warning("Site budget in failsafe (%s A per charger): %s", self.rules.failsafe_a, grid.problem)
        elif usable and not was_usable:
            _LOGGER.info("Site meter readings are in: the budget follows the meter")
            self._reported_problem = None
        self._grid = grid
        chargers = list(self._hub.chargers.values())
        for charger in chargers:  # a change by a command (the user, evcc) settles like one of ours
            self._draws.note(charger, now)
        grid_at = None if grid.age_s is None else now - timedelta(seconds=grid.age_s)
        loads = [
            ChargerLoad(
                charger_id=c.charger_id,
                session=any(evse.transaction is not None for evse in c.evses.values()),
                phase_currents_a=self._draws.counted(c, now=now, grid_at=grid_at),
                asked_a=c.desired.target_a,
                max_current_a=min(float(c.max_current_a), c.capabilities.max_current_a or math.inf),
            )
            for c in chargers
        ]
        self._budget = allocate(self.rules, grid.phase_currents_a, loads)
        shares = self._governor.decide(self._budget, loads, self._clock())
        for charger in chargers:
            share = shares[charger.charger_id]
            before = charger.enforced_a
            cap = None if math.isinf(share.budget_a) else share.budget_a
            if charger.budget_set(BudgetCap(limit_a=cap, limited_by=str(share.limited_by))):
                self._hub.commit(charger.charger_id, Save.NO)
            after = charger.enforced_a
            self._draws.note(charger, now)
            if after != before and charger.connected and charger.limits_supported:
                self._enforce(charger.charger_id, after < before)
            self._warn_uncapped(charger, capped=share.limited_by in (LimitedBy.BUDGET, LimitedBy.FAILSAFE))
        kind = self._announce_limiting([shares[load.charger_id] for load in loads if load.session])
        self._tell(kind)

    def _warn_uncapped(self, charger: ChargerState, *, capped: bool) -> None:
        """Say once per connection when the budget would cap a charger that takes no charging profiles."""
        cid = charger.charger_id
        if not capped or charger.limits_supported or not charger.connected:
            self._uncapped.discard(cid)
            return
        if cid not in self._uncapped:
            self._uncapped.add(cid)
            _LOGGER.warning(
                "[%s] The site budget would cap this charger at %s A, but it takes no current limits: "
                "it cannot be held to the budget",
                cid,
                charger.budget.limit_a,
            )

    def _announce_limiting(self, running: list[Share]) -> str | None:
        """``limiting_started`` when a running session gets less than asked through the budget, ``_ended`` after.

        Returns the kind announced, None when nothing changed.
        """
        limiting = any(share.limited_by in (LimitedBy.BUDGET, LimitedBy.FAILSAFE) for share in running)
        if limiting == self._limiting:
            return None
        self._limiting = limiting
        _LOGGER.info("Site budget %s", "limits charging" if limiting else "no longer limits charging")
        kind = LIMITING_STARTED if limiting else LIMITING_ENDED
        return kind

    def view(self) -> SiteView:
        """What ``GET /api/site`` shows."""
        budget = self._budget
        state = budget.state if budget is not None else SiteState.OFF if self.rules is None else SiteState.FAILSAFE
        allocations = {cid: c.budget.limit_a for cid, c in self._hub.chargers.items()}
        return SiteView(
            main_fuse_a=self.options.main_fuse_a,
            phase_currents_a=self._grid.phase_currents_a,
            household_a=budget.household_a if budget is not None else None,
            headroom_a=budget.headroom_a if budget is not None else None,
            meter_age_s=self._grid.age_s,
            state=state,
            problem=self._grid.problem,
            allocations=allocations,
        )

    async def run(self) -> None:
        """Look again after each change of a charger and at least every :data:`TICK_S`, until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sleep_s()):
                    await self._wake.wait()
            self._wake.clear()
            self.evaluate()

    def _sleep_s(self) -> float:
        if self.meter is None:
            return math.inf  # off: only a change of a charger wakes the loop
        due = [TICK_S]
        rise_at = self._governor.next_rise_at()
        if rise_at is not None:
            due.append(rise_at - self._clock())
        stale_at = self.meter.next_stale_at()
        if stale_at is not None:
            due.append((stale_at - self._now()).total_seconds() + 0.01)
        return max(0.0, min(due))

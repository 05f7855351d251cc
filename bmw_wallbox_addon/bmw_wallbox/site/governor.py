"""The budget over time: what is enforced now, given the budgets computed so far.

- A lower budget is enforced at once: a reduction never waits.
- A higher budget is enforced only after it has held for ``resume_after_s``
  (60 s) without a dip, and then at the lowest value seen in that time: the
  headroom must be steady before a paused charger resumes or a limit rises.
- The first budget of a charger (at start, usually the failsafe) is enforced at once.

Times are monotonic seconds passed in by the caller, so the rules are tested with
a fake clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bmw_wallbox.site.budget import Budget, ChargerLoad, LimitedBy, Share, SiteState, effective_share


@dataclass(kw_only=True)
class _Rise:
    since: float
    lowest_a: float


class Governor:
    """Holds each charger's budget cap in force and moves it by the rules above."""

    def __init__(self, *, resume_after_s: float) -> None:
        self.resume_after_s = resume_after_s
        self._caps: dict[str, float] = {}
        self._rising: dict[str, _Rise] = {}

    @property
    def caps(self) -> Mapping[str, float]:
        """The budget cap in force per charger id (``inf`` without a site budget)."""
        return self._caps

    def _move(self, charger_id: str, wanted_a: float, now: float) -> None:
        current = self._caps.get(charger_id)
        if current is None or wanted_a <= current:
            self._caps[charger_id] = wanted_a
            self._rising.pop(charger_id, None)
            return
        rise = self._rising.setdefault(charger_id, _Rise(since=now, lowest_a=wanted_a))
        rise.lowest_a = min(rise.lowest_a, wanted_a)
        if now - rise.since >= self.resume_after_s:
            self._caps[charger_id] = rise.lowest_a
            del self._rising[charger_id]

    def next_rise_at(self) -> float | None:
        """When a waiting increase may be enforced (to look again then), or None."""
        return min((rise.since + self.resume_after_s for rise in self._rising.values()), default=None)

    def decide(self, budget: Budget, loads: Sequence[ChargerLoad], now: float) -> dict[str, Share]:
        """Move the caps towards ``budget`` and return each charger's share under the caps in force."""
        if budget.state is SiteState.OFF:
            self._caps = {load.charger_id: math.inf for load in loads}
            self._rising.clear()
        else:
            for load in loads:
                self._move(load.charger_id, budget.shares[load.charger_id].budget_a, now)
        kind = LimitedBy.FAILSAFE if budget.state is SiteState.FAILSAFE else LimitedBy.BUDGET
        return {load.charger_id: effective_share(load, self._caps[load.charger_id], kind) for load in loads}

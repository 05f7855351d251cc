"""The site budget's rule, without I/O: how much of the main fuse each charger may use now.

Per phase, the household draw is the grid current minus what the add-on's own
chargers draw on that phase (their own per-phase readings; a charger without a
fresh reading counts as 0 A, so the household looks larger and the headroom
smaller, never larger). An export (a negative household) counts as 0 A: room
from solar is not counted on to protect the fuse. The headroom per phase is
``main_fuse_a - safety_margin_a - household``.

The smallest headroom of any phase is shared equally between the chargers with
a running session. A charger whose share is below its minimum current is paused
by the budget (0 A, session kept) and the others share again; the last charger
in configuration order gives way first. A charger without a session is given
what it would get if its session started now, so a new session never starts
above the budget.

A charger's effective limit is the lowest of what was asked (0 while the user
paused), its own maximum and its share; ``limited_by`` names which one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class SiteState(StrEnum):
    """What the budget does now, as ``GET /api/site`` and the site's sensor show it."""

    OFF = "off"
    OK = "ok"
    LIMITED = "limited"
    FAILSAFE = "failsafe"


class LimitedBy(StrEnum):
    """Which cap is the lowest for a charger."""

    USER = "user"
    BUDGET = "budget"
    FAILSAFE = "failsafe"
    CHARGER = "charger"


@dataclass(frozen=True, kw_only=True)
class SiteRules:
    """The site options that decide the budget (see DOCS.md, option ``site``)."""

    main_fuse_a: float
    safety_margin_a: float = 1.0
    failsafe_a: float = 6.0


@dataclass(frozen=True, kw_only=True)
class ChargerLoad:
    """One charger as the budget sees it: whether a session runs, what it draws per phase, its limits."""

    charger_id: str
    session: bool
    phase_currents_a: tuple[float, ...] = ()
    asked_a: float
    max_current_a: float
    min_current_a: float = 6.0


@dataclass(frozen=True, kw_only=True)
class Share:
    """A charger's share of the budget: ``budget_a`` (0 = paused by the budget) and the effective limit."""

    charger_id: str
    budget_a: float
    effective_a: float
    limited_by: LimitedBy


@dataclass(frozen=True, kw_only=True)
class Budget:
    """The budget now: per-phase figures (None in failsafe), the state and each charger's share."""

    state: SiteState
    household_a: tuple[float, ...] | None
    headroom_a: tuple[float, ...] | None
    shares: dict[str, Share]


def floor_tenth(amps: float) -> float:
    """Round down to 0.1 A (a share is never rounded up)."""
    return math.floor(max(0.0, amps) * 10 + 1e-9) / 10


def effective_share(load: ChargerLoad, budget_a: float, budget_kind: LimitedBy) -> Share:
    """The charger's effective limit under a budget cap, and which cap is the lowest (ties name the user)."""
    caps = ((load.asked_a, LimitedBy.USER), (float(load.max_current_a), LimitedBy.CHARGER), (budget_a, budget_kind))
    effective, limited_by = min(caps, key=lambda cap: cap[0])
    return Share(charger_id=load.charger_id, budget_a=budget_a, effective_a=effective, limited_by=limited_by)


def _draw(loads: Sequence[ChargerLoad], phases: int) -> list[float]:
    draw = [0.0] * phases
    for load in loads:
        for phase, amps in enumerate(load.phase_currents_a[:phases]):
            if math.isfinite(amps) and amps > 0:
                draw[phase] += amps
    return draw


def _shares(room_a: float, loads: Sequence[ChargerLoad]) -> dict[str, float]:
    """Share ``room_a`` equally between the chargers with a session, pausing the last ones that would get too little."""
    running = [load for load in loads if load.session]
    shares: dict[str, float] = {}
    while running:
        share = floor_tenth(room_a / len(running))
        short = [load for load in running if share < load.min_current_a]
        if not short:
            break
        shares[running[-1].charger_id] = 0.0  # the last configured gives way first
        running = running[:-1]
    for load in running:
        shares[load.charger_id] = floor_tenth(room_a / len(running))
    newcomer = floor_tenth(room_a / (len(running) + 1))
    for load in loads:
        if not load.session:
            shares[load.charger_id] = newcomer if newcomer >= load.min_current_a else 0.0
    return shares


def allocate(rules: SiteRules | None, grid_a: Sequence[float] | None, loads: Sequence[ChargerLoad]) -> Budget:
    """Each charger's share: unlimited without rules (``off``), ``failsafe_a`` each without a grid reading."""
    if rules is None:
        shares = {load.charger_id: effective_share(load, math.inf, LimitedBy.BUDGET) for load in loads}
        return Budget(state=SiteState.OFF, household_a=None, headroom_a=None, shares=shares)
    if grid_a is None:
        shares = {load.charger_id: effective_share(load, rules.failsafe_a, LimitedBy.FAILSAFE) for load in loads}
        return Budget(state=SiteState.FAILSAFE, household_a=None, headroom_a=None, shares=shares)
    draw = _draw(loads, len(grid_a))
    household = tuple(round(max(0.0, grid - own), 2) for grid, own in zip(grid_a, draw, strict=True))
    headroom = tuple(round(rules.main_fuse_a - rules.safety_margin_a - used, 2) for used in household)
    budget = _shares(max(0.0, min(headroom)), loads)
    shares = {load.charger_id: effective_share(load, budget[load.charger_id], LimitedBy.BUDGET) for load in loads}
    limited = any(shares[load.charger_id].limited_by is LimitedBy.BUDGET for load in loads if load.session)
    state = SiteState.LIMITED if limited else SiteState.OK
    return Budget(state=state, household_a=household, headroom_a=headroom, shares=shares)

"""The grid meter, read from Home Assistant states: parsed at the edge into bounded, finite readings.

A state is what Home Assistant's WebSocket API gives for an entity (``get_states``,
or ``new_state`` of a ``state_changed`` or ``state_reported`` event): ``state``, the
``unit_of_measurement`` attribute and ``last_reported``, the time Home Assistant last
received a value from the meter (it also moves when a meter reports the same value
again). A reading's age counts from ``last_reported``, never from when the add-on saw it.

Anything else is refused here, with the reason: ``unavailable``, ``unknown``, text
that is no number, NaN or infinity, a value beyond :data:`MAX_PHASE_CURRENT_A` or
:data:`MAX_GRID_POWER_W`, a unit that is not one of current's or power's, or a time
without a time zone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

#: Nominal phase voltage used to turn grid power into current.
NOMINAL_VOLTAGE_V = 230.0
#: The largest phase current a home meter can plausibly report; beyond it the reading is refused.
MAX_PHASE_CURRENT_A = 2000.0
#: The largest grid power (import or export) a home meter can plausibly report.
MAX_GRID_POWER_W = 1_000_000.0

Quantity = Literal["current", "power"]
_SCALE: dict[Quantity, dict[str, float]] = {
    "current": {"A": 1.0, "mA": 0.001},
    "power": {"W": 1.0, "kW": 1000.0, "MW": 1_000_000.0},
}
_BOUND: dict[Quantity, float] = {"current": MAX_PHASE_CURRENT_A, "power": MAX_GRID_POWER_W}


@dataclass(frozen=True, kw_only=True)
class Reading:
    """One meter value in A or W, and when Home Assistant last received it (UTC)."""

    value: float
    reported_at: datetime


@dataclass(frozen=True, kw_only=True)
class Refused:
    """A state that gives no usable reading, and why (for the log and ``GET /api/site``)."""

    reason: str


def _time(raw: object) -> datetime | None:
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def parse_state(state: Mapping[str, Any] | None, quantity: Quantity) -> Reading | Refused:
    """A Home Assistant state as a reading in A (``current``) or W (``power``), or why it cannot be used."""
    if not isinstance(state, Mapping):
        return Refused(reason="no state")
    raw = state.get("state")
    if raw in ("unavailable", "unknown", None):
        return Refused(reason=str(raw or "no state"))
    attributes = state.get("attributes")
    unit = attributes.get("unit_of_measurement") if isinstance(attributes, Mapping) else None
    scale = _SCALE[quantity].get(unit if isinstance(unit, str) else "A" if quantity == "current" else "W")
    if scale is None:
        return Refused(reason=f"unit {str(unit)[:16]!r} is not one of {', '.join(_SCALE[quantity])}")
    try:
        value = float(str(raw)[:32]) * scale
    except ValueError:
        return Refused(reason=f"state {str(raw)[:16]!r} is not a number")
    if not math.isfinite(value) or abs(value) > _BOUND[quantity]:
        return Refused(reason=f"{quantity} {str(raw)[:16]} is beyond what a home meter reports")
    reported_at = _time(state.get("last_reported")) or _time(state.get("last_updated"))
    if reported_at is None:
        return Refused(reason="no last_reported time with a time zone")
    return Reading(value=value, reported_at=reported_at)


@dataclass(frozen=True, kw_only=True)
class GridView:
    """What the meter says now: grid current per phase (None while it cannot be used) and why not."""

    phase_currents_a: tuple[float, ...] | None
    age_s: float | None
    problem: str | None = None


class GridMeter:
    """The latest reading of each configured entity; :meth:`view` says what they mean now.

    With ``phase_entities`` (one to three, L1..L3) the grid current per phase is
    read directly. With ``power_entity`` the grid power in W is spread evenly
    over ``phases`` phases at :data:`NOMINAL_VOLTAGE_V`. One entity that is
    unavailable, unknown, refused or older than ``stale_after_s`` makes the whole
    view unusable (the site then runs in failsafe).
    """

    def __init__(
        self,
        *,
        phase_entities: Sequence[str] = (),
        power_entity: str | None = None,
        stale_after_s: float,
        phases: int = 3,
    ) -> None:
        if bool(phase_entities) == (power_entity is not None):
            raise ValueError("give either phase entities or a power entity")
        self.entities: tuple[str, ...] = tuple(phase_entities) or (str(power_entity),)
        self._quantity: Quantity = "current" if phase_entities else "power"
        self._phases = phases
        self.stale_after_s = stale_after_s
        self._latest: dict[str, Reading | Refused] = {}

    def observe(self, entity_id: str, state: Mapping[str, Any] | None) -> Reading | Refused | None:
        """Take a state of one of our entities; returns what it became (None for another entity)."""
        if entity_id not in self.entities:
            return None
        parsed = parse_state(state, self._quantity)
        previous = self._latest.get(entity_id)
        if isinstance(parsed, Reading) and isinstance(previous, Reading) and parsed.reported_at < previous.reported_at:
            return previous  # an older state that arrived late never replaces a newer one
        self._latest[entity_id] = parsed
        return parsed

    def next_stale_at(self) -> datetime | None:
        """When the oldest current reading turns stale (to look again then), or None."""
        readings = [r for r in self._latest.values() if isinstance(r, Reading)]
        if not readings:
            return None
        oldest = min(r.reported_at for r in readings)
        return oldest + timedelta(seconds=self.stale_after_s)

    def view(self, now: datetime) -> GridView:
        """The grid current per phase now, or None with the reason (missing, refused or stale)."""
        readings: list[Reading] = []
        for entity_id in self.entities:
            latest = self._latest.get(entity_id)
            if latest is None:
                return GridView(phase_currents_a=None, age_s=None, problem=f"no reading of {entity_id} yet")
            if isinstance(latest, Refused):
                return GridView(phase_currents_a=None, age_s=None, problem=f"{entity_id}: {latest.reason}")
            readings.append(latest)
        age_s = max(0.0, max((now - r.reported_at).total_seconds() for r in readings))
        if age_s > self.stale_after_s:
            return GridView(phase_currents_a=None, age_s=age_s, problem=f"the meter has not reported for {age_s:.0f} s")
        if self._quantity == "current":
            return GridView(phase_currents_a=tuple(r.value for r in readings), age_s=age_s)
        per_phase = readings[0].value / NOMINAL_VOLTAGE_V / self._phases
        return GridView(phase_currents_a=(per_phase,) * self._phases, age_s=age_s)

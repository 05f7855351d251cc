"""What a charger draws per phase, as the budget counts it, while its limit changes under a lagging meter.

The household is the grid current minus what the chargers draw. A grid meter
reports every second or two; a charger reports its current every meter interval
(10 s by default), and a car takes a few seconds (:data:`RAMP_S`) to follow a new
limit. Counted naively, a raise shows up in the grid before the charger's own
reading: the household looks larger by the raise, the budget cuts the charger
back, and its next reading lets it rise again, a loop that wears contactors.

So, for a charger whose enforced limit changed at ``t`` from ``P`` to ``X``, until
one of its own readings arrives after ``t + RAMP_S`` (at most ``settle_s``):

- after a raise, a charger with a session counts as drawing at least ``X`` on
  the phases it used (all three when it drew nothing): what a car that follows the limit draws. If the
  car takes less, the household looks smaller by the difference, for at most
  ``settle_s``; no rise follows in that time (rises wait ``resume_after_s``).
- after a cut, it counts as drawing its reading while the grid reading is older
  than ``t + RAMP_S`` (the grid still shows the old draw), and at most ``X``
  after that. A car that does not follow the cut only makes the household look larger.

Otherwise a charger counts by its own readings, and as 0 A when they are missing
or were received more than the meter's ``stale_after_s`` ago (the household then
looks larger, never smaller). Times are the add-on's clock: when a reading was
received, not the charger's time stamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bmw_wallbox.state import ChargerState

PHASES = ("L1", "L2", "L3")
#: A phase counts as used when the charger reports more than this on it.
IN_USE_A = 0.5
#: How long a car takes to follow a new limit (IEC 61851-1 allows 5 s).
RAMP_S = 5.0


@dataclass(frozen=True, kw_only=True)
class _Change:
    at: datetime
    limit_a: float
    raised: bool


class Draws:
    """Each charger's readings (with when they were received) and its last limit change (see the module docstring)."""

    def __init__(self, *, settle_s: float, stale_after_s: float) -> None:
        self.settle_s = settle_s
        self.stale_after_s = stale_after_s
        self._received: dict[str, tuple[datetime | None, datetime]] = {}
        self._enforced: dict[str, float] = {}
        self._changes: dict[str, _Change] = {}

    def note(self, charger: ChargerState, now: datetime) -> None:
        """Look at the charger now: a new reading (its time of receipt) and a change of its enforced limit."""
        cid = charger.charger_id
        stamp = _updated_at(charger)
        if cid not in self._received or self._received[cid][0] != stamp:
            self._received[cid] = (stamp, now)
        enforced, before = charger.enforced_a, self._enforced.get(charger.charger_id)
        if before is not None and enforced != before:
            self._changes[cid] = _Change(at=now, limit_a=enforced, raised=enforced > before)
        self._enforced[cid] = enforced

    def readings(self, charger: ChargerState, now: datetime) -> tuple[float, ...]:
        """What the charger draws per phase by its own readings; none (0 A) when offline or stale."""
        received = self._received.get(charger.charger_id)
        if not charger.connected or _updated_at(charger) is None or received is None:
            return ()
        if (now - received[1]).total_seconds() > self.stale_after_s:
            return ()
        meters = [evse.meter.current_phases_a for evse in charger.evses.values()]
        return tuple(sum(max(0.0, phases.get(phase, 0.0)) for phases in meters) for phase in PHASES)

    def counted(self, charger: ChargerState, *, now: datetime, grid_at: datetime | None) -> tuple[float, ...]:
        """The per-phase draw to count now, given when the grid reading in use was taken."""
        readings = self.readings(charger, now)
        change = self._changes.get(charger.charger_id)
        if change is None or (now - change.at).total_seconds() >= self.settle_s:
            return readings
        if all(evse.transaction is None for evse in charger.evses.values()):
            return readings  # no session: no car that could follow the limit
        ramped = change.at + timedelta(seconds=RAMP_S)
        if self._received[charger.charger_id][1] >= ramped:
            return readings  # a reading from after the car followed
        if not change.raised:
            grid_followed = grid_at is not None and grid_at >= ramped
            return tuple(min(amps, change.limit_a) for amps in readings) if grid_followed else readings
        current = readings or (0.0,) * len(PHASES)
        used = [amps > IN_USE_A for amps in current]
        if not any(used):
            used = [True] * len(current)
        return tuple(max(amps, change.limit_a) if in_use else amps for amps, in_use in zip(current, used, strict=True))


def _updated_at(charger: ChargerState) -> datetime | None:
    """The time of the charger's latest reading on any EVSE."""
    stamps = [evse.meter.updated_at for evse in charger.evses.values() if evse.meter.updated_at is not None]
    return max(stamps) if stamps else None

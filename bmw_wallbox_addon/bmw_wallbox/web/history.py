"""The last hour of power per charger, kept by the panel so a fresh page shows the chart at once."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from bmw_wallbox.state import ChargerState

#: How much history is kept, in seconds.
WINDOW_S = 3600.0
#: Most points kept per charger (one per second over the window).
MAX_POINTS = 3600

#: (time in ms since the epoch, power in W or None for a gap while offline)
Point = tuple[float, float | None]


class PowerHistory:
    """A one-hour series of (time, power) per charger, fed from state changes.

    A point is added when a new meter reading arrives or the power changes;
    going offline adds a gap (``None``) so the chart does not draw a line
    across the outage. Times are the add-on's clock (``clock`` returns
    seconds, default :func:`time.time`), not the charger's, which may be off.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, window_s: float = WINDOW_S) -> None:
        self._clock = clock
        self._window_s = window_s
        self._series: dict[str, deque[Point]] = {}
        self._seen: dict[str, tuple[datetime | None, float | None, bool]] = {}

    def observe(self, state: ChargerState) -> bool:
        """Take the charger's current power (the sum of its EVSEs') into its series; True when a point was added."""
        meter = state.main_evse.meter
        power_w = state.power_w  # the charger's: the sum of its EVSEs'
        seen = (meter.updated_at, power_w, state.connected)
        if self._seen.get(state.charger_id) == seen:
            return False
        self._seen[state.charger_id] = seen
        series = self._series.get(state.charger_id)
        if not state.connected:
            if series and series[-1][1] is not None:
                self.record(state.charger_id, None)
                return True
            return False
        if power_w is None:
            return False
        self.record(state.charger_id, float(power_w))
        return True

    def record(self, charger_id: str, power_w: float | None, *, at_s: float | None = None) -> None:
        """Add one point: ``power_w`` (None for a gap) at ``at_s`` seconds since the epoch (default now).

        Times only move forward: a point older than the newest one is placed just after it.
        """
        series = self._series.setdefault(charger_id, deque(maxlen=MAX_POINTS))
        at_ms = (self._clock() if at_s is None else at_s) * 1000.0
        if series and series[-1][0] >= at_ms:
            at_ms = series[-1][0] + 0.001  # strictly increasing, so "newer than" never drops a point
        series.append((at_ms, power_w))
        self._prune(series)

    def points(self, charger_id: str, *, after_ms: float | None = None) -> list[Point]:
        """The charger's points of the last hour, oldest first; only those newer than ``after_ms`` if given."""
        series = self._series.get(charger_id)
        if not series:
            return []
        self._prune(series)
        return [p for p in series if after_ms is None or p[0] > after_ms]

    def _prune(self, series: deque[Point]) -> None:
        oldest_ms = (self._clock() - self._window_s) * 1000.0
        while series and series[0][0] < oldest_ms:
            series.popleft()

"""Simulated time, so soak tests can run hours of charging in seconds.

``time_scale`` simulated seconds pass per real second. Every duration in the
simulator (heartbeat interval, meter interval, reboot time, energy integration)
is in simulated seconds; only timeouts that guard a test (``wait_connected``,
``wait_for_call``) and the OCPP response timeout are in real seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any


class SimClock:
    """A monotonic simulated clock with a matching UTC wall clock.

    ``now_s()`` starts at 0.0 when the clock is created; ``utc()`` is the real UTC
    time of creation plus the simulated seconds elapsed, so message timestamps and
    the energy register advance consistently at any ``time_scale``.
    """

    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            msg = f"time_scale must be positive, got {time_scale}"
            raise ValueError(msg)
        self.time_scale = time_scale
        self._real_start = time.monotonic()
        self._wall_start = datetime.now(UTC)

    def now_s(self) -> float:
        """Return simulated seconds since the clock was created."""
        return (time.monotonic() - self._real_start) * self.time_scale

    def utc(self, at_s: float | None = None) -> datetime:
        """Return the simulated UTC time at simulated second ``at_s`` (default: now)."""
        at = self.now_s() if at_s is None else at_s
        return self._wall_start + timedelta(seconds=at)

    def iso(self, at_s: float | None = None) -> str:
        """Return ``utc(at_s)`` as an OCPP timestamp, e.g. ``2025-01-31T12:00:00.000Z``."""
        return self.utc(at_s).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def to_sim_s(self, when: datetime) -> float:
        """Return the simulated second at which the wall clock shows ``when``."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return (when - self._wall_start).total_seconds()

    def real_s(self, sim_s: float) -> float:
        """Return how many real seconds ``sim_s`` simulated seconds take."""
        return max(sim_s, 0.0) / self.time_scale

    async def sleep(self, sim_s: float) -> None:
        """Sleep for ``sim_s`` simulated seconds."""
        await asyncio.sleep(self.real_s(sim_s))

    async def wait_event(self, event: asyncio.Event, sim_s: float | None) -> bool:
        """Wait until ``event`` is set or ``sim_s`` simulated seconds passed (None: forever).

        Returns True when the event was set.
        """
        if event.is_set():
            return True
        if sim_s is None:
            await event.wait()
            return True
        try:
            async with asyncio.timeout(self.real_s(sim_s)):
                await event.wait()
        except TimeoutError:
            return False
        return True


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until all ended, cancelling again any that swallowed it.

    On Python 3.11 ``asyncio.wait_for`` (used by the OCPP library's ``call()``)
    drops a cancellation that coincides with the awaited result.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)


def parse_iso(value: str) -> datetime:
    """Parse an OCPP timestamp (``Z`` or offset suffix) into an aware datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)

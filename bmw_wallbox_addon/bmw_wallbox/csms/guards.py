"""Defences against peers that misbehave at will: password guessing, frame floods and log floods.

Both are decisions without I/O (a timer aside), kept apart from the server and
connection code that consult them.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bmw_wallbox.logbudget import LogBudget

Logger = logging.Logger | logging.LoggerAdapter[Any]

__all__ = ["AuthThrottle", "InflowLimit", "LogBudget"]


@dataclass
class _Bucket:
    tokens: float
    updated: float


class AuthThrottle:
    """Slows down password guessing: a token bucket of wrong passwords per remote address.

    Each address may get ``burst`` passwords wrong at once, then one more every
    ``refill_s`` seconds; while its bucket is empty, attempts are refused (429)
    before the password is even checked. A right password forgets the address,
    so a charger refused because of a neighbour's guesses connects at its next
    attempt after at most ``refill_s`` seconds. At most ``max_addresses``
    addresses are tracked (the least recently seen is forgotten first).
    """

    def __init__(
        self,
        *,
        burst: int = 5,
        refill_s: float = 2.0,
        max_addresses: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.refill_s = refill_s
        self._max_addresses = max_addresses
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _bucket(self, address: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = self._buckets[address] = _Bucket(tokens=float(self.burst), updated=now)
            if len(self._buckets) > self._max_addresses:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) / self.refill_s)
            bucket.updated = now
            self._buckets.move_to_end(address)
        return bucket

    def retry_after_s(self, address: str) -> float:
        """0 when this address may try a password now, else the seconds until it may."""
        bucket = self._bucket(address)
        return 0.0 if bucket.tokens >= 1.0 else (1.0 - bucket.tokens) * self.refill_s

    def failed(self, address: str) -> None:
        """Count a wrong or missing password."""
        self._bucket(address).tokens -= 1.0

    def succeeded(self, address: str) -> None:
        """A right password: the address starts afresh."""
        self._buckets.pop(address, None)

    def __len__(self) -> int:
        return len(self._buckets)


#: Frames a second one connection may send on average, and at once (a device-model report, an offline queue).
INFLOW_PER_S = 100.0
INFLOW_BURST = 300


class InflowLimit:
    """A token bucket of frames for one connection: how long to wait before handling the next frame.

    ``burst`` frames pass at once, then ``per_s`` a second. A frame beyond
    waits until its turn (:meth:`delay_s` says how long). A charger that waits
    for each answer before its next message, as OCPP asks, is never slowed;
    one that floods is read at ``per_s`` frames a second, so its work stays
    bounded (about a tenth of a core for MeterValues) and the rest of the add-on
    keeps answering. Nothing is dropped: the peer's frames wait in its socket
    (TCP back-pressure slows the sender).
    """

    def __init__(self, *, per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_s = per_s
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def delay_s(self) -> float:
        """Take one frame's turn; the seconds to wait before handling it (0 within the budget)."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._per_s)
        self._updated = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self._per_s

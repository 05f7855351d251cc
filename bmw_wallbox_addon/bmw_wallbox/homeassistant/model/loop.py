"""The one publish loop of every transport: only what changed, as fast as the transport's rules allow.

:class:`PublishQueue` decides what to send and when, without I/O, so its rules
are tested with a fake clock. :class:`PublishLoop` feeds it from the state hub
and sends through the transport's ``send``; the transport gives its rules
(:class:`PublishRules`) and its rendering (key -> payload per charger).

Rules:

- A key (entity id, topic) whose payload equals what was last sent is not sent.
- A key is sent at most once per ``min_interval_s`` (REST: 1 s; MQTT: 0, no
  limit); newer payloads replace waiting ones, so the latest value wins and
  nothing piles up: the queue holds at most one payload per key.
- When an ``immediate`` key changes (connected, charging, status), every
  change of that charger goes out at once.
- While the transport is unreachable (``send`` raises :class:`TransportDownError`)
  the queue keeps the latest payloads and sending is retried with a backoff
  (``retry_min_s`` 1 s doubling to ``retry_max_s`` 30 s); :meth:`PublishLoop.send_all_again`
  (a reconnect, Home Assistant restarted) sends everything again at once.
- Every ``refresh_s`` (60 s) each charger is rendered again even without a
  change in the hub, so values that move without one (``last_seen``) are at most that old.
- One loop sends, so an older payload never overtakes a newer one on the wire.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from bmw_wallbox.hub import StateHub
from bmw_wallbox.state import Save

_LOGGER = logging.getLogger(__name__)

P = TypeVar("P")


class TransportDownError(Exception):
    """The transport cannot send now (not connected, unreachable, token refused); try again later."""


class TransportRefusedError(Exception):
    """The transport refused one payload as invalid; it will not work again."""


@dataclass(frozen=True, kw_only=True)
class PublishRules:
    """A transport's rate rules; ``name`` says in the log what is sent (``Posting states to Home Assistant``)."""

    name: str
    min_interval_s: float = 0.0
    retry_min_s: float = 1.0
    retry_max_s: float = 30.0
    refresh_s: float = 60.0
    outage_level: int = logging.WARNING


@dataclass(frozen=True, kw_only=True)
class Rendered(Generic[P]):
    """One key's payload now; ``immediate`` sends the charger's other changes at once too."""

    payload: P
    immediate: bool = False


@dataclass(frozen=True, kw_only=True)
class _Waiting(Generic[P]):
    payload: P
    urgent: bool


class PublishQueue(Generic[P]):
    """What to send and when (see the module docstring); times are monotonic seconds."""

    def __init__(self, *, min_interval_s: float = 0.0) -> None:
        self.min_interval_s = min_interval_s
        self._sent: dict[str, P] = {}
        self._sent_at: dict[str, float] = {}
        self._waiting: dict[str, _Waiting[P]] = {}

    def offer(self, rendered: Mapping[str, Rendered[P]]) -> None:
        """Take one charger's freshly rendered keys; queue those that differ from what was sent."""
        changed = {key: item for key, item in rendered.items() if self._sent.get(key) != item.payload}
        urgent = any(item.immediate for item in changed.values())
        for key, item in changed.items():
            previous = self._waiting.get(key)
            self._waiting[key] = _Waiting(
                payload=item.payload, urgent=urgent or (previous is not None and previous.urgent)
            )
        for key in rendered.keys() - changed.keys():
            self._waiting.pop(key, None)  # changed back to what was sent

    def due(self, now: float) -> list[tuple[str, P]]:
        """The keys to send now, urgent ones first."""
        ready = [
            (not waiting.urgent, key, waiting.payload)
            for key, waiting in self._waiting.items()
            if waiting.urgent or now >= self._sent_at.get(key, -math.inf) + self.min_interval_s
        ]
        return [(key, payload) for _, key, payload in sorted(ready, key=lambda item: item[0])]

    def next_due_at(self) -> float | None:
        """When the next waiting key may be sent; None when nothing waits."""
        if not self._waiting:
            return None
        return min(
            -math.inf if waiting.urgent else self._sent_at.get(key, -math.inf) + self.min_interval_s
            for key, waiting in self._waiting.items()
        )

    def sent(self, key: str, payload: P, now: float) -> None:
        """Record a successful send; a newer payload that arrived meanwhile stays queued."""
        self._sent[key] = payload
        self._sent_at[key] = now
        waiting = self._waiting.get(key)
        if waiting is not None and waiting.payload == payload:
            del self._waiting[key]

    def drop(self, key: str) -> None:
        """Give up on the waiting payload of one key (the transport refused it)."""
        self._waiting.pop(key, None)

    def forget_sent(self) -> None:
        """The other side lost what it had (restart, reconnect): everything must be sent again, at once."""
        self._sent.clear()
        self._sent_at.clear()

    @property
    def waiting(self) -> int:
        """How many keys wait to be sent."""
        return len(self._waiting)


class PublishLoop(Generic[P]):
    """Keeps a transport's view of every charger current (see the module docstring)."""

    def __init__(
        self,
        hub: StateHub,
        *,
        chargers: Iterable[str],
        render: Callable[[str], Mapping[str, Rendered[P]]],
        send: Callable[[str, P], Awaitable[None]],
        rules: PublishRules,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hub = hub
        self._chargers = set(chargers)
        self._render = render
        self._send = send
        self._rules = rules
        self._clock = clock
        self.queue: PublishQueue[P] = PublishQueue(min_interval_s=rules.min_interval_s)
        self._refresh_at = clock() + rules.refresh_s
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._failing = False
        self._retry_at = -math.inf
        self._retry_s = rules.retry_min_s
        self._unsubscribe: Callable[[], None] | None = None

    def attach(self) -> None:
        """Follow the hub and queue every charger once."""
        self._unsubscribe = self._hub.subscribe(self._on_changed)
        self.send_all_again()

    def detach(self) -> None:
        """Stop following the hub."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_changed(self, charger_id: str, save: Save) -> None:
        if charger_id in self._chargers:
            self.changed(charger_id)

    def changed(self, key: str) -> None:
        """Render ``key`` (a charger id, or another of the loop's keys such as the site) again soon."""
        self._dirty.add(key)
        self._wake.set()

    def send_all_again(self) -> None:
        """Send every key again as soon as possible (the other side restarted or we reconnected)."""
        self.queue.forget_sent()
        self._dirty.update(self._chargers)
        self._retry_at = -math.inf
        self._wake.set()

    async def run(self) -> None:
        """Send changes until cancelled."""
        while True:
            self._wake.clear()
            await self.publish_due()
            await self._sleep()

    async def _sleep(self) -> None:
        next_at = self.queue.next_due_at()
        if self._failing:
            next_at = self._retry_at if next_at is None else max(next_at, self._retry_at)
        next_at = self._refresh_at if next_at is None else min(next_at, self._refresh_at)
        try:
            async with asyncio.timeout(max(0.0, next_at - self._clock())):
                await self._wake.wait()
        except TimeoutError:
            pass

    def _render_dirty(self) -> None:
        if self._clock() >= self._refresh_at:
            self._refresh_at = self._clock() + self._rules.refresh_s
            self._dirty.update(self._chargers)
        while self._dirty:
            self.queue.offer(self._render(self._dirty.pop()))

    async def publish_due(self) -> None:
        """Render what changed and send what is due now (nothing while in a retry pause)."""
        self._render_dirty()
        if self._failing and self._clock() < self._retry_at:
            return
        for key, payload in self.queue.due(self._clock()):
            try:
                await self._send(key, payload)
            except TransportDownError as err:
                self._fail(err)
                return
            except TransportRefusedError as err:
                _LOGGER.warning("%s: %s was refused: %s", self._rules.name, key, err)
                self.queue.drop(key)
                continue
            self.queue.sent(key, payload, self._clock())
        if self._failing:
            _LOGGER.info("%s works again", self._rules.name)
        self._failing = False
        self._retry_s = self._rules.retry_min_s

    def _fail(self, err: Exception) -> None:
        if not self._failing:
            _LOGGER.log(
                self._rules.outage_level,
                "%s failed (%s); keeping the latest values and retrying",
                self._rules.name,
                err,
            )
        self._failing = True
        self._retry_at = self._clock() + self._retry_s
        self._retry_s = min(self._retry_s * 2, self._rules.retry_max_s)

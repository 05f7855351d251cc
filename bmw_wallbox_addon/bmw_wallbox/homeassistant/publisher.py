"""Posting every charger's entities to Home Assistant: only what changed, at most once a second each.

:class:`PublishQueue` decides what to post and when, without I/O, so its rules
are tested with a fake clock. :class:`StatePublisher` feeds it from the state
hub and does the posting through :class:`CoreRestClient`.

Rules:

- An entity whose state and attributes equal what was last posted is not posted.
- An entity is posted at most once per ``min_interval_s`` (1 s); newer values
  replace waiting ones, so the latest value wins and nothing piles up: the
  queue holds at most one state per entity.
- When an ``immediate`` entity changes (connected, charging, status), every
  change of that charger goes out at once.
- While Home Assistant is unreachable the queue keeps the latest values and
  posting is retried with a backoff (1 s doubling to 30 s); every
  (re)connect of the WebSocket and ``homeassistant_started`` re-post everything.
- Every ``refresh_s`` (60 s) each charger is rendered again even without a
  change in the hub, so values that move without one (``last_seen``, which
  every frame updates) are at most that old.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bmw_wallbox.homeassistant.entities import EntityDescription, EntityState, render, render_offline
from bmw_wallbox.homeassistant.rest import (
    CoreRestClient,
    HomeAssistantAuthError,
    HomeAssistantConnectionError,
    HomeAssistantRequestError,
)
from bmw_wallbox.hub import StateHub
from bmw_wallbox.state import Save

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class _Waiting:
    state: EntityState
    urgent: bool


class PublishQueue:
    """What to post to Home Assistant and when (see the module docstring); times are monotonic seconds."""

    def __init__(self, *, min_interval_s: float = 1.0) -> None:
        self.min_interval_s = min_interval_s
        self._posted: dict[str, EntityState] = {}
        self._posted_at: dict[str, float] = {}
        self._waiting: dict[str, _Waiting] = {}

    def offer(self, rendered: Mapping[str, tuple[EntityDescription, EntityState]]) -> None:
        """Take one charger's freshly rendered entities; queue those that differ from what Core has."""
        changed = {eid: state for eid, (_, state) in rendered.items() if self._posted.get(eid) != state}
        urgent = any(rendered[eid][0].immediate for eid in changed)
        for eid, state in changed.items():
            previous = self._waiting.get(eid)
            self._waiting[eid] = _Waiting(state=state, urgent=urgent or (previous is not None and previous.urgent))
        for eid in rendered.keys() - changed.keys():
            self._waiting.pop(eid, None)  # changed back to what Core already shows

    def due(self, now: float) -> list[tuple[str, EntityState]]:
        """The entities to post now, urgent ones first."""
        ready = [
            (not waiting.urgent, eid, waiting.state)
            for eid, waiting in self._waiting.items()
            if waiting.urgent or now >= self._posted_at.get(eid, -math.inf) + self.min_interval_s
        ]
        return [(eid, state) for _, eid, state in sorted(ready, key=lambda item: item[0])]

    def next_due_at(self) -> float | None:
        """When the next waiting entity may be posted; None when nothing waits."""
        if not self._waiting:
            return None
        return min(
            -math.inf if waiting.urgent else self._posted_at.get(eid, -math.inf) + self.min_interval_s
            for eid, waiting in self._waiting.items()
        )

    def posted(self, entity_id: str, state: EntityState, now: float) -> None:
        """Record a successful post; a newer value that arrived meanwhile stays queued."""
        self._posted[entity_id] = state
        self._posted_at[entity_id] = now
        waiting = self._waiting.get(entity_id)
        if waiting is not None and waiting.state == state:
            del self._waiting[entity_id]

    def drop(self, entity_id: str) -> None:
        """Give up on the waiting value of one entity (Core refused it as invalid)."""
        self._waiting.pop(entity_id, None)

    def forget_posted(self) -> None:
        """Core lost its states (restart): everything must be posted again, at once."""
        self._posted.clear()
        self._posted_at.clear()

    @property
    def waiting(self) -> int:
        """How many entities wait to be posted."""
        return len(self._waiting)


class StatePublisher:
    """Keeps Home Assistant's view of every charger current (see the module docstring)."""

    def __init__(
        self,
        hub: StateHub,
        rest: CoreRestClient,
        *,
        slugs: Mapping[str, str],
        min_interval_s: float = 1.0,
        retry_max_s: float = 30.0,
        refresh_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hub = hub
        self._rest = rest
        self._slugs = dict(slugs)
        self._queue = PublishQueue(min_interval_s=min_interval_s)
        self._retry_max_s = retry_max_s
        self._refresh_s = refresh_s
        self._clock = clock
        self._refresh_at = clock() + refresh_s
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._failing = False
        self._retry_at = -math.inf
        self._retry_s = 1.0
        self._unsubscribe: Callable[[], None] | None = None

    def attach(self) -> None:
        """Follow the hub and queue every charger once."""
        self._unsubscribe = self._hub.subscribe(self._on_changed)
        self.repost_all()

    def detach(self) -> None:
        """Stop following the hub."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_changed(self, charger_id: str, save: Save) -> None:
        if charger_id in self._slugs:
            self._dirty.add(charger_id)
            self._wake.set()

    def repost_all(self) -> None:
        """Post every entity again as soon as possible (Core restarted or the WebSocket reconnected)."""
        self._queue.forget_posted()
        self._dirty.update(self._slugs)
        self._retry_at = -math.inf
        self._wake.set()

    async def run(self) -> None:
        """Post changes until cancelled."""
        while True:
            self._wake.clear()
            await self.publish_due()
            await self._sleep()

    async def _sleep(self) -> None:
        now = self._clock()
        next_at = self._queue.next_due_at()
        if self._failing:
            next_at = self._retry_at if next_at is None else max(next_at, self._retry_at)
        next_at = self._refresh_at if next_at is None else min(next_at, self._refresh_at)
        timeout = max(0.0, next_at - now)
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass

    def _render_dirty(self) -> None:
        if self._clock() >= self._refresh_at:
            self._refresh_at = self._clock() + self._refresh_s
            self._dirty.update(self._slugs)
        while self._dirty:
            charger_id = self._dirty.pop()
            charger = self._hub.chargers.get(charger_id)
            if charger is not None:
                self._queue.offer(render(charger, self._slugs[charger_id]))

    async def publish_due(self) -> None:
        """Render what changed and post what is due now (nothing while in a retry pause)."""
        self._render_dirty()
        if self._failing and self._clock() < self._retry_at:
            return
        for entity_id, state in self._queue.due(self._clock()):
            try:
                await self._rest.post_state(entity_id, state.to_json())
            except (HomeAssistantConnectionError, HomeAssistantAuthError) as err:
                self._fail(err)
                return
            except HomeAssistantRequestError as err:
                _LOGGER.warning("Home Assistant refused the state of %s: %s", entity_id, err)
                self._queue.drop(entity_id)
                continue
            self._queue.posted(entity_id, state, self._clock())
        if self._failing:
            _LOGGER.info("Home Assistant accepts states again")
        self._failing = False
        self._retry_s = 1.0

    def _fail(self, err: Exception) -> None:
        if not self._failing:
            _LOGGER.warning("Posting states to Home Assistant failed (%s); keeping the latest values and retrying", err)
        self._failing = True
        self._retry_at = self._clock() + self._retry_s
        self._retry_s = min(self._retry_s * 2, self._retry_max_s)

    async def publish_offline(self, *, timeout_s: float = 3.0) -> None:
        """Best effort at shutdown: show every entity ``unavailable`` (Core otherwise keeps stale values)."""
        try:
            async with asyncio.timeout(timeout_s):
                for charger_id, slug in self._slugs.items():
                    charger = self._hub.chargers[charger_id]
                    for entity_id, state in render_offline(charger, slug).items():
                        await self._rest.post_state(entity_id, state.to_json())
        except (TimeoutError, HomeAssistantConnectionError, HomeAssistantAuthError, HomeAssistantRequestError) as err:
            _LOGGER.debug("Could not mark the entities unavailable at shutdown: %s", err)

"""The wallbox minus the network: state, outbox, call log, and what handlers need.

One :class:`Station` lives as long as the simulator; connections come and go.
Requests the wallbox sends go through an ordered outbox that survives offline
periods (``QueueAllMessages=true``): they are delivered in order, one at a time,
once a connection is up; TransactionEvents get ``MessageAttempts`` tries.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from bmw_wallbox.simulator._lib import OCPPError, OcppRequest
from bmw_wallbox.simulator.auth import LocalAuthList
from bmw_wallbox.simulator.clock import SimClock
from bmw_wallbox.simulator.device_model import DeviceModel
from bmw_wallbox.simulator.evse import Evse
from bmw_wallbox.simulator.inventory import Identity
from bmw_wallbox.simulator.personality import Personality
from bmw_wallbox.simulator.transfers import Transfers

Send = Callable[[OcppRequest], Awaitable[Any]]


class ChargerLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every log line with the simulated charger's id."""

    def process(self, msg: str, kwargs: MutableMapping[str, Any]) -> tuple[str, MutableMapping[str, Any]]:
        return f"[sim {self.extra['charger'] if self.extra else '?'}] {msg}", kwargs


class FrameLog(ChargerLog):
    """For the OCPP library, which logs every frame at INFO: frames go to DEBUG, the rest unchanged."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(logging.DEBUG if level == logging.INFO else level, msg, *args, **kwargs)


@dataclass(eq=False)
class _Outgoing:
    request: OcppRequest
    answered: asyncio.Future[Any]
    attempts: int = 0


#: Entries kept in each of the ``sent`` and ``received`` logs; older half dropped beyond.
LOG_LIMIT = 10_000


@dataclass(eq=False)
class _CallLog:
    """Messages in order (the newest ``LOG_LIMIT``), per-action read cursors for waiters, all-time counts."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    cursors: dict[str, int] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    signal: asyncio.Event = field(default_factory=asyncio.Event)

    def append(self, action: str, payload: dict[str, Any]) -> None:
        self.calls.append((action, payload))
        self.counts[action] += 1
        if len(self.calls) > LOG_LIMIT:
            dropped = len(self.calls) // 2
            del self.calls[:dropped]
            self.cursors = {name: max(cursor - dropped, 0) for name, cursor in self.cursors.items()}
        self.signal.set()
        self.signal = asyncio.Event()


class Station:
    """State, device model, outbox and call log of one simulated wallbox.

    ``online`` is True while a booted connection is up. Handlers queue what they
    trigger with :meth:`after_response`; the charge point calls :meth:`release`
    once the answer is on the wire.
    """

    def __init__(
        self,
        *,
        clock: SimClock,
        identity: Identity,
        personality: Personality,
        variables: DeviceModel,
        evses: list[Evse],
        log: ChargerLog,
        local_list: LocalAuthList | None = None,
    ) -> None:
        self.clock = clock
        self.identity = identity
        self.personality = personality
        self.variables = variables
        #: Every EVSE, in id order; ``evse`` is the first (the only one of most chargers).
        self.evses = evses
        self.evse = evses[0]
        if len(evses) > 1:
            for each in evses:
                each.share_a = functools.partial(self.share_a, each)
        self.log = log
        #: The local authorization list (SendLocalList), and each token presented: (kind, status, decided by).
        self.local_list = local_list or LocalAuthList()
        self.presented: list[tuple[str, str, str]] = []
        self.silent = False
        #: Called (synchronously) when a Reset should reboot the wallbox now.
        self.on_reset: Callable[[], None] = lambda: None
        self._received = _CallLog()
        self._sent = _CallLog()
        self._outbox: deque[_Outgoing] = deque()
        self._outbox_ready = asyncio.Event()
        self._outbox_idle = asyncio.Event()
        self._outbox_idle.set()
        self._deferred: list[Callable[[], None]] = []
        self._wake = asyncio.Event()
        self._reset_scheduled = False
        #: GetLog uploads and UpdateFirmware downloads (see :mod:`.transfers`).
        self.transfers = Transfers(self)

    @property
    def received(self) -> list[tuple[str, dict[str, Any]]]:
        """Every CSMS -> charger call as (action, camelCase payload), in arrival order."""
        return self._received.calls

    @property
    def sent(self) -> list[tuple[str, dict[str, Any]]]:
        """Every charger -> CSMS request as (action, camelCase payload), in sending order."""
        return self._sent.calls

    @property
    def online(self) -> bool:
        """True while a booted connection is up."""
        return bool(self.evse.online)

    def set_online(self, online: bool) -> None:
        """Mark the link up (after boot) or down; waiters on the outbox stop waiting when down."""
        for evse in self.evses:
            evse.online = online
        if online and self._outbox:
            self._outbox_idle.clear()
        if not online:
            self._outbox_idle.set()

    # ---------------------------------------------------------------- call log

    def record_call(self, action: str, payload: dict[str, Any]) -> None:
        """Log an incoming CSMS call (before it is handled or ignored)."""
        self._received.append(action, payload)

    def record_sent(self, action: str, payload: dict[str, Any]) -> None:
        """Log an outgoing request as it goes on the wire."""
        self._sent.append(action, payload)

    def received_count(self, action: str) -> int:
        """Return how many ``action`` calls arrived so far (answered or not; never trimmed)."""
        return self._received.counts[action]

    async def wait_for_call(self, action: str, timeout_s: float, *, after: int | None) -> dict[str, Any]:
        """Return the payload of the first ``action`` call not yet returned (or at index >= ``after``)."""
        start = self._received.cursors.get(action, 0) if after is None else after
        async with asyncio.timeout(timeout_s):
            while True:
                for index in range(start, len(self._received.calls)):
                    name, payload = self._received.calls[index]
                    if name == action:
                        self._received.cursors[action] = index + 1
                        return payload
                start = len(self._received.calls)
                await self._received.signal.wait()

    # ---------------------------------------------------------------- handler support

    def after_response(self, requests: Iterable[OcppRequest] = (), then: Callable[[], None] | None = None) -> None:
        """Queue ``requests`` (and run ``then``) once the current call's answer was sent."""
        pending = list(requests)
        if pending:
            self._deferred.append(lambda: self._post_quietly(pending))
        if then is not None:
            self._deferred.append(then)

    def release(self) -> None:
        """Run what handlers deferred until after their answer (called by the charge point)."""
        deferred, self._deferred = self._deferred, []
        for action in deferred:
            action()

    def _post_quietly(self, requests: list[OcppRequest]) -> None:
        self.post(requests)

    def settings_changed(self) -> None:
        """SetVariables changed something: re-arm the meter interval."""
        for evse in self.evses:
            evse.settings_changed()
        self.wake()

    def evse_by_id(self, evse_id: int | None) -> Evse | None:
        """The EVSE with this id (None for an id the station does not have)."""
        return next((evse for evse in self.evses if evse.config.evse_id == evse_id), None)

    def share_a(self, evse: Evse) -> float | None:
        """What the station maximum leaves for ``evse`` in A: the maximum minus what the other EVSEs draw."""
        limit = evse.profiles.station_max_a(self.clock.now_s())
        if limit is None:
            return None
        return max(0.0, limit - sum(other.meter.current_a for other in self.evses if other is not evse))

    def request_reset(self, *, immediate: bool) -> bool:
        """Reset: reboot after the answer, or (OnIdle during a session) once it ends; False if scheduled."""
        if not immediate and any(evse.transaction is not None for evse in self.evses):
            self._reset_scheduled = True
            return False
        self.after_response(then=self.on_reset)
        return True

    def tx_events_queued(self) -> bool:
        """True while a TransactionEvent waits in the outbox."""
        return any(type(item.request).__name__ == "TransactionEvent" for item in self._outbox)

    # ---------------------------------------------------------------- outbox

    def wake(self) -> None:
        """Tell the clock loop that the state changed (new deadlines may apply)."""
        self._wake.set()

    async def wait_for_wake(self, sim_s: float | None) -> None:
        """Sleep until :meth:`wake` or ``sim_s`` simulated seconds (None: until woken)."""
        await self.clock.wait_event(self._wake, sim_s)
        self._wake.clear()

    def post(self, requests: Iterable[OcppRequest]) -> list[asyncio.Future[Any]]:
        """Queue ``requests`` for delivery; each future gets the CSMS's response (None on failure)."""
        futures = self.enqueue(requests)
        self.wake()
        if self._reset_scheduled and all(evse.transaction is None for evse in self.evses):
            self._reset_scheduled = False
            self.on_reset()
        return futures

    def enqueue(self, requests: Iterable[OcppRequest]) -> list[asyncio.Future[Any]]:
        """Queue ``requests`` without waking the clock loop (used by the clock loop itself)."""
        loop = asyncio.get_running_loop()
        items = [_Outgoing(request, loop.create_future()) for request in requests]
        self._outbox.extend(items)
        if items:
            self._outbox_ready.set()
            if self.online:
                self._outbox_idle.clear()
        return [item.answered for item in items]

    def forget_queue(self) -> int:
        """The process died: drop every queued request (their futures get None); return how many.

        Call only while no connection delivers (after the uplink went down).
        """
        lost = len(self._outbox)
        while self._outbox:
            item = self._outbox.popleft()
            if not item.answered.done():
                item.answered.set_result(None)
        self._outbox_ready.clear()
        self._outbox_idle.set()
        self._reset_scheduled = False
        return lost

    async def drain(self) -> None:
        """Wait until the outbox is empty, or return at once while offline."""
        if self.online:
            await self._outbox_idle.wait()

    async def deliver(self, send: Send) -> None:
        """Send queued requests in order over one connection, until cancelled.

        A CALLERROR answer or a timeout counts as delivered (logged; the future gets
        None), except that a TransactionEvent is retried ``MessageAttempts`` times,
        ``MessageAttemptInterval`` x attempt simulated seconds apart. A request in
        flight when the connection drops stays queued and is sent again.
        """
        while True:
            if not self._outbox:
                self._outbox_idle.set()
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
                continue
            item = self._outbox[0]
            item.attempts += 1
            action = type(item.request).__name__
            try:
                result = await send(item.request)
            except OCPPError as err:
                self.log.warning("CSMS answered %s with a CALLERROR: %s", action, err)
                result = None
            except TimeoutError:
                if action == "TransactionEvent" and item.attempts < self._attempts():
                    self.log.warning("No answer to %s (attempt %d); sending it again", action, item.attempts)
                    await self.clock.sleep(self._attempt_interval_s() * item.attempts)
                    continue
                self.log.warning("No answer to %s after %d attempt(s); dropped", action, item.attempts)
                result = None
            self._outbox.popleft()
            if not item.answered.done():
                item.answered.set_result(result)

    def _attempts(self) -> int:
        return self.variables.int_value("OCPPCommCtrlr", "MessageAttempts", instance="TransactionEvent")

    def _attempt_interval_s(self) -> int:
        return self.variables.int_value("OCPPCommCtrlr", "MessageAttemptInterval", instance="TransactionEvent")

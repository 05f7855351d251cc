"""One charger connection: the OCPP library's charge point plus our framing, tracing and call queue.

The library's ``ChargePoint`` routes frames to the ``@on`` handlers in
:mod:`bmw_wallbox.csms.handlers`. This subclass adds what the library leaves
out: a CALLERROR for every frame it cannot parse, lenient schema checks that
drop vendor quirks instead of the whole message, a trace of every frame, the
translation of call failures into our exceptions, and a call queue in which
user commands go before background calls (:data:`~bmw_wallbox.ports.USER_COMMAND`),
and a budget of frames a second (:class:`~bmw_wallbox.csms.guards.InflowLimit`): a
peer that sends faster is read more slowly.

It uses private parts of ``ocpp`` 2.1.0 (the version pinned in
``requirements.txt``; check them when the pin moves): ``_response_timeout``
(the call timeout, set by :attr:`Connection.response_timeout_s`),
``_response_queue`` (where :meth:`Connection._dispatch` hands answers to the
waiting ``call()``), ``_handle_call`` (the library's handler dispatch) and
``route_map``, and it replaces ``route_message``, which the library's
``start()`` loop awaits once per received frame.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import sys
import uuid
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult
from ocpp.v201 import ChargePoint
from ocpp.v201.enums import Action
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from bmw_wallbox.csms.framing import (
    CALL,
    CALLRESULT,
    Dropped,
    Frame,
    FrameError,
    PayloadError,
    check_frame,
    check_payload,
)
from bmw_wallbox.csms.guards import INFLOW_BURST, INFLOW_PER_S, InflowLimit, LogBudget
from bmw_wallbox.csms.tap import UpstreamTap
from bmw_wallbox.errors import ChargerCallError, ChargerNotConnectedError, ChargerTimeoutError
from bmw_wallbox.hub import StateHub
from bmw_wallbox.logsafe import shown
from bmw_wallbox.ports import USER_COMMAND
from bmw_wallbox.state import ChargerState, Save, utcnow
from bmw_wallbox.trace import Trace

_OCPP_ACTIONS = frozenset(action.value for action in Action)

#: The charger's default ``OCPPCommCtrlr.MessageTimeout``; the timeout of a call.
DEFAULT_RESPONSE_TIMEOUT_S = 30.0
#: The range a charger-reported MessageTimeout is clamped to, in seconds.
MIN_RESPONSE_TIMEOUT_S = 5.0
MAX_RESPONSE_TIMEOUT_S = 120.0
#: What the summary line of held-back warnings about bad frames calls them.
_BAD_FRAMES = "malformed or refused frames"
#: Distinct (action, field) pairs whose schema repairs are logged once each, per connection.
MAX_LOGGED_DROPS = 100
#: Seconds a call may still take an answer that arrived just before its connection closed.
ANSWER_GRACE_S = 1.0
#: Calls of ours whose answer is still awaited, or was given up on, remembered at most.
MAX_PENDING = 64

#: The action of the frame being sent from the current task (a call of ours, or our answer).
_SENDING: ContextVar[str | None] = ContextVar("sending", default=None)


class ChargerLogger(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every log line with the charger id."""

    def process(self, msg: str, kwargs: MutableMapping[str, Any]) -> tuple[str, MutableMapping[str, Any]]:
        return f"[{self.extra['charger'] if self.extra else '?'}] {msg}", kwargs


class CallQueue:
    """One call to the charger at a time; user commands first, then background calls, each in arrival order."""

    def __init__(self) -> None:
        self._busy = False
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self, *, user: bool) -> None:
        """Wait for this task's turn."""
        if not self._busy and not self._waiting:
            self._busy = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (0 if user else 1, next(self._order), turn)
        heapq.heappush(self._waiting, entry)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # the turn was handed to us just as we gave up: pass it on
            elif entry in self._waiting:
                self._waiting.remove(entry)
                heapq.heapify(self._waiting)
            raise

    def release(self) -> None:
        """Hand the turn to the next waiter, if any."""
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)
                return
        self._busy = False


class Connection(ChargePoint):
    """The CSMS side of one open WebSocket to one charger."""

    def __init__(
        self,
        connection: ServerConnection,
        *,
        state: ChargerState,
        hub: StateHub,
        trace: Trace,
        lenient: bool = True,
        response_timeout_s: float = DEFAULT_RESPONSE_TIMEOUT_S,
    ) -> None:
        self.log = ChargerLogger(logging.getLogger("bmw_wallbox.csms"), {"charger": state.charger_id})
        super().__init__(state.charger_id, connection, response_timeout=response_timeout_s, logger=_QUIET)
        self.connection = connection
        self.state = state
        self.hub = hub
        self.trace = trace
        self.lenient = lenient
        self.first_message = asyncio.Event()
        self.booted = asyncio.Event()
        self._pending_actions: dict[str, str] = {}
        self._abandoned: set[str] = set()
        self._logged_drops: set[tuple[str, str]] = set()
        self._queue = CallQueue()
        self._gone = asyncio.Event()
        self.bad_frames = LogBudget(self.log)
        self.inflow = InflowLimit(per_s=INFLOW_PER_S, burst=INFLOW_BURST)
        self._throttled = False
        #: Gets a copy of every CALL the charger sends when it is forwarded upstream (option ``upstream_url``).
        self.upstream: UpstreamTap | None = None

    @property
    def response_timeout_s(self) -> float:
        """The timeout of a CSMS-to-charger call, in seconds."""
        return float(self._response_timeout)

    @response_timeout_s.setter
    def response_timeout_s(self, value: float) -> None:
        clamped = min(max(float(value), MIN_RESPONSE_TIMEOUT_S), MAX_RESPONSE_TIMEOUT_S)
        if clamped != value:
            self.log.warning(
                "The charger reports a message timeout of %s s; using %.0f s (allowed: %.0f to %.0f s)",
                value,
                clamped,
                MIN_RESPONSE_TIMEOUT_S,
                MAX_RESPONSE_TIMEOUT_S,
            )
        self._response_timeout = clamped

    def commit(self, save: Save = Save.NO) -> None:
        """Announce that this charger's state changed (see :meth:`StateHub.commit`)."""
        self.hub.commit(self.state.charger_id, save)

    async def route_message(self, raw_msg: str | bytes) -> None:
        """Check a frame, answer malformed ones with a CALLERROR, and route the rest.

        The library's receive loop awaits this for one frame after the other, so
        waiting here for the connection's inflow budget (:class:`InflowLimit`)
        reads the peer's frames more slowly: a flood is slowed down, not lost.
        """
        wait_s = self.inflow.delay_s()
        if wait_s > 0:
            if not self._throttled:
                self._throttled = True
                self.log.warning(
                    "The charger sends more than %.0f frames a second: reading them slower (logged once)",
                    INFLOW_PER_S,
                )
            await asyncio.sleep(wait_s)
        at = utcnow()
        self.state.seen(at)
        decision = check_frame(raw_msg)
        if isinstance(decision, FrameError):
            self.trace.record(self.id, "in", raw_msg, None, at=at)
            self.bad_frames.log(
                _BAD_FRAMES, "Malformed frame answered with %s: %s", decision.code, decision.description
            )
            await self._send(decision.to_json())
        elif isinstance(decision, Dropped):
            self.trace.record(self.id, "in", raw_msg, None, at=at)
            self.bad_frames.log(_BAD_FRAMES, "Dropped frame: %s", decision.reason)
        elif decision.message_type == CALL:
            self.trace.record(self.id, "in", raw_msg, decision.action, at=at)
            await self._route_call(decision)
        else:
            self.trace.record(self.id, "in", raw_msg, self._pending_actions.get(decision.unique_id), at=at)
            await self._route_answer(decision)

    async def _route_call(self, frame: Frame) -> None:
        """A CALL from the charger: refused when we have no handler or its payload breaks the schema, else handled."""
        action = frame.action
        assert action is not None
        self.log.debug("<- %s %s", shown(action, limit=40), shown(frame.unique_id))
        token = _SENDING.set(action)
        try:
            if action not in self.route_map:
                code = "NotSupported" if action in _OCPP_ACTIONS else "NotImplemented"
                self.bad_frames.log(_BAD_FRAMES, "Answered %s to unknown action %s", code, shown(action, limit=40))
                description = f"{action[:40]} is not a charger-to-CSMS action of OCPP 2.0.1"
                await self._send(FrameError(unique_id=frame.unique_id, code=code, description=description).to_json())
                return
            try:
                checked = check_payload(action, frame.payload, lenient=self.lenient)
            except PayloadError as err:
                self.bad_frames.log(
                    _BAD_FRAMES, "Rejected %s with %s: %s", action, err.code, shown(err.description, limit=255)
                )
                error = FrameError(unique_id=frame.unique_id, code=err.code, description=err.description)
                await self._send(error.to_json())
                return
            self._log_dropped(action, checked.dropped)
            await self._dispatch(Call(frame.unique_id, action, checked.payload))
            if self.upstream is not None:
                self.upstream.copy(action, checked.payload)
        finally:
            _SENDING.reset(token)
            self.first_message.set()

    async def _route_answer(self, frame: Frame) -> None:
        """A CALLRESULT or CALLERROR: handed to the call waiting for it; late or unasked answers are dropped."""
        pending = self._pending_actions.pop(frame.unique_id, None)
        if pending is None:
            if frame.unique_id in self._abandoned:
                self._abandoned.discard(frame.unique_id)
                self.log.debug("Late answer to a call given up on (message id %s)", shown(frame.unique_id))
                return
            # Queued, it would wait for the next call() of ours: a flood of them would pile up.
            self.bad_frames.log(
                _BAD_FRAMES, "Dropped an answer to no call of ours (message id %s)", shown(frame.unique_id)
            )
            return
        self.log.debug("<- result of %s %s", pending, shown(frame.unique_id))
        message: CallResult | CallError
        if frame.message_type == CALLRESULT:
            message = CallResult(frame.unique_id, frame.payload)
        else:
            message = CallError(frame.unique_id, frame.payload, frame.description, frame.details)
        self.first_message.set()
        await self._dispatch(message)

    async def _dispatch(self, message: Call | CallResult | CallError) -> None:
        """What the library's ``route_message`` does after parsing (we parsed already)."""
        if isinstance(message, Call):
            try:
                await self._handle_call(message)
            except OCPPError as error:
                self.bad_frames.log(_BAD_FRAMES, "Answered CALLERROR %s to %s", type(error).__name__, message.action)
                await self._send(message.create_call_error(error).to_json())
        else:
            self._response_queue.put_nowait(message)

    def _log_dropped(self, action: str, dropped: list[str]) -> None:
        for path in dropped:
            if (action, path) in self._logged_drops:
                continue
            if len(self._logged_drops) < MAX_LOGGED_DROPS:
                self._logged_drops.add((action, path))
                self.log.warning(
                    "%s: ignored field %s that breaks the OCPP 2.0.1 schema (logged once)", action, shown(path)
                )
            else:
                self.bad_frames.log(
                    _BAD_FRAMES, "%s: ignored field %s that breaks the OCPP 2.0.1 schema", action, shown(path)
                )

    async def _send(self, message: str) -> None:
        action = _SENDING.get()
        self.trace.record(self.id, "out", message, action, at=utcnow())
        self.log.debug("-> %s", action)
        await self.connection.send(message)

    async def request(self, payload: Any) -> Any:
        """Send one CSMS-to-charger call and return the charger's typed answer.

        Waits for its turn in the call queue (user commands first), then sends
        and waits up to the message timeout. A caller that gives up (cancels)
        leaves no trace: a late answer is recognised and dropped. Raises
        :class:`ChargerNotConnectedError`, :class:`ChargerTimeoutError` or
        :class:`ChargerCallError`.
        """
        action = type(payload).__name__
        await self._queue.acquire(user=USER_COMMAND.get())
        unique_id = str(uuid.uuid4())
        token = _SENDING.set(action)
        answered = False
        try:
            if self._gone.is_set():
                raise ChargerNotConnectedError(f"{action}: the connection closed")
            self._remember(unique_id, action)
            result = await self._call_while_open(payload, unique_id)
            answered = True
            return result
        except TimeoutError as err:
            self.log.warning("%s: no answer within %.0f s", action, self.response_timeout_s)
            raise ChargerTimeoutError(
                f"{action}: the charger did not answer within {self.response_timeout_s:.0f} s"
            ) from err
        except ConnectionClosed as err:
            raise ChargerNotConnectedError(f"{action}: the connection closed") from err
        except OCPPError as err:
            answered = True
            code = type(err).__name__.removesuffix("Error")
            self.log.warning("%s: the charger answered CALLERROR %s: %s", action, code, shown(err.description))
            raise ChargerCallError(code, str(err.description)) from err
        finally:
            _SENDING.reset(token)
            if not answered and self._pending_actions.pop(unique_id, None) is not None:
                self._abandoned.add(unique_id)
                if len(self._abandoned) > MAX_PENDING:
                    self._abandoned.pop()
            self._queue.release()

    async def _call_while_open(self, payload: Any, unique_id: str) -> Any:
        """The library's call, given up at once when the connection closes (else it would wait its full timeout)."""
        call = asyncio.ensure_future(self.call(payload, suppress=False, unique_id=unique_id))
        gone = asyncio.ensure_future(self._gone.wait())
        try:
            await asyncio.wait({call, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not call.done() and unique_id not in self._pending_actions:
                # Its answer came in just before the connection closed (a charger that reboots right after
                # answering Reset): let the call finish reading it.
                await asyncio.wait({call}, timeout=ANSWER_GRACE_S)
        finally:
            gone.cancel()
            if not call.done():
                call.cancel()
                # asyncio.wait, not "await call": a cancellation of this task must not be taken for the call's;
                # bounded, so a send stuck on a dead socket cannot hold this caller.
                await asyncio.wait({call}, timeout=ANSWER_GRACE_S)
        if call.cancelled():
            raise ConnectionClosed(None, None)
        return call.result()

    def connection_gone(self) -> None:
        """The WebSocket closed: calls still waiting for an answer end now, with ChargerNotConnectedError."""
        self._gone.set()

    def _remember(self, unique_id: str, action: str) -> None:
        if len(self._pending_actions) >= MAX_PENDING:  # answers that never came
            self._pending_actions.pop(next(iter(self._pending_actions)))
        self._pending_actions[unique_id] = action


class _QuietLogger(logging.Logger):
    """The library logs every frame at INFO; our trace and DEBUG lines replace that."""

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.debug(msg, *args, **kwargs)

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        """The library warns of every CALLERROR answer; :meth:`Connection.request` logs it once, in its words."""
        if isinstance(msg, str) and msg.startswith("Received a CALLError"):
            self.debug(msg, *args, **kwargs)
        else:
            super().warning(msg, *args, **kwargs)

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        """The library logs a traceback for every CALLERROR it sends; one line is enough unless it is a bug."""
        error = sys.exc_info()[1]
        # The library's message carries the whole payload, which may hold an idToken: leave it out.
        if isinstance(error, OCPPError):
            self.warning("Answered CALLERROR %s: %s", type(error).__name__, shown(error.description))
        else:
            self.error("A handler failed; answered CALLERROR InternalError", exc_info=exc_info)


_QUIET = _QuietLogger("ocpp.session")
_QUIET.parent = logging.getLogger("ocpp")

"""One charger connection: the OCPP library's charge point plus our framing and tracing.

The library's ``ChargePoint`` routes frames to the ``@on`` handlers in
:mod:`bmw_wallbox.csms.handlers`. This subclass adds what the library leaves
out: a CALLERROR for every frame it cannot parse, lenient schema checks that
drop vendor quirks instead of the whole message, a trace of every frame, and
the translation of call failures into our exceptions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Protocol

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult
from ocpp.v201 import ChargePoint
from ocpp.v201.enums import Action
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from bmw_wallbox.csms.framing import CALL, CALLRESULT, Dropped, FrameError, PayloadError, check_frame, check_payload
from bmw_wallbox.csms.guards import LogBudget
from bmw_wallbox.errors import ChargerCallError, ChargerNotConnectedError, ChargerTimeoutError
from bmw_wallbox.logsafe import shown
from bmw_wallbox.state import ChargerState, StateHub, utcnow
from bmw_wallbox.trace import Trace

_OCPP_ACTIONS = frozenset(action.value for action in Action)

#: The charger's default ``OCPPCommCtrlr.MessageTimeout``; the only timeout of a call.
DEFAULT_RESPONSE_TIMEOUT_S = 30
#: What the summary line of held-back warnings about bad frames calls them.
_BAD_FRAMES = "malformed or refused frames"
#: Distinct (action, field) pairs whose schema repairs are logged once each, per connection.
MAX_LOGGED_DROPS = 100


class ChargerLogger(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every log line with the charger id."""

    def process(self, msg: str, kwargs: MutableMapping[str, Any]) -> tuple[str, MutableMapping[str, Any]]:
        return f"[{self.extra['charger'] if self.extra else '?'}] {msg}", kwargs


class Persister(Protocol):
    """What a session needs from the store."""

    def save_soon(self, charger_id: str) -> None:
        """Save this charger's state within a second or so."""

    def save_now(self, charger_id: str) -> None:
        """Save this charger's state at once."""


class Session(ChargePoint):
    """The CSMS side of one open WebSocket to one charger."""

    def __init__(
        self,
        connection: ServerConnection,
        *,
        state: ChargerState,
        hub: StateHub,
        store: Persister,
        trace: Trace,
        lenient: bool = True,
        response_timeout_s: float = DEFAULT_RESPONSE_TIMEOUT_S,
    ) -> None:
        self.log = ChargerLogger(logging.getLogger("bmw_wallbox.csms"), {"charger": state.charger_id})
        super().__init__(state.charger_id, connection, response_timeout=response_timeout_s, logger=_QUIET)
        self.connection = connection
        self.state = state
        self.hub = hub
        self.store = store
        self.trace = trace
        self.lenient = lenient
        self.first_message = asyncio.Event()
        self.booted = asyncio.Event()
        self._pending_actions: dict[str, str] = {}
        self._answering: dict[str, str] = {}
        self._logged_drops: set[tuple[str, str]] = set()
        self.bad_frames = LogBudget(self.log)

    @property
    def response_timeout_s(self) -> float:
        """The one timeout of a CSMS-to-charger call, in seconds."""
        return float(self._response_timeout)

    @response_timeout_s.setter
    def response_timeout_s(self, value: float) -> None:
        self._response_timeout = value

    def changed(self, *, persist: bool = False, now: bool = False) -> None:
        """Tell listeners the state changed; optionally persist it soon or at once."""
        if now:
            self.store.save_now(self.state.charger_id)
        elif persist:
            self.store.save_soon(self.state.charger_id)
        self.hub.changed(self.state.charger_id)

    async def route_message(self, raw_msg: str | bytes) -> None:
        """Check a frame, answer malformed ones with a CALLERROR, and route the rest."""
        at = utcnow()
        self.state.last_seen = at
        decision = check_frame(raw_msg)
        action = None
        if isinstance(decision, FrameError):
            self.trace.record(self.id, "in", raw_msg, None, at=at)
            self.bad_frames.warning(
                _BAD_FRAMES, "Malformed frame answered with %s: %s", decision.code, decision.description
            )
            await self._send(decision.to_json())
            return
        if isinstance(decision, Dropped):
            self.trace.record(self.id, "in", raw_msg, None, at=at)
            self.bad_frames.warning(_BAD_FRAMES, "Dropped frame: %s", decision.reason)
            return
        if decision.message_type == CALL:
            action = decision.action
            assert action is not None
            self.trace.record(self.id, "in", raw_msg, action, at=at)
            self.log.debug("<- %s %s", shown(action), shown(decision.unique_id))
            if action not in self.route_map:
                code = "NotSupported" if action in _OCPP_ACTIONS else "NotImplemented"
                self.bad_frames.warning(_BAD_FRAMES, "Answered %s to unknown action %s", code, shown(action, limit=40))
                await self._send(
                    FrameError(
                        unique_id=decision.unique_id,
                        code=code,
                        description=f"{action[:40]} is not a charger-to-CSMS action of OCPP 2.0.1",
                    ).to_json()
                )
                return
            try:
                checked = check_payload(action, decision.payload, lenient=self.lenient)
            except PayloadError as err:
                self.bad_frames.warning(
                    _BAD_FRAMES, "Rejected %s with %s: %s", action, err.code, shown(err.description, limit=255)
                )
                await self._send(
                    FrameError(unique_id=decision.unique_id, code=err.code, description=err.description).to_json()
                )
                return
            self._log_dropped(action, checked.dropped)
            self._answering[decision.unique_id] = action
            message: Call | CallResult | CallError = Call(decision.unique_id, action, checked.payload)
        else:
            action = self._pending_actions.pop(decision.unique_id, None)
            self.trace.record(self.id, "in", raw_msg, action, at=at)
            if action is None:
                # Queued, it would wait for the next call() of ours: a flood of them would pile up.
                self.bad_frames.warning(
                    _BAD_FRAMES, "Dropped an answer to no call of ours (message id %s)", shown(decision.unique_id)
                )
                return
            self.log.debug("<- result of %s %s", action, shown(decision.unique_id))
            if decision.message_type == CALLRESULT:
                message = CallResult(decision.unique_id, decision.payload)
            else:
                message = CallError(decision.unique_id, decision.payload, decision.description, decision.details)
        try:
            await self._dispatch(message)
        finally:
            self._answering.pop(decision.unique_id, None)
            if not self.first_message.is_set():
                self.first_message.set()

    async def _dispatch(self, message: Call | CallResult | CallError) -> None:
        """What the library's ``route_message`` does after parsing (we parsed already)."""
        if isinstance(message, Call):
            try:
                await self._handle_call(message)
            except OCPPError as error:
                self.bad_frames.warning(
                    _BAD_FRAMES, "Answered CALLERROR %s to %s", type(error).__name__, message.action
                )
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
                self.bad_frames.warning(
                    _BAD_FRAMES, "%s: ignored field %s that breaks the OCPP 2.0.1 schema", action, shown(path)
                )

    async def _send(self, message: str) -> None:
        try:
            decoded = json.loads(message)
            unique_id = decoded[1]
            action = decoded[2] if decoded[0] == CALL else self._answering.get(unique_id)
        except (ValueError, IndexError, TypeError):
            unique_id, action = None, None
        if unique_id is not None and decoded[0] == CALL and action:
            if len(self._pending_actions) >= 64:  # answers that never came
                self._pending_actions.pop(next(iter(self._pending_actions)))
            self._pending_actions[unique_id] = action
        self.trace.record(self.id, "out", message, action, at=utcnow())
        self.log.debug("-> %s", action)
        await self.connection.send(message)

    async def request(self, payload: Any) -> Any:
        """Send one CSMS-to-charger call and return the charger's typed answer.

        The library's ``response_timeout`` is the one timeout (no shorter
        wrapper, whose late reply would be matched to the next call). Raises
        :class:`ChargerNotConnectedError`, :class:`ChargerTimeoutError` or
        :class:`ChargerCallError`.
        """
        action = type(payload).__name__
        try:
            return await self.call(payload, suppress=False)
        except TimeoutError as err:
            self.log.warning("%s: no answer within %.0f s", action, self.response_timeout_s)
            raise ChargerTimeoutError(
                f"{action}: the charger did not answer within {self.response_timeout_s:.0f} s"
            ) from err
        except ConnectionClosed as err:
            raise ChargerNotConnectedError(f"{action}: the connection closed") from err
        except OCPPError as err:
            code = type(err).__name__.removesuffix("Error")
            self.log.warning("%s: the charger answered CALLERROR %s: %s", action, code, shown(err.description))
            raise ChargerCallError(code, str(err.description)) from err


class _QuietLogger(logging.Logger):
    """The library logs every frame at INFO; our trace and DEBUG lines replace that."""

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.debug(msg, *args, **kwargs)

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

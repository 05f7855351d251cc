"""The add-on as a charging station towards the upstream: a library charge point on the client side.

:class:`UpstreamStation` is ``ocpp.v201.ChargePoint`` used the way a charging
station uses it. It adds a trace of every frame (directions ``upstream_out``
and ``upstream_in``, so the panel tells them from the charger's), one handler
for every CSMS-to-station action that hands the request to the caller's
``handle``, and requests handled in their own tasks: while one waits for the
charger, the answers to the add-on's own calls to the upstream are still read.

It uses the library's ``route_map`` (a dict of action to handlers, as
``ocpp`` 2.1.0 builds it) and replaces ``route_message`` and ``_send``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ocpp.exceptions import GenericError, OCPPError
from ocpp.messages import MessageType, unpack
from ocpp.v201 import ChargePoint, call
from websockets.asyncio.client import ClientConnection

from bmw_wallbox.state import utcnow
from bmw_wallbox.trace import Trace

#: Every action of OCPP 2.0.1 (the upstream may send only the CSMS-to-station ones; the rest are refused there).
ACTIONS = tuple(name for name in dir(call) if dataclasses.is_dataclass(getattr(call, name)))
#: Upstream requests handled at once at most; more are answered CALLERROR (a backend waits for each anyway).
MAX_REQUESTS = 8

Handle = Callable[[str, dict[str, Any]], Awaitable[Any]]


class UpstreamStation(ChargePoint):
    """One connection to the upstream, as a charging station (see the module docstring)."""

    def __init__(
        self,
        station_id: str,
        connection: ClientConnection,
        *,
        charger_id: str,
        trace: Trace,
        handle: Handle,
        response_timeout_s: float,
        logger: logging.Logger,
    ) -> None:
        super().__init__(station_id, connection, response_timeout=response_timeout_s, logger=logger)
        self._charger_id = charger_id
        self._trace = trace
        self._handle = handle
        self._tasks: set[asyncio.Task[None]] = set()
        self._actions: dict[str, str] = {}
        self.route_map = {action: {"_on_action": self._handler(action)} for action in ACTIONS}

    def _handler(self, action: str) -> Callable[..., Awaitable[Any]]:
        async def handler(**kwargs: Any) -> Any:
            return await self._handle(action, kwargs)

        return handler

    async def route_message(self, raw_msg: str | bytes) -> None:
        """Trace a frame from the upstream; a request runs in its own task, an answer goes to the waiting call."""
        try:
            message = unpack(raw_msg)
        except OCPPError:
            self._trace.record(self._charger_id, "upstream_in", raw_msg, None, at=utcnow())
            return  # the library logs nothing useful either; the trace shows it
        if message.message_type_id == MessageType.Call:
            self._trace.record(self._charger_id, "upstream_in", raw_msg, message.action, at=utcnow())
            if len(self._tasks) >= MAX_REQUESTS:
                error = message.create_call_error(GenericError("too many requests at once"))
                await self._send(error.to_json())
                return
            task = asyncio.create_task(super().route_message(raw_msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            action = self._actions.pop(message.unique_id, None)
            self._trace.record(self._charger_id, "upstream_in", raw_msg, action, at=utcnow())
            await super().route_message(raw_msg)

    async def _send(self, message: str) -> None:
        frame = json.loads(message)
        if frame[0] == MessageType.Call:
            action = frame[2]
            if len(self._actions) > MAX_REQUESTS * 4:  # answers that never came
                self._actions.pop(next(iter(self._actions)))
            self._actions[frame[1]] = action
        else:
            action = None
        self._trace.record(self._charger_id, "upstream_out", message, action, at=utcnow())
        await self._connection.send(message)

    async def close(self) -> None:
        """Cancel the requests still being handled."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

"""A plain OCPP 2.0.1 backend built from the library's charge point on the server side: the upstream in tests.

It records every CALL a station sends, answers as a CSMS does (BootNotification
Accepted with a heartbeat interval, Authorize with ``authorize_status``), can be
stopped and started again on the same port (an outage), and lets a test send
requests to a connected station.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from helpers import eventually, free_port

#: The station-to-CSMS actions the backend records and answers with an empty result.
RECORDED = (
    "StatusNotification",
    "TransactionEvent",
    "MeterValues",
    "NotifyEvent",
    "SecurityEventNotification",
    "NotifyReport",
    "Heartbeat",
    "NotifyEVChargingNeeds",
    "NotifyChargingLimit",
)


class BackendSession(ChargePoint):
    """The backend's side of one station's connection."""

    def __init__(self, station_id: str, connection: ServerConnection, backend: Backend) -> None:
        super().__init__(station_id, connection)
        self.backend = backend
        for action in RECORDED:
            self.route_map[action] = {"_on_action": self._recorder(action)}

    def _recorder(self, action: str) -> Any:
        def handler(**kwargs: Any) -> Any:
            self.backend.received.append((action, kwargs))
            if action == "Heartbeat":
                return call_result.Heartbeat(current_time="2026-12-06T00:00:00Z")
            if action == "NotifyEVChargingNeeds":
                return call_result.NotifyEVChargingNeeds(status="Accepted")
            return getattr(call_result, action)()

        return handler

    @on("BootNotification")
    def on_boot(self, charging_station: dict[str, Any], reason: str, **kwargs: Any) -> call_result.BootNotification:
        self.backend.received.append(("BootNotification", {"charging_station": charging_station, "reason": reason}))
        return call_result.BootNotification(
            current_time="2026-12-06T00:00:00Z", interval=self.backend.interval_s, status=self.backend.boot_status
        )

    @on("Authorize")
    def on_authorize(self, id_token: dict[str, Any], **kwargs: Any) -> call_result.Authorize:
        self.backend.received.append(("Authorize", {"id_token": id_token}))
        return call_result.Authorize(id_token_info={"status": self.backend.authorize_status})


class Backend:
    """The upstream CSMS on 127.0.0.1 (see the module docstring)."""

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.port = free_port()
        self.tls = tls
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.sessions: dict[str, BackendSession] = {}
        #: The Authorization header of each connection (None: none sent).
        self.authorizations: list[str | None] = []
        self.interval_s = 60
        self.boot_status = "Accepted"
        self.authorize_status = "Accepted"
        #: An HTTP status to refuse every connection with (None: accept).
        self.refuse_status: int | None = None
        self._server: Server | None = None

    def url(self, station_id: str) -> str:
        """The URL a station connects to."""
        host = "localhost" if self.tls else "127.0.0.1"
        return f"{'wss' if self.tls else 'ws'}://{host}:{self.port}/ocpp/{station_id}"

    async def start(self) -> None:
        """Listen (again) on the backend's port."""
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            self.port,
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            process_request=self._process_request,
            ssl=self.tls,
        )

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.refuse_status is None:
            return None
        return connection.respond(HTTPStatus(self.refuse_status), "refused\n")

    async def stop(self) -> None:
        """Stop listening and drop every connection (an outage)."""
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        self.sessions.clear()

    async def _handle(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request else ""
        self.authorizations.append(connection.request.headers.get("Authorization") if connection.request else None)
        session = BackendSession(unquote(path.rsplit("/", 1)[-1]), connection, self)
        self.sessions[session.id] = session
        with contextlib.suppress(Exception):
            await session.start()

    def actions(self, action: str) -> list[dict[str, Any]]:
        """The payloads of every ``action`` received so far, in order."""
        return [payload for name, payload in self.received if name == action]

    async def session(self, station_id: str) -> BackendSession:
        """The connected station's session, once it booted."""
        await eventually(
            lambda: station_id in self.sessions and self.actions("BootNotification"),
            what=f"{station_id} connected and booted",
        )
        return self.sessions[station_id]


@contextlib.asynccontextmanager
async def running_backend(*, tls: ssl.SSLContext | None = None) -> AsyncIterator[Backend]:
    """A started backend (``wss://localhost`` with ``tls``), stopped after the block."""
    backend = Backend(tls=tls)
    await backend.start()
    try:
        yield backend
    finally:
        if backend._server is not None:
            await backend.stop()

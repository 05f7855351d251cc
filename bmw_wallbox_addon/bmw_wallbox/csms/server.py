"""The OCPP WebSocket server: who may connect, and the life of each connection.

Connections are refused before the WebSocket upgrade, with a clear HTTP
status, when:

=====================================  ======  =====================================
Cause                                  Status  Log
=====================================  ======  =====================================
no ``ocpp2.0.1`` subprotocol offered   400     a warning
charger id not in ``chargers``         404     a warning per id (with the hint to
                                               add it), DEBUG afterwards; the id is
                                               remembered for the setup page within
                                               the bounds of ``unknown_ids`` (short
                                               ids, the most recent 50, 7 days)
password configured, auth missing or   401     a warning
wrong (username must be the id)
too many wrong passwords from this     429     a warning
address (``guards.AuthThrottle``)
=====================================  ======  =====================================

Refusals are logged through a :class:`~bmw_wallbox.csms.guards.LogBudget`: per
cause, the first three of a minute one line each, the rest in one summary line,
so a flood of attempts cannot flood the log.

A second connection with the id of a connected charger replaces the first,
which is closed with code 1000 ("replaced by a new connection").

Connections that never finish the TCP, TLS or HTTP part of the handshake are
closed after ``handshake_timeout_s`` (the TLS handshake and the WebSocket
upgrade each get that long), so half-open connections cannot pile up. Until
then they are capped (:mod:`bmw_wallbox.csms.handshakes`): a connection beyond
8 pending handshakes from its address, or 64 in all, is reset as it is
accepted, logged as a warning within the refusal log budget.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import ssl
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from bmw_wallbox import unknown_ids
from bmw_wallbox.csms.guards import AuthThrottle, LogBudget
from bmw_wallbox.csms.handlers import ChargerConnection
from bmw_wallbox.csms.handshakes import HandshakeGate, listening_sockets, peer_key
from bmw_wallbox.csms.health import watch_round_trip
from bmw_wallbox.csms.port import ConnectionPort
from bmw_wallbox.csms.tap import UpstreamTap
from bmw_wallbox.errors import ChargerNotConnectedError, StartupError
from bmw_wallbox.hub import StateHub
from bmw_wallbox.logsafe import shown
from bmw_wallbox.options import Options
from bmw_wallbox.state import Save, utcnow
from bmw_wallbox.trace import Trace

_LOGGER = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp2.0.1"
#: Largest frame accepted, in bytes; a full device-model report part fits easily.
MAX_FRAME_BYTES = 1024 * 1024

#: Seconds a connection may take for its TLS handshake, and again for the WebSocket upgrade.
HANDSHAKE_TIMEOUT_S = 10.0
#: Seconds between two saves of the unknown-id list while new ids keep coming (a flood costs few writes).
UNKNOWN_SAVE_INTERVAL_S = 1.0

_UNKNOWN = "refused attempts of unknown charging station ids"

ConnectionRunner = Callable[[ChargerConnection], Awaitable[None]]


def charger_id_from_path(path: str) -> str:
    """The percent-decoded last path segment (``/ocpp/DE%2ABMW%2AE1`` gives ``DE*BMW*E1``)."""
    segment = urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1]
    return unquote(segment)


def basic_auth_matches(header: str | None, *, username: str, password: str) -> bool:
    """Check an ``Authorization: Basic`` header in constant time.

    The decoded ``user:password`` is split after ``<username>:``, not at the
    first colon, so a charging station id that contains ``:`` can log in.
    """
    if not header or not header.lower().startswith("basic "):
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    prefix = username.encode("utf-8") + b":"
    user_ok = hmac.compare_digest(decoded[: len(prefix)], prefix)
    password_ok = hmac.compare_digest(decoded[len(prefix) :], password.encode("utf-8"))
    return user_ok and password_ok


def tls_context(ssl_dir: Path, certfile: str, keyfile: str) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2 minimum) from the certificate files; a clear error if they are unusable."""
    cert_path = ssl_dir / certfile
    key_path = ssl_dir / keyfile
    for option, path in (("certfile", cert_path), ("keyfile", key_path)):
        if not path.is_file():
            raise StartupError(
                f"option {option}: {path} not found. Put the file in the ssl folder "
                f"(for example with the Let's Encrypt app) or set option ssl to false"
            )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_path, key_path)
    except (ssl.SSLError, OSError) as err:
        raise StartupError(
            f"options certfile/keyfile: {cert_path} and {key_path} cannot be used together: {err}"
        ) from None
    return context


class CsmsServer:
    """Accepts charger connections and runs one :class:`ChargerConnection` per connection."""

    def __init__(
        self,
        *,
        options: Options,
        hub: StateHub,
        trace: Trace,
        run_connection: ConnectionRunner,
        on_unknown: Callable[[], None] | None = None,
        handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S,
        throttle: AuthThrottle | None = None,
        gate: HandshakeGate | None = None,
        upstream: Callable[[str], UpstreamTap | None] = lambda charger_id: None,
    ) -> None:
        self._options = options
        self._hub = hub
        self._trace = trace
        self._run_connection = run_connection
        self._on_unknown = on_unknown
        self.connections: dict[str, ChargerConnection] = {}
        self._ports: dict[str, ConnectionPort] = {}
        self._servers: list[Server] = []
        self._tls = False
        self._handshake_timeout_s = handshake_timeout_s
        self._throttle = throttle or AuthThrottle()
        self._refusals = LogBudget(_LOGGER, burst=3)
        self._gate = gate or HandshakeGate(on_refused=self._refuse_pending)
        self._unknown_timer: asyncio.TimerHandle | None = None
        self._unknown_pending = False
        self._upstream = upstream

    async def start(self, host: str | None, port: int, *, tls: ssl.SSLContext | None) -> int:
        """Listen; return the port actually bound (useful with port 0)."""
        self._tls = tls is not None
        try:
            sockets = listening_sockets(host, port, self._gate)
        except OSError as err:
            raise StartupError(f"OCPP port {port} cannot be opened: {err.strerror}") from None
        for sock in sockets:  # one websockets server per socket: each takes one ready-made socket
            server = await serve(
                self._handle,
                sock=sock,
                ssl=tls,
                subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                process_request=self._process_request,
                max_size=MAX_FRAME_BYTES,
                open_timeout=self._handshake_timeout_s,
                ping_interval=60,
                ping_timeout=60,
                logger=logging.getLogger("websockets.server"),
            )
            self._servers.append(server)
        bound = sockets[0].getsockname()[1] if sockets else port
        _LOGGER.info(
            "OCPP server listening on %s://%s:%s/<charging station id>", "wss" if tls else "ws", host or "*", bound
        )
        return int(bound)

    def port(self, charger_id: str) -> ConnectionPort | None:
        """The charger port of a connected charger, None while it is offline."""
        return self._ports.get(charger_id) if charger_id in self.connections else None

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers = []
        self._refusals.flush()
        if self._unknown_timer is not None:
            self._unknown_timer.cancel()
            self._unknown_timer = None
        if self._unknown_pending and self._on_unknown is not None:
            self._unknown_pending = False
            self._on_unknown()

    def _unknown_changed(self) -> None:
        """Tell ``on_unknown`` the list changed: at once, then at most once per ``UNKNOWN_SAVE_INTERVAL_S``."""
        if self._on_unknown is None:
            return
        if self._unknown_timer is not None:
            self._unknown_pending = True
            return
        self._on_unknown()
        self._unknown_timer = asyncio.get_running_loop().call_later(UNKNOWN_SAVE_INTERVAL_S, self._unknown_window_ended)

    def _unknown_window_ended(self) -> None:
        self._unknown_timer = None
        if self._unknown_pending:
            self._unknown_pending = False
            self._unknown_changed()

    def _refuse_pending(self, address: str, reason: str) -> None:
        self._refusals.log(
            "connections refused before their handshake",
            "Refused a connection from %s at once: %s",
            address,
            reason,
            example=address,
        )

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        peer = _peer(connection)
        offered = [p.strip() for h in request.headers.get_all("Sec-WebSocket-Protocol") for p in h.split(",")]
        if SUBPROTOCOL not in offered:
            self._refusals.log(
                "refused attempts without the ocpp2.0.1 subprotocol",
                "Refused %s: subprotocol %s is required, offered: %s",
                peer,
                SUBPROTOCOL,
                shown(", ".join(offered) or "none"),
                example=str(peer),
            )
            return _respond(
                connection,
                HTTPStatus.BAD_REQUEST,
                f"This server speaks OCPP 2.0.1 only: offer the WebSocket subprotocol {SUBPROTOCOL}\n",
            )
        charger_id = charger_id_from_path(request.path)
        charger = self._options.charger(charger_id)
        if charger is None:
            self._refuse_unknown(charger_id, peer)
            return _respond(connection, HTTPStatus.NOT_FOUND, "Unknown charging station id\n")
        if charger.password is not None:
            address = str(peer)
            retry_after_s = self._throttle.retry_after_s(address)
            if retry_after_s > 0:
                self._refusals.log(
                    "refused attempts after too many wrong passwords",
                    "Refused %s from %s: too many wrong passwords from this address; next try in %.0f s",
                    charger_id,
                    peer,
                    retry_after_s,
                    example=f"{charger_id} from {peer}",
                )
                response = _respond(connection, HTTPStatus.TOO_MANY_REQUESTS, "Too many wrong passwords\n")
                response.headers["Retry-After"] = str(max(1, round(retry_after_s)))
                return response
            header = request.headers.get("Authorization")
            if not basic_auth_matches(header, username=charger_id, password=charger.password):
                self._throttle.failed(address)
                cause = "wrong password or username" if header else "no credentials"
                self._refusals.log(
                    f"refused attempts ({cause})",
                    "Refused %s from %s: %s",
                    charger_id,
                    peer,
                    cause,
                    example=f"{charger_id} from {peer}",
                )
                response = _respond(connection, HTTPStatus.UNAUTHORIZED, "Authentication required\n")
                response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
                return response
            self._throttle.succeeded(address)
        return None

    def _refuse_unknown(self, charger_id: str, peer: str | None) -> None:
        """Log an id that is not configured and remember it (see :mod:`bmw_wallbox.unknown_ids`)."""
        shown_id = shown(charger_id, limit=unknown_ids.MAX_ID_CHARS)
        if not unknown_ids.rememberable(charger_id):
            self._refusals.log(
                _UNKNOWN,
                "Refused unknown charging station id '%s' from %s (not remembered: longer than %d characters)",
                shown_id,
                peer,
                unknown_ids.MAX_ID_CHARS,
                example=f"'{shown(charger_id, limit=48)}'",
            )
            return
        if self._hub.note_unknown(charger_id, remote_address=peer, at=utcnow()):
            self._refusals.log(
                _UNKNOWN,
                "Refused unknown charging station id '%s' from %s: add it under option chargers "
                "(id: %s) to let it connect",
                shown_id,
                peer,
                shown_id,
                example=f"'{shown(charger_id, limit=48)}'",
            )
            self._unknown_changed()
        else:
            _LOGGER.debug("Refused unknown charging station id '%s' from %s again", shown_id, peer)

    async def _handle(self, connection: ServerConnection) -> None:
        self._gate.upgraded(peer_key(connection.remote_address))
        charger_id = charger_id_from_path(connection.request.path if connection.request else "")
        state = self._hub.chargers[charger_id]
        charger = self._options.charger(charger_id)
        link = ChargerConnection(connection, state=state, hub=self._hub, trace=self._trace)
        link.upstream = self._upstream(charger_id)
        previous = self.connections.get(charger_id)
        self.connections[charger_id] = link
        self._ports[charger_id] = ConnectionPort(link)
        if previous is not None:
            link.log.info("New connection replaces the previous one")
            await previous.connection.close(1000, "replaced by a new connection")
        state.mark_connected(
            remote_address=_peer(connection),
            tls=self._tls,
            authenticated=charger is not None and charger.password is not None,
            at=utcnow(),
        )
        state.upkeep.connected(state.connected_since or utcnow())
        link.log.info(
            "Connected from %s (%s%s)",
            state.remote_address,
            "TLS" if self._tls else "no TLS",
            ", authenticated" if state.authenticated else "",
        )
        self._hub.commit(charger_id)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._receive(link))
                group.create_task(self._guarded(link))
                group.create_task(watch_round_trip(link))
        except* (ConnectionClosed, ChargerNotConnectedError):
            pass
        finally:
            if self.connections.get(charger_id) is link:
                del self.connections[charger_id]
                del self._ports[charger_id]
                state.mark_disconnected(at=utcnow())
                self._hub.commit(charger_id, Save.NOW)
            link.bad_frames.flush()
            link.status_lines.flush()
            code = connection.close_code
            link.log.info(
                "Disconnected (code %s%s)", code, f", {connection.close_reason!r}" if connection.close_reason else ""
            )

    @staticmethod
    async def _receive(link: ChargerConnection) -> None:
        try:
            await link.start()
        finally:
            link.connection_gone()

    async def _guarded(self, link: ChargerConnection) -> None:
        """Run the per-connection work; a bug there is logged and must not drop the charger."""
        try:
            await self._run_connection(link)
        except (ConnectionClosed, ChargerNotConnectedError, asyncio.CancelledError):
            raise
        except Exception:
            link.log.exception("Connect-time work failed; the connection stays open")


def _peer(connection: ServerConnection) -> str | None:
    address = connection.remote_address
    return str(address[0]) if address else None


def _respond(connection: ServerConnection, status: HTTPStatus, text: str) -> Response:
    return connection.respond(status, text)

"""The link of one charger to its upstream backend: connect, boot, status, heartbeats, the queue, authorization.

:class:`UpstreamLink` is the charger connection's tap
(:class:`~bmw_wallbox.csms.tap.UpstreamTap`): every message the charger sends
is copied into the charger's :class:`~.outbox.Outbox` after the charger got its
local answer, and sent upstream under the add-on's own message ids, one after
the other, in the charger's order. A copy is removed only when the upstream
answered it (a CALLERROR counts as an answer: sending it again would not
change it).

Connecting: the upstream URL with Basic Auth (``upstream_id`` or the charger's
id, ``upstream_password``), TLS with the system's CAs or ``upstream_ca``; then
BootNotification with the charger's identity (sent again at the upstream's
interval while it answers Pending or Rejected; nothing else is sent then),
the status of each EVSE, the queue, and heartbeats at the upstream's
interval. A failed attempt or a lost link is retried after 1 s, doubling up to
:data:`MAX_BACKOFF_S`; the first success starts again at 1 s.

Error policy: no answer within :data:`RESPONSE_TIMEOUT_S` closes the link
(it is retried); every failure is one log line and ``upstream.last_error``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import ssl
import time
from collections.abc import Callable, MutableMapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ocpp.charge_point import camel_to_snake_case
from ocpp.exceptions import OCPPError
from ocpp.v201 import call
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from bmw_wallbox.errors import StartupError
from bmw_wallbox.hub import StateHub
from bmw_wallbox.options import ChargerOptions
from bmw_wallbox.state import ChargerState, Save, utcnow
from bmw_wallbox.tokenvalues import AuthStatus, Verdict
from bmw_wallbox.trace import Trace
from bmw_wallbox.upstream.outbox import Outbox
from bmw_wallbox.upstream.requests import ChargerLink, RequestGate
from bmw_wallbox.upstream.station import UpstreamStation

#: Seconds before the first retry, and the most between two.
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 120.0
#: Seconds the upstream may take to answer a message (as a charger's MessageTimeout).
RESPONSE_TIMEOUT_S = 30.0
#: Seconds the upstream may take to decide on a card before the local policy decides.
AUTHORIZE_TIMEOUT_S = 5.0
#: Seconds an upstream verdict on a card is reused, and how many are kept.
RECENT_S, MAX_RECENT = 60.0, 16
#: Seconds the first connection waits for the charger's identity (then it boots as ``Unknown``/``Wallbox``).
IDENTITY_WAIT_S = 30.0
#: The heartbeat interval the upstream may ask for is clamped to this range, in seconds.
MIN_INTERVAL_S, MAX_INTERVAL_S = 1, 86400
#: Messages of the charger that are not copied: the add-on sends its own heartbeats. (A BootNotification is:
#: the upstream sees the station reboot, with the identity the charger gave.)
_OWN = frozenset({"Heartbeat"})
_STATUS_OF = {str(s): s for s in AuthStatus}


class UpstreamLogger(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every log line with the charger id and ``upstream``."""

    def process(self, msg: str, kwargs: MutableMapping[str, Any]) -> tuple[str, MutableMapping[str, Any]]:
        return f"[{self.extra['charger'] if self.extra else '?'}] upstream: {msg}", kwargs


def client_tls(url: str, ssl_dir: Path, ca_file: str | None) -> ssl.SSLContext | None:
    """The TLS context for a ``wss://`` upstream (system CAs, or ``ca_file`` in the ssl folder); None for ``ws://``.

    Raises :class:`StartupError` when ``ca_file`` is missing or not a CA certificate.
    """
    if not url.startswith("wss://"):
        return None
    path = ssl_dir / ca_file if ca_file else None
    try:
        return ssl.create_default_context(cafile=str(path) if path else None)
    except (OSError, ssl.SSLError) as err:
        raise StartupError(
            f"option upstream_ca: {path} cannot be used: {getattr(err, 'strerror', None) or err}"
        ) from None


def next_backoff_s(delay_s: float) -> float:
    """The wait before the next attempt after one that waited ``delay_s``: twice as long, at most 2 minutes."""
    return min(delay_s * 2, MAX_BACKOFF_S)


class UpstreamLink:
    """One charger's link to its upstream (see the module docstring)."""

    def __init__(
        self,
        options: ChargerOptions,
        *,
        state: ChargerState,
        hub: StateHub,
        trace: Trace,
        outbox_path: Path,
        problems: list[str],
        charger: Callable[[], ChargerLink | None],
        ssl_dir: Path,
        first_backoff_s: float = FIRST_BACKOFF_S,
    ) -> None:
        assert options.upstream_url is not None
        assert state.upstream is not None
        self._url = options.upstream_url
        self._station_id = options.upstream_id or options.id
        self._password = options.upstream_password
        self._upstream_auth = options.upstream_authorization == "upstream"
        self._tls = client_tls(self._url, ssl_dir, options.upstream_ca)
        self.charger_id = options.id
        self._state = state
        self._status = state.upstream
        self._hub = hub
        self._trace = trace
        self.outbox = Outbox(outbox_path, problems=problems, on_change=self.queue_changed)
        self._first_backoff_s = first_backoff_s
        self.log = UpstreamLogger(logging.getLogger("bmw_wallbox.upstream"), {"charger": options.id})
        self.gate = RequestGate(
            state=state,
            hub=hub,
            trace=trace,
            mode=options.upstream_mode,
            allow=frozenset(options.upstream_allow),
            charger=charger,
            log=self.log,
        )
        self._station: UpstreamStation | None = None
        self._identity = asyncio.Event()
        #: The upstream's recent verdicts by idToken (an Authorize and the TransactionEvent after it ask once).
        self._recent: dict[str, tuple[float, AuthStatus]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- the tap: what the charger sends ---------------------------------------------------

    def copy(self, action: str, payload: dict[str, Any]) -> None:
        """Queue a copy of a message the charger sent (durable ones also while the upstream is away)."""
        if action in _OWN or (action == "Authorize" and self._upstream_auth):
            return
        if action == "NotifyReport" and payload.get("requestId") not in self.gate.report_ids:
            return  # a report the add-on asked for, not the upstream
        if self._station is None and action not in ("TransactionEvent", "MeterValues"):
            return
        self.outbox.put(action, payload)

    async def authorize(self, id_token: dict[str, Any], verdict: Verdict) -> Verdict:
        """With ``upstream_authorization: upstream``, the upstream's verdict; the local one when it cannot answer."""
        if not self._upstream_auth:
            return verdict
        key = str(id_token.get("id_token"))
        recent = self._recent.get(key)
        if recent is not None and time.monotonic() - recent[0] < RECENT_S:
            return replace(verdict, status=recent[1])
        station = self._station
        if station is None:
            self.log.warning("Authorize: not connected, the local policy decides (%s)", verdict.status)
            return verdict
        asked = asyncio.ensure_future(station.call(call.Authorize(id_token=id_token), suppress=False))
        self._tasks.add(asked)
        asked.add_done_callback(self._tasks.discard)
        done, _ = await asyncio.wait({asked}, timeout=AUTHORIZE_TIMEOUT_S)
        if not done:  # left to finish on its own: its answer must not meet the next call's
            self.log.warning(
                "Authorize: no answer within %.0f s, the local policy decides (%s)", AUTHORIZE_TIMEOUT_S, verdict.status
            )
            return verdict
        error = asked.exception()
        if error is not None:
            self.log.warning(
                "Authorize: the upstream could not answer (%s), the local policy decides (%s)",
                type(error).__name__,
                verdict.status,
            )
            return verdict
        said = str((asked.result().id_token_info or {}).get("status"))
        status = _STATUS_OF.get(said, AuthStatus.INVALID)
        self.log.info("Authorize: the upstream says %s (local policy: %s)", said[:30], verdict.status)
        if len(self._recent) >= MAX_RECENT:
            self._recent.pop(next(iter(self._recent)))
        self._recent[key] = (time.monotonic(), status)
        return replace(verdict, status=status)

    # --- the connection ------------------------------------------------------------------------

    def charger_changed(self) -> None:
        """The charger's state changed: once its identity is known, the link may boot with it."""
        if self._state.boot.model is not None:
            self._identity.set()

    async def run(self) -> None:
        """Keep the link up until cancelled, retrying with backoff.

        The first attempt waits up to :data:`IDENTITY_WAIT_S` for the charger's
        identity (its BootNotification, or the one saved before), so the
        upstream sees the real vendor and model.
        """
        self.charger_changed()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._identity.wait(), IDENTITY_WAIT_S)
        delay = self._first_backoff_s
        while True:
            error = "closed by the upstream"
            try:
                async with connect(
                    self._url,
                    subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
                    additional_headers=self._auth_headers(),
                    ssl=self._tls,
                    open_timeout=RESPONSE_TIMEOUT_S,
                    ping_interval=60,
                    ping_timeout=60,
                    max_size=1024 * 1024,
                ) as ws:
                    await self._session(ws)
            except* InvalidStatus as group:
                refused = group.exceptions[0]
                status = refused.response.status_code if isinstance(refused, InvalidStatus) else "?"
                error = f"refused the connection: HTTP {status}"
            except* (OSError, InvalidHandshake, TimeoutError) as group:
                error = _describe(group.exceptions[0])
            except* ConnectionClosed:
                error = "the connection closed"
            except* OCPPError as group:
                error = f"the upstream answered CALLERROR {type(group.exceptions[0]).__name__}"
            except* Exception:
                self.log.exception("Failed; the link is opened again")
                error = "internal error (see the log)"
            if self._station is not None:
                delay = self._first_backoff_s  # it was up: start the backoff again
            await self._down(error)
            self.log.warning("%s; next attempt in %g s", error, delay)
            await asyncio.sleep(delay)
            delay = next_backoff_s(delay)

    def _auth_headers(self) -> dict[str, str] | None:
        if self._password is None:
            return None
        token = base64.b64encode(f"{self._station_id}:{self._password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def _session(self, ws: ClientConnection) -> None:
        station = UpstreamStation(
            self._station_id,
            ws,
            charger_id=self._state.charger_id,
            trace=self._trace,
            handle=self.gate.handle,
            response_timeout_s=RESPONSE_TIMEOUT_S,
            logger=logging.getLogger("bmw_wallbox.upstream.ocpp"),
        )
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(station.start())
                interval_s = await self._boot(station)
                self._station = station
                self._status.link_changed(connected=True, at=utcnow())
                self._hub.commit(self._state.charger_id, Save.NO)
                self.log.info("Connected to %s; %d messages waiting", self._url, self.outbox.queued)
                for status in self._statuses():
                    await station.call(status, suppress=False)
                group.create_task(self._heartbeats(station, interval_s))
                await self._drain(station)
        finally:
            await station.close()

    async def _boot(self, station: UpstreamStation) -> int:
        """BootNotification until Accepted; the heartbeat interval the upstream asked for."""
        boot = self._state.boot
        identity = {"model": (boot.model or "Wallbox")[:20], "vendor_name": (boot.vendor or "Unknown")[:50]}
        if boot.firmware:
            identity["firmware_version"] = boot.firmware[:50]
        if boot.serial:
            identity["serial_number"] = boot.serial[:25]
        while True:
            answer = await station.call(
                call.BootNotification(charging_station=identity, reason="PowerUp"), suppress=False
            )
            interval_s = min(max(int(answer.interval), MIN_INTERVAL_S), MAX_INTERVAL_S)
            if answer.status == "Accepted":
                return interval_s
            self._status.link_changed(connected=False, at=utcnow(), error=f"boot {answer.status}")
            self._hub.commit(self._state.charger_id, Save.NO)
            self.log.warning("BootNotification: %s; sent again in %d s", answer.status, interval_s)
            await asyncio.sleep(interval_s)

    def _statuses(self) -> list[call.StatusNotification]:
        at = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
        return [
            call.StatusNotification(
                timestamp=at, connector_status=str(evse.connector_status), evse_id=evse_id, connector_id=1
            )
            for evse_id, evse in sorted(self._state.evses.items())
            if evse.connector_status is not None
        ]

    async def _heartbeats(self, station: UpstreamStation, interval_s: int) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await station.call(call.Heartbeat(), suppress=False)

    async def _drain(self, station: UpstreamStation) -> None:
        """Send the queue, oldest first, each once the one before it was answered."""
        while True:
            entry = await self.outbox.wait()
            try:
                payload = getattr(call, entry.action)(**camel_to_snake_case(entry.payload))
            except TypeError as err:
                self.log.warning("A queued %s cannot be sent (%s); dropped", entry.action, err)
                self.outbox.answered(entry, dropped=True)
                continue
            try:
                # Checked against the schema when the charger sent it (csms.framing): not again.
                await station.call(payload, suppress=False, skip_schema_validation=True)
            except OCPPError as err:
                self.log.warning("%s: the upstream answered CALLERROR %s", entry.action, type(err).__name__)
            self.outbox.answered(entry)

    async def _down(self, error: str) -> None:
        self._station = None
        self.outbox.link_lost()
        self._status.link_changed(connected=False, at=utcnow(), error=error)
        self._hub.commit(self._state.charger_id, Save.NO)

    def queue_changed(self) -> None:
        """The outbox changed: the snapshot's counts follow."""
        self._status.queue_changed(queued=self.outbox.queued, dropped=self.outbox.dropped)
        self._hub.commit(self._state.charger_id, Save.NO)

    async def close(self) -> None:
        """Stop what is still running (the caller cancels :meth:`run`)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.gate.close()


def _describe(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "no answer in time"
    if isinstance(err, ssl.SSLError):
        return f"TLS failed: {err.reason or err}"
    if isinstance(err, OSError):
        return f"cannot connect: {err.strerror or type(err).__name__}"
    return f"handshake failed: {type(err).__name__}"

"""The simulator's connection to the CSMS: connect, boot, heartbeats, reconnect, go down.

Error policy: a failed connection attempt is logged at WARNING and retried after
1, 2, 4 ... 30 simulated seconds; a connection that was up is retried 1 s after it
ended (or when an offline period set by a drop or reboot is over). One INFO line
per connection opened and closed. A session that fails (the CSMS answers the
BootNotification with a CALLERROR, or not at all) closes the connection.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import ssl as ssl_lib
from typing import Any
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

from bmw_wallbox.simulator import messages
from bmw_wallbox.simulator._lib import OCPPError, call, enums
from bmw_wallbox.simulator.charge_point import SimChargePoint
from bmw_wallbox.simulator.clock import cancel_and_wait
from bmw_wallbox.simulator.station import FrameLog, Station

_FRAME_LOGGER = logging.getLogger("bmw_wallbox.simulator.frames")
SUBPROTOCOL = Subprotocol("ocpp2.0.1")
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 30.0


class Uplink:
    """Keeps one station connected to ``url`` + "/" + the percent-encoded charger id.

    ``connected`` is set once the BootNotification was accepted (or, after a network
    blip, at once: no new boot, and a StatusNotification only if the personality
    says so); ``disconnected`` while no WebSocket is open.
    """

    def __init__(self, station: Station, url: str, *, ssl: ssl_lib.SSLContext | None) -> None:
        self._station = station
        self._clock = station.clock
        self._log = station.log
        self.url = url
        self._ssl = ssl
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.disconnected.set()
        self.stopping = asyncio.Event()
        #: BootNotifications the CSMS accepted so far.
        self.boot_count = 0
        self.need_boot = True
        self.boot_reason: str = enums.BootReasonEnumType.power_up
        self.offline_until_s = 0.0
        self.event_ids = itertools.count(1)
        self._connection: ClientConnection | None = None
        #: Tasks of the open connection besides receiver and session (outbox, heartbeats).
        self._workers: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Connect, serve, and reconnect with backoff until ``stopping`` is set."""
        delay_s = 0.0
        while not self.stopping.is_set():
            wait_s = max(delay_s, self.offline_until_s - self._clock.now_s())
            if wait_s > 0 and await self._clock.wait_event(self.stopping, wait_s):
                return
            extra: dict[str, Any] = {"ssl": self._ssl} if self._ssl is not None else {}
            try:
                async with connect(
                    self.url.rstrip("/") + "/" + quote(self._station.identity.charger_id, safe=""),
                    subprotocols=[SUBPROTOCOL],
                    additional_headers=self._auth_headers(),
                    proxy=None,
                    ping_interval=self._ping_interval_s(),
                    ping_timeout=30.0,
                    close_timeout=2.0,
                    **extra,
                ) as connection:
                    delay_s = RECONNECT_MIN_S
                    await self._serve(connection)
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed) as err:
                delay_s = min(max(2 * delay_s, RECONNECT_MIN_S), RECONNECT_MAX_S)
                self._log.warning("Cannot connect to %s (%s); retrying in %.0f s", self.url, err, delay_s)

    def drop(self, offline_s: float) -> bool:
        """Cut the network without a close handshake; stay offline ``offline_s`` s. False if not connected."""
        self.offline_until_s = self._clock.now_s() + offline_s
        if self._connection is None:
            return False
        self._connection.transport.abort()
        return True

    async def go_down(self, reason: str, offline_s: float, *, graceful: bool) -> None:
        """Close (graceful) or cut the connection; boot for ``reason`` after ``offline_s`` s."""
        self.need_boot, self.boot_reason = True, reason
        self.offline_until_s = self._clock.now_s() + offline_s
        connection = self._connection
        if connection is None:
            return
        if graceful:
            with contextlib.suppress(ConnectionClosed):
                await connection.close()
        else:
            connection.transport.abort()
        await self.disconnected.wait()

    def _auth_headers(self) -> dict[str, str]:
        """HTTP Basic Auth with the charger id as user, when a BasicAuthPassword is set."""
        password = self._station.variables.value("SecurityCtrlr", "BasicAuthPassword")
        if not password:
            return {}
        user = self._station.identity.charger_id
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def _ping_interval_s(self) -> float | None:
        interval_s = self._station.variables.int_value("OCPPCommCtrlr", "WebSocketPingInterval")
        return self._clock.real_s(interval_s) if interval_s > 0 else None

    async def _serve(self, connection: ClientConnection) -> None:
        """Run one connection until it closes, stopping is set, or the session fails."""
        variables = self._station.variables
        charge_point = SimChargePoint(
            self._station,
            connection,
            response_timeout_s=float(variables.int_value("OCPPCommCtrlr", "MessageTimeout", instance="Default")),
            log=FrameLog(_FRAME_LOGGER, {"charger": self._station.identity.charger_id}),
        )
        self._connection = connection
        self.disconnected.clear()
        self._log.info("Connected to %s", self.url)
        receiver = asyncio.create_task(charge_point.start())
        session = asyncio.create_task(self._session(charge_point))
        stopper = asyncio.create_task(self.stopping.wait())
        tasks = {receiver, session, stopper}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopper}:
                error = task.exception()
                if error is not None and not isinstance(error, ConnectionClosed):
                    self._log.error("Connection ended by an error: %r", error)
        finally:
            self.connected.clear()
            self._station.set_online(False)
            await cancel_and_wait(tasks | self._workers)
            self._workers.clear()
            await connection.close()
            self._connection = None
            self.disconnected.set()
            self._log.info("Disconnected (close code %s)", connection.close_code)

    async def _session(self, charge_point: SimChargePoint) -> None:
        """Boot if needed, then deliver the outbox and send heartbeats until cancelled."""
        booted = self.need_boot
        if booted:
            await self._boot(charge_point)
        self._station.set_online(True)
        self.connected.set()
        evse = self._station.evse
        if booted:
            now = self._clock.iso()
            availability = "Occupied" if evse.plugged else "Available"
            self._station.enqueue(
                [
                    messages.security_event(now, "SettingSystemTime"),
                    messages.notify_event(now, next(self.event_ids), 0, availability),
                    *(request for each in self._station.evses for request in each.boot()),
                ]
            )
        elif self._station.personality.status_after_reconnect:
            self._station.enqueue([each.status_notification() for each in self._station.evses])

        async def send(request: Any) -> Any:
            return await charge_point.call(request, suppress=False)

        workers = {
            asyncio.create_task(self._station.deliver(send)),
            asyncio.create_task(self._heartbeats(charge_point)),
        }
        self._workers |= workers
        done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()  # re-raise: the connection ends with it

    async def _boot(self, charge_point: SimChargePoint) -> None:
        """BootNotification until Accepted (Pending/Rejected: again after ``interval`` s)."""
        while True:
            request = messages.boot_notification(self._station.identity, self.boot_reason)
            response = await charge_point.call(request, suppress=False)
            if response.status == enums.RegistrationStatusEnumType.accepted:
                break
            self._log.warning("BootNotification %s; retrying in %s s", response.status, response.interval)
            await self._clock.sleep(float(response.interval or 10))
        self.need_boot = False
        self.boot_count += 1
        if response.interval > 0:
            self._station.variables.put("OCPPCommCtrlr", "HeartbeatInterval", str(response.interval))
        self._log.info("Booted (%s); heartbeat every %s s", self.boot_reason, response.interval)

    async def _heartbeats(self, charge_point: SimChargePoint) -> None:
        """Heartbeat every HeartbeatInterval simulated seconds (none while it is 0)."""
        while True:
            interval_s = self._station.variables.int_value("OCPPCommCtrlr", "HeartbeatInterval")
            await self._clock.sleep(interval_s if interval_s > 0 else 60.0)
            if interval_s <= 0:
                continue
            try:
                await charge_point.call(call.Heartbeat(), suppress=False)
            except TimeoutError:
                self._log.warning("No answer to Heartbeat")
            except OCPPError as err:
                self._log.warning("CSMS answered Heartbeat with a CALLERROR: %s", err)

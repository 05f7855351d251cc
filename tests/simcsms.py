"""A bare CSMS built from the OCPP library's own charge point, to drive the wallbox simulator in tests.

It answers every request the wallbox sends with a plain Accepted-style response
and logs them (snake_case, as the library hands them to handlers) in one list
shared by all connections, so a test can follow the wallbox across reconnects.
Also builders for the CSMS's requests and readers for the wallbox's.
"""

from __future__ import annotations

import contextlib
import ssl as ssl_lib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import unquote

from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from helpers import eventually

Request = tuple[str, dict[str, Any]]
Match = Callable[[dict[str, Any]], bool]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def variable(component: str, name: str, value: str | None = None, **extra: Any) -> dict[str, Any]:
    """A Get/SetVariables item (snake_case, as the library takes it)."""
    item: dict[str, Any] = {"component": {"name": component}, "variable": {"name": name, **extra}}
    if value is not None:
        item["attribute_value"] = value
    return item


def profile(
    limit_a: float,
    *,
    profile_id: int = 1,
    purpose: str = "TxDefaultProfile",
    stack_level: int = 0,
    evse_id: int = 1,
    transaction_id: str | None = None,
    unit: str = "A",
) -> Any:
    """A SetChargingProfile with one Absolute period of ``limit_a`` (in ``unit``, A or W)."""
    body: dict[str, Any] = {
        "id": profile_id,
        "stack_level": stack_level,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": "Absolute",
        "charging_schedule": [
            {"id": 1, "charging_rate_unit": unit, "charging_schedule_period": [{"start_period": 0, "limit": limit_a}]}
        ],
    }
    if transaction_id is not None:
        body["transaction_id"] = transaction_id
    return call.SetChargingProfile(evse_id=evse_id, charging_profile=body)


def samples(event: dict[str, Any]) -> dict[tuple[str, str | None], float]:
    """(measurand, phase) -> value of a TransactionEvent's or MeterValues' first meter value."""
    values = event["meter_value"][0]["sampled_value"]
    return {(value["measurand"], value.get("phase")): value["value"] for value in values}


def state_is(state: str) -> Any:
    """Match a TransactionEvent reporting ``state``."""
    return lambda event: event["transaction_info"].get("charging_state") == state


class BareCsms(ChargePoint):  # type: ignore[misc]
    """The CSMS side of one connection: answers everything, logs into ``server``."""

    def __init__(self, server: CsmsServer, charger_id: str, connection: ServerConnection) -> None:
        super().__init__(charger_id, connection, response_timeout=server.response_timeout_s)
        self._server = server

    @on(Action.boot_notification)  # type: ignore[untyped-decorator]
    def on_boot_notification(self, **kwargs: Any) -> Any:
        self._server.log("BootNotification", kwargs)
        return call_result.BootNotification(current_time=_now(), interval=self._server.heartbeat_s, status="Accepted")

    @on(Action.heartbeat)  # type: ignore[untyped-decorator]
    def on_heartbeat(self, **kwargs: Any) -> Any:
        self._server.log("Heartbeat", kwargs)
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)  # type: ignore[untyped-decorator]
    def on_status_notification(self, **kwargs: Any) -> Any:
        self._server.log("StatusNotification", kwargs)
        return call_result.StatusNotification()

    @on(Action.transaction_event)  # type: ignore[untyped-decorator]
    def on_transaction_event(self, **kwargs: Any) -> Any:
        self._server.log("TransactionEvent", kwargs)
        return call_result.TransactionEvent()

    @on(Action.meter_values)  # type: ignore[untyped-decorator]
    def on_meter_values(self, **kwargs: Any) -> Any:
        self._server.log("MeterValues", kwargs)
        return call_result.MeterValues()

    @on(Action.notify_report)  # type: ignore[untyped-decorator]
    def on_notify_report(self, **kwargs: Any) -> Any:
        self._server.log("NotifyReport", kwargs)
        return call_result.NotifyReport()

    @on(Action.notify_event)  # type: ignore[untyped-decorator]
    def on_notify_event(self, **kwargs: Any) -> Any:
        self._server.log("NotifyEvent", kwargs)
        return call_result.NotifyEvent()

    @on(Action.security_event_notification)  # type: ignore[untyped-decorator]
    def on_security_event_notification(self, **kwargs: Any) -> Any:
        self._server.log("SecurityEventNotification", kwargs)
        return call_result.SecurityEventNotification()

    @on(Action.notify_ev_charging_needs)  # type: ignore[untyped-decorator]
    def on_notify_ev_charging_needs(self, **kwargs: Any) -> Any:
        self._server.log("NotifyEVChargingNeeds", kwargs)
        return call_result.NotifyEVChargingNeeds(status="Accepted")

    @on(Action.notify_charging_limit)  # type: ignore[untyped-decorator]
    def on_notify_charging_limit(self, **kwargs: Any) -> Any:
        self._server.log("NotifyChargingLimit", kwargs)
        return call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)  # type: ignore[untyped-decorator]
    def on_cleared_charging_limit(self, **kwargs: Any) -> Any:
        self._server.log("ClearedChargingLimit", kwargs)
        return call_result.ClearedChargingLimit()


class CsmsServer:
    """Serves :class:`BareCsms` on 127.0.0.1, port 0, subprotocol ocpp2.0.1 (TLS with ``ssl``).

    ``requests`` logs every charger request as (action, snake_case payload);
    ``handshakes`` logs (path, Authorization header) of every connection.
    """

    def __init__(
        self, *, heartbeat_s: int = 10, response_timeout_s: float = 10.0, ssl: ssl_lib.SSLContext | None = None
    ) -> None:
        self.heartbeat_s = heartbeat_s
        self._ssl = ssl
        self.response_timeout_s = response_timeout_s
        self.requests: list[Request] = []
        self.handshakes: list[tuple[str, str | None]] = []
        self.charge_point: BareCsms | None = None
        self._server: Server | None = None

    async def __aenter__(self) -> Self:
        self._server = await serve(self._handle, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp2.0.1")], ssl=self._ssl)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        """Base URL the simulator appends its id to."""
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"wss://localhost:{port}" if self._ssl else f"ws://127.0.0.1:{port}"

    def log(self, action: str, payload: dict[str, Any]) -> None:
        """Record a request."""
        self.requests.append((action, payload))

    def mark(self) -> int:
        """Index of the next request; pass it as ``since`` to wait for later ones only."""
        return len(self.requests)

    def of(self, action: str, since: int = 0) -> list[dict[str, Any]]:
        """All logged payloads of ``action`` from index ``since`` on."""
        return [payload for name, payload in self.requests[since:] if name == action]

    async def wait_for(
        self, action: str, where: Match = lambda _: True, *, since: int = 0, timeout_s: float = 5.0
    ) -> dict[str, Any]:
        """Return the first ``action`` payload from index ``since`` that ``where`` accepts (waits for one)."""
        matches = await eventually(
            lambda: [payload for payload in self.of(action, since) if where(payload)],
            what=f"a matching {action} from the wallbox (since request {since})",
            timeout=timeout_s,
        )
        return matches[0]

    async def call(self, payload: Any) -> Any:
        """Send a CSMS -> charger call on the newest connection; CALLERRORs raise."""
        assert self.charge_point is not None
        return await self.charge_point.call(payload, suppress=False)

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        path = connection.request.path
        self.handshakes.append((path, connection.request.headers.get("Authorization")))
        charge_point = BareCsms(self, unquote(path.strip("/")), connection)
        self.charge_point = charge_point
        with contextlib.suppress(ConnectionClosed):
            await charge_point.start()

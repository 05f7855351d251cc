"""A charger built from the OCPP library's own charge point (no code of ours), for tests."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from helpers import profile_limit

REPORT = [
    {
        "component": {"name": "SampledDataCtrlr"},
        "variable": {"name": "TxUpdatedMeasurands"},
        "variable_attribute": [{"type": "Actual", "value": "Energy.Active.Import.Register", "mutability": "ReadWrite"}],
        "variable_characteristics": {
            "data_type": "MemberList",
            "supports_monitoring": False,
            "values_list": "Current.Import,Energy.Active.Import.Register,Power.Active.Import,Voltage",
        },
    },
    {
        "component": {"name": "SmartChargingCtrlr"},
        "variable": {"name": "RateUnit"},
        "variable_attribute": [{"type": "Actual", "value": "A,W", "mutability": "ReadOnly"}],
        "variable_characteristics": {"data_type": "MemberList", "supports_monitoring": False},
    },
    {
        "component": {"name": "SecurityCtrlr"},
        "variable": {"name": "BasicAuthPassword"},
        "variable_attribute": [{"type": "Actual", "value": "hunter2-secret", "mutability": "WriteOnly"}],
        "variable_characteristics": {"data_type": "string", "supports_monitoring": False},
    },
]


class LibraryCharger(ChargePoint):
    """A plain library charge point that answers the CSMS's connect-time requests."""

    def __init__(self, *args: Any, accept_variables: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accept_variables = accept_variables
        self.reject_purposes: set[str] = set()
        self.profiles: dict[int, dict[str, Any]] = {}
        #: The EVSE each installed profile is on (0: the whole station).
        self.profile_evses: dict[int, int] = {}
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.calls = asyncio.Queue[tuple[str, dict[str, Any]]]()

    def _got(self, action: str, payload: dict[str, Any]) -> None:
        self.received.append((action, payload))
        self.calls.put_nowait((action, payload))

    @on("GetBaseReport")
    def on_get_base_report(self, request_id: int, report_base: str, **kwargs: Any) -> call_result.GetBaseReport:
        self._got("GetBaseReport", {"request_id": request_id, "report_base": report_base})
        return call_result.GetBaseReport(status="Accepted")

    @after("GetBaseReport")
    async def after_get_base_report(self, request_id: int, **kwargs: Any) -> None:
        await self.call(
            call.NotifyReport(
                request_id=request_id, generated_at="2026-11-26T00:00:00Z", seq_no=0, report_data=REPORT[:2], tbc=True
            )
        )
        await self.call(
            call.NotifyReport(
                request_id=request_id, generated_at="2026-11-26T00:00:00Z", seq_no=1, report_data=REPORT[2:]
            )
        )

    @on("SetVariables")
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **kwargs: Any) -> call_result.SetVariables:
        self._got("SetVariables", {"set_variable_data": set_variable_data})
        status = "Accepted" if self.accept_variables else "Rejected"
        return call_result.SetVariables(
            set_variable_result=[
                {"attribute_status": status, "component": item["component"], "variable": item["variable"]}
                for item in set_variable_data
            ]
        )

    @on("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kwargs: Any) -> call_result.GetVariables:
        """A plain charger without a device model: every variable asked for is unknown."""
        self._got("GetVariables", {"get_variable_data": get_variable_data})
        return call_result.GetVariables(
            get_variable_result=[
                {"attribute_status": "UnknownVariable", "component": item["component"], "variable": item["variable"]}
                for item in get_variable_data
            ]
        )

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message: str, **kwargs: Any) -> call_result.TriggerMessage:
        self._got("TriggerMessage", {"requested_message": requested_message, **kwargs})
        return call_result.TriggerMessage(status="Rejected")

    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **kwargs: Any
    ) -> call_result.SetChargingProfile:
        self._got("SetChargingProfile", {"evse_id": evse_id, "charging_profile": charging_profile})
        if charging_profile["charging_profile_purpose"] in self.reject_purposes:
            return call_result.SetChargingProfile(status="Rejected", status_info={"reason_code": "InvalidProfile"})
        self.profiles[charging_profile["id"]] = charging_profile
        self.profile_evses[charging_profile["id"]] = evse_id
        return call_result.SetChargingProfile(status="Accepted")

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, duration: int, evse_id: int, **kwargs: Any) -> call_result.GetCompositeSchedule:
        self._got("GetCompositeSchedule", {"duration": duration, "evse_id": evse_id})
        limit = self.limit_on(evse_id)
        if limit is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        schedule = {
            "evse_id": evse_id,
            "duration": duration,
            "schedule_start": "2026-11-26T00:00:00Z",
            "charging_rate_unit": "A",
            "charging_schedule_period": [{"start_period": 0, "limit": limit}],
        }
        return call_result.GetCompositeSchedule(status="Accepted", schedule=schedule)

    @property
    def limit_a(self) -> float | None:
        """The lowest limit over the installed profiles (what a faithful charger with one EVSE enforces)."""
        limits = [profile_limit(p) for p in self.profiles.values()]
        return min(limits) if limits else None

    def limit_on(self, evse_id: int) -> float | None:
        """The limit in force on one EVSE: the lowest of its own profiles and the station's (EVSE 0); 0: the lowest."""
        on = [p for i, p in self.profiles.items() if evse_id == 0 or self.profile_evses.get(i, 0) in (0, evse_id)]
        limits = [profile_limit(p) for p in on]
        return min(limits) if limits else None

    @on("GetTransactionStatus")
    def on_get_transaction_status(self, **kwargs: Any) -> call_result.GetTransactionStatus:
        return call_result.GetTransactionStatus(messages_in_queue=False, ongoing_indicator=True)

    @on("RequestStartTransaction")
    def on_request_start_transaction(
        self, id_token: dict[str, Any], remote_start_id: int, **kwargs: Any
    ) -> call_result.RequestStartTransaction:
        self._got("RequestStartTransaction", {"id_token": id_token, "remote_start_id": remote_start_id, **kwargs})
        return call_result.RequestStartTransaction(status="Accepted")

    @on("RequestStopTransaction")
    def on_request_stop_transaction(self, transaction_id: str, **kwargs: Any) -> call_result.RequestStopTransaction:
        self._got("RequestStopTransaction", {"transaction_id": transaction_id})
        return call_result.RequestStopTransaction(status="Accepted")

    @on("Reset")
    def on_reset(self, type: str, **kwargs: Any) -> call_result.Reset:
        self._got("Reset", {"type": type})
        return call_result.Reset(status="Accepted")

    async def next_call(
        self, action: str, timeout: float = 10.0, *, where: Callable[[dict[str, Any]], bool] = lambda payload: True
    ) -> dict[str, Any]:
        """The payload of the next CSMS call of ``action`` that ``where`` accepts (earlier ones are consumed)."""
        seen: list[str] = []
        try:
            async with asyncio.timeout(timeout):
                while True:
                    name, payload = await self.calls.get()
                    seen.append(name)
                    if name == action and where(payload):
                        return payload
        except TimeoutError:
            raise AssertionError(f"no matching {action} call within {timeout:g} s; calls seen: {seen}") from None


@contextlib.asynccontextmanager
async def provisioned_charger(url: str, charger_id: str, **kwargs: Any) -> AsyncIterator[LibraryCharger]:
    """A :func:`library_charger`, yielded once the connect-time limit and the metering set-up have reached it."""
    async with library_charger(url, charger_id, **kwargs) as charger:
        await charger.next_call("SetChargingProfile")
        await charger.next_call("SetVariables")
        yield charger


def basic_auth(user: str, password: str) -> dict[str, str]:
    """An ``Authorization`` header for HTTP Basic Auth."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@contextlib.asynccontextmanager
async def library_charger(
    url: str,
    charger_id: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    password: str | None = None,
    boot: bool = True,
    charger_class: type[LibraryCharger] = LibraryCharger,
    **kwargs: Any,
) -> AsyncIterator[LibraryCharger]:
    """Connect a :class:`LibraryCharger`, send BootNotification (as a charger does first), and run its receive loop."""
    headers = basic_auth(charger_id, password) if password is not None else None
    async with connect(
        f"{url}/{quote(charger_id, safe='')}",
        subprotocols=["ocpp2.0.1"],
        ssl=ssl_context,
        additional_headers=headers,  # type: ignore[list-item]
    ) as ws:
        charger = charger_class(charger_id, ws, **kwargs)
        task = asyncio.create_task(charger.start())
        try:
            if boot:
                await charger.call(
                    call.BootNotification(
                        charging_station={"model": "Library", "vendor_name": "ocpp"}, reason="PowerUp"
                    ),
                    suppress=False,
                )
            yield charger
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def handshake_status(port: int, charger_id: str, password: str, *, source: str = "127.0.0.1") -> int:
    """One plain ``ws://`` connection attempt with Basic Auth; the HTTP status (101 when it connected)."""
    url = f"ws://127.0.0.1:{port}/{quote(charger_id, safe='')}"
    try:
        async with connect(
            url,
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            additional_headers=basic_auth(charger_id, password),
            local_addr=(source, 0),
            open_timeout=5,
        ):
            return 101
    except InvalidStatus as err:
        return err.response.status_code


@contextlib.asynccontextmanager
async def raw_socket(
    url: str, charger_id: str, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[ClientConnection]:
    """A bare WebSocket to send hand-made frames."""
    async with connect(f"{url}/{quote(charger_id, safe='')}", subprotocols=["ocpp2.0.1"], ssl=ssl_context) as ws:  # type: ignore[list-item]
        yield ws

"""The charger port over an OCPP connection: the controller's requests as OCPP 2.0.1 calls.

Implements :class:`~bmw_wallbox.ports.ChargerPort`, for the token service
:class:`~bmw_wallbox.ports.AuthPort`, and for the maintenance service
:class:`~bmw_wallbox.maintenance.port.MaintenancePort`. Only this
module, the handlers and provisioning build library calls or read the
library's answers; the controller sees :mod:`bmw_wallbox.ports` types.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ocpp.v201 import call
from ocpp.v201.enums import (
    ChargingProfileKindEnumType,
    ChargingProfilePurposeEnumType,
    ChargingRateUnitEnumType,
    ResetEnumType,
)

from bmw_wallbox.csms.connection import Connection
from bmw_wallbox.maintenance.port import TransferAnswer
from bmw_wallbox.ports import (
    Answer,
    IdToken,
    LimitProfile,
    LocalListUpdate,
    RateUnit,
    StartAnswer,
    Strategy,
    TransactionStatus,
    VariableChange,
)
from bmw_wallbox.state import ChargerState

_PURPOSES: dict[Strategy, ChargingProfilePurposeEnumType] = {
    Strategy.TX_DEFAULT: ChargingProfilePurposeEnumType.tx_default_profile,
    Strategy.TX_PROFILE: ChargingProfilePurposeEnumType.tx_profile,
    Strategy.STATION_MAX: ChargingProfilePurposeEnumType.charging_station_max_profile,
}
_UNITS: dict[RateUnit, ChargingRateUnitEnumType] = {
    RateUnit.AMPS: ChargingRateUnitEnumType.amps,
    RateUnit.WATTS: ChargingRateUnitEnumType.watts,
}


def set_profile_request(profile: LimitProfile, *, now: datetime | None = None) -> call.SetChargingProfile:
    """The SetChargingProfile request of one limit profile, starting now."""
    start = (now or datetime.now(UTC)).replace(microsecond=0)
    body: dict[str, Any] = {
        "id": profile.profile_id,
        "stack_level": profile.stack_level,
        "charging_profile_purpose": _PURPOSES[profile.strategy],
        "charging_profile_kind": ChargingProfileKindEnumType.absolute,
        "charging_schedule": [
            {
                "id": profile.profile_id,
                "start_schedule": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "charging_rate_unit": _UNITS[profile.unit],
                "charging_schedule_period": [{"start_period": 0, "limit": round(float(profile.limit), 1)}],
            }
        ],
    }
    if profile.transaction_id is not None:
        body["transaction_id"] = profile.transaction_id
    return call.SetChargingProfile(evse_id=profile.evse_id, charging_profile=body)


def send_local_list_request(update: LocalListUpdate) -> call.SendLocalList:
    """The SendLocalList request of one update: entries with their ``idTokenInfo``, removals without."""
    items: list[dict[str, Any]] = []
    for entry in update.entries:
        info: dict[str, Any] = {"status": str(entry.status)}
        if entry.group:
            info["group_id_token"] = {"id_token": entry.group, "type": "Central"}
        items.append({"id_token": {"id_token": entry.value, "type": entry.kind}, "id_token_info": info})
    items += [{"id_token": {"id_token": value, "type": kind}} for value, kind in update.removed]
    return call.SendLocalList(
        version_number=update.version,
        update_type=str(update.update_type),
        local_authorization_list=items or None,
    )


def answer_of(result: Any) -> Answer:
    """Our :class:`Answer` from a library status answer (``status`` plus optional ``status_info``)."""
    info = getattr(result, "status_info", None) or {}
    return Answer(
        status=str(result.status),
        reason_code=_text(info.get("reason_code")),
        additional_info=_text(info.get("additional_info")),
    )


def composite_limit_a(schedule: dict[str, Any] | None) -> float | None:
    """The limit in A in force now, from a GetCompositeSchedule answer's schedule (None if unreadable)."""
    if not schedule or schedule.get("charging_rate_unit") not in (None, "A"):
        return None
    periods = schedule.get("charging_schedule_period") or []
    if not periods:
        return None
    current = [p for p in periods if p.get("start_period", 0) <= 0] or [periods[0]]
    try:
        return float(current[-1]["limit"])
    except (KeyError, TypeError, ValueError):
        return None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class ConnectionPort:
    """A :class:`~bmw_wallbox.ports.ChargerPort` and ``AuthPort`` that speaks OCPP over one connection."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @property
    def state(self) -> ChargerState:
        """The connected charger's state."""
        return self._connection.state

    async def set_limit(self, profile: LimitProfile) -> Answer:
        """SetChargingProfile."""
        return answer_of(await self._connection.request(set_profile_request(profile)))

    async def composite_limit(self, *, evse_id: int, duration_s: int) -> float | None:
        """GetCompositeSchedule in A; None when refused or unreadable."""
        result = await self._connection.request(
            call.GetCompositeSchedule(duration=duration_s, evse_id=evse_id, charging_rate_unit="A")
        )
        if result.status != "Accepted":
            return None
        return composite_limit_a(result.schedule)

    async def transaction_status(self, transaction_id: str) -> TransactionStatus:
        """GetTransactionStatus."""
        result = await self._connection.request(call.GetTransactionStatus(transaction_id=transaction_id))
        return TransactionStatus(
            ongoing=result.ongoing_indicator if isinstance(result.ongoing_indicator, bool) else None,
            messages_in_queue=bool(result.messages_in_queue),
        )

    async def request_start(self, *, evse_id: int, remote_start_id: int, id_token: IdToken) -> StartAnswer:
        """RequestStartTransaction."""
        result = await self._connection.request(
            call.RequestStartTransaction(
                id_token={"id_token": id_token.value, "type": id_token.kind},
                remote_start_id=remote_start_id,
                evse_id=evse_id,
            )
        )
        answer = answer_of(result)
        tx_id = getattr(result, "transaction_id", None)
        return StartAnswer(
            status=answer.status,
            reason_code=answer.reason_code,
            additional_info=answer.additional_info,
            transaction_id=None if tx_id is None else str(tx_id),
        )

    async def request_stop(self, transaction_id: str) -> Answer:
        """RequestStopTransaction."""
        return answer_of(await self._connection.request(call.RequestStopTransaction(transaction_id=transaction_id)))

    async def reset(self) -> Answer:
        """Reset(Immediate)."""
        return answer_of(await self._connection.request(call.Reset(type=ResetEnumType.immediate)))

    async def local_list_version(self) -> int:
        """GetLocalListVersion (a version the charger does not give as a number counts as 0: no list)."""
        result = await self._connection.request(call.GetLocalListVersion())
        version = getattr(result, "version_number", None)
        return version if isinstance(version, int) and not isinstance(version, bool) else 0

    async def send_local_list(self, update: LocalListUpdate) -> Answer:
        """SendLocalList."""
        return answer_of(await self._connection.request(send_local_list_request(update)))

    async def clear_cache(self) -> Answer:
        """ClearCache."""
        return answer_of(await self._connection.request(call.ClearCache()))

    async def set_variable(self, change: VariableChange) -> Answer:
        """SetVariables for one variable (attribute Actual)."""
        result = await self._connection.request(
            call.SetVariables(
                set_variable_data=[
                    {
                        "attribute_value": change.value,
                        "component": {"name": change.component},
                        "variable": {"name": change.variable},
                    }
                ]
            )
        )
        items = result.set_variable_result or [{}]
        info = items[0].get("attribute_status_info") or {}
        return Answer(
            status=str(items[0].get("attribute_status", "Rejected")),
            reason_code=_text(info.get("reason_code")),
            additional_info=_text(info.get("additional_info")),
        )

    # --- maintenance (MaintenancePort) ----------------------------------------------------

    @property
    def host(self) -> str | None:
        """The host the charger connected to: its Host header without the port."""
        request = self._connection.connection.request
        header = request.headers.get("Host") if request is not None else None
        if not header:
            return None
        return header[: header.index("]") + 1] if header.startswith("[") else header.rsplit(":", 1)[0]

    async def get_log(
        self, *, log_type: str, request_id: int, url: str, oldest: datetime | None, latest: datetime | None
    ) -> TransferAnswer:
        """GetLog."""
        log: dict[str, Any] = {"remote_location": url}
        if oldest is not None:
            log["oldest_timestamp"] = _ocpp_time(oldest)
        if latest is not None:
            log["latest_timestamp"] = _ocpp_time(latest)
        result = await self._connection.request(call.GetLog(log=log, log_type=log_type, request_id=request_id))
        return TransferAnswer(status=str(result.status), filename=_text(getattr(result, "filename", None)))

    async def update_firmware(
        self, *, request_id: int, url: str, retrieve_at: datetime, install_at: datetime | None
    ) -> TransferAnswer:
        """UpdateFirmware."""
        firmware: dict[str, Any] = {"location": url, "retrieve_date_time": _ocpp_time(retrieve_at)}
        if install_at is not None:
            firmware["install_date_time"] = _ocpp_time(install_at)
        result = await self._connection.request(call.UpdateFirmware(request_id=request_id, firmware=firmware))
        return TransferAnswer(status=str(result.status))


def _ocpp_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

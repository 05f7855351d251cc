"""Answers to every charger-to-CSMS action of OCPP 2.0.1.

No action is answered NotImplemented: a charger that gets CALLERRORs for its
unsolicited notifications retries them and floods the link. Handlers only
update state and answer; anything that needs a call back to the charger runs
in the connection's own tasks (a handler that awaited a call would block the
receive loop that must deliver the answer).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.datatypes import IdTokenInfoType, StatusInfoType
from ocpp.v201.enums import (
    Action,
    AuthorizationStatusEnumType,
    DataTransferStatusEnumType,
    GenericStatusEnumType,
    GetCertificateStatusEnumType,
    Iso15118EVCertificateStatusEnumType,
    NotifyEVChargingNeedsStatusEnumType,
    RegistrationStatusEnumType,
)

from bmw_wallbox.csms.convert import parse_time, report_entries, sampled_values
from bmw_wallbox.csms.session import Session
from bmw_wallbox.logsafe import shown
from bmw_wallbox.state import Transaction, utcnow

#: Heartbeat interval we ask chargers for, in seconds.
HEARTBEAT_INTERVAL_S = 60


#: EVSE ids tracked per charger; a charger cannot make the state grow without bound.
MAX_EVSES = 8


def _plausible(evse_id: int | None) -> bool:
    return isinstance(evse_id, int) and 1 <= evse_id <= MAX_EVSES


def _tracked(evse_id: int | None) -> int:
    """The EVSE a reading or transaction belongs to: 0 (the station meter) and implausible ids count as EVSE 1."""
    return evse_id if _plausible(evse_id) and evse_id is not None else 1


def ocpp_now() -> str:
    """The current UTC time in the format OCPP uses (``2026-11-26T01:02:03Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ChargerSession(Session):
    """The CSMS side of one connection, with a handler for every action a charger may send."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.report_request_id: int | None = None
        self.report_entries: dict[str, dict[str, Any]] = {}
        self.report_done = asyncio.Event()
        self._ignored_evse_logged = False

    # --- provisioning and availability -------------------------------------------------

    @on(Action.boot_notification, skip_schema_validation=True)
    def on_boot_notification(
        self, charging_station: dict[str, Any], reason: str, **kwargs: Any
    ) -> call_result.BootNotification:
        boot = self.state.boot
        boot.vendor = charging_station.get("vendor_name")
        boot.model = charging_station.get("model")
        boot.firmware = charging_station.get("firmware_version")
        boot.serial = charging_station.get("serial_number")
        boot.reason = reason
        self.log.info(
            "Booted (%s): %s %s, firmware %s",
            shown(reason),
            shown(boot.vendor),
            shown(boot.model),
            shown(boot.firmware),
        )
        self.booted.set()
        self.changed(persist=True)
        return call_result.BootNotification(
            current_time=ocpp_now(), interval=HEARTBEAT_INTERVAL_S, status=RegistrationStatusEnumType.accepted
        )

    @on(Action.heartbeat, skip_schema_validation=True)
    def on_heartbeat(self, **kwargs: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=ocpp_now())

    @on(Action.status_notification, skip_schema_validation=True)
    def on_status_notification(
        self, connector_status: str, evse_id: int, **kwargs: Any
    ) -> call_result.StatusNotification:
        if not _plausible(evse_id):
            if not self._ignored_evse_logged:
                self._ignored_evse_logged = True
                self.log.warning(
                    "Ignoring status of EVSE %s: EVSE ids 1 to %s are tracked (logged once)", evse_id, MAX_EVSES
                )
            return call_result.StatusNotification()
        evse = self.state.evse(evse_id)
        if evse.connector_status != connector_status:
            self.log.info("EVSE %s: connector %s", evse_id, shown(connector_status))
        evse.connector_status = connector_status
        self.changed()
        return call_result.StatusNotification()

    # --- transactions and metering -----------------------------------------------------

    @on(Action.transaction_event, skip_schema_validation=True)
    def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        trigger_reason: str,
        seq_no: int,
        transaction_info: dict[str, Any],
        **kwargs: Any,
    ) -> call_result.TransactionEvent:
        evse_id = (kwargs.get("evse") or {}).get("id")
        tx_id = str(transaction_info["transaction_id"])
        evse_state = self.state.transaction_by_id(tx_id) or self.state.evse(_tracked(evse_id))
        at = parse_time(timestamp) or utcnow()
        tx = evse_state.transaction
        if tx is not None and tx.transaction_id != tx_id:
            self._end_transaction(evse_state.evse_id, at, "Superseded")
            tx = None
        if tx is None and event_type != "Ended":
            tx = Transaction(transaction_id=tx_id, started_at=at)
            evse_state.transaction = tx
            self.log.info(
                "EVSE %s: transaction %s %s (%s)",
                evse_state.evse_id,
                shown(tx_id),
                shown(event_type.lower()),
                shown(trigger_reason),
            )
        if tx is not None:
            if transaction_info.get("charging_state"):
                tx.charging_state = transaction_info["charging_state"]
            if transaction_info.get("remote_start_id") is not None:
                tx.remote_start_id = transaction_info["remote_start_id"]
        readings = sampled_values(kwargs.get("meter_value"))
        if readings:
            evse_state.apply_readings(readings, at=at)
        if tx is not None and tx.start_energy_wh is None:
            tx.start_energy_wh = evse_state.meter.energy_wh
        if event_type == "Ended":
            self._end_transaction(evse_state.evse_id, at, transaction_info.get("stopped_reason"))
        self.changed(now=event_type != "Updated" or trigger_reason == "ChargingStateChanged", persist=True)
        response = call_result.TransactionEvent()
        if kwargs.get("id_token"):
            response.id_token_info = IdTokenInfoType(status=AuthorizationStatusEnumType.accepted)
        return response

    def _end_transaction(self, evse_id: int, at: datetime, reason: str | None) -> None:
        evse = self.state.evse(evse_id)
        tx = evse.transaction
        if tx is None:
            return
        energy_wh = evse.session_energy_wh
        evse.last_session = {
            "transaction_id": tx.transaction_id,
            "started_at": tx.started_at.isoformat(),
            "ended_at": at.isoformat(),
            "energy_kwh": None if energy_wh is None else round(energy_wh / 1000, 3),
            "duration_s": max(0, int((at - tx.started_at).total_seconds())),
            "stopped_reason": reason,
        }
        self.state.record_session({"evse_id": evse_id, **evse.last_session})
        self.log.info(
            "EVSE %s: transaction %s ended (%s)", evse_id, shown(tx.transaction_id), shown(reason or "no reason given")
        )
        evse.transaction = None
        evse.meter.power_w = 0.0 if evse.meter.power_w is not None else None

    @on(Action.meter_values, skip_schema_validation=True)
    def on_meter_values(
        self, evse_id: int, meter_value: list[dict[str, Any]], **kwargs: Any
    ) -> call_result.MeterValues:
        readings = sampled_values(meter_value)
        if readings:
            at = parse_time(meter_value[-1].get("timestamp")) or utcnow()
            self.state.evse(_tracked(evse_id)).apply_readings(readings, at=at)
            self.changed(persist=True)
        return call_result.MeterValues()

    @on(Action.authorize, skip_schema_validation=True)
    def on_authorize(self, id_token: dict[str, Any], **kwargs: Any) -> call_result.Authorize:
        # A home wallbox has one owner; the idToken itself is a secret and is not logged.
        return call_result.Authorize(id_token_info=IdTokenInfoType(status=AuthorizationStatusEnumType.accepted))

    # --- device model ------------------------------------------------------------------

    @on(Action.notify_report, skip_schema_validation=True)
    def on_notify_report(
        self, request_id: int, seq_no: int, generated_at: str, **kwargs: Any
    ) -> call_result.NotifyReport:
        if request_id == self.report_request_id:
            self.report_entries.update(report_entries(kwargs.get("report_data")))
            if not kwargs.get("tbc", False):
                self.report_done.set()
        return call_result.NotifyReport()

    @on(Action.notify_monitoring_report, skip_schema_validation=True)
    def on_notify_monitoring_report(self, **kwargs: Any) -> call_result.NotifyMonitoringReport:
        return call_result.NotifyMonitoringReport()

    @on(Action.notify_event, skip_schema_validation=True)
    def on_notify_event(self, event_data: list[dict[str, Any]], **kwargs: Any) -> call_result.NotifyEvent:
        for event in event_data:
            component = (event.get("component") or {}).get("name")
            variable = (event.get("variable") or {}).get("name")
            self.log.debug(
                "Event %s.%s = %s (%s)",
                shown(component),
                shown(variable),
                shown(event.get("actual_value")),
                shown(event.get("trigger")),
            )
        return call_result.NotifyEvent()

    @on(Action.security_event_notification, skip_schema_validation=True)
    def on_security_event_notification(self, type: str, **kwargs: Any) -> call_result.SecurityEventNotification:
        self.log.info("Security event: %s", shown(type))
        return call_result.SecurityEventNotification()

    # --- smart charging ----------------------------------------------------------------

    @on(Action.notify_ev_charging_needs, skip_schema_validation=True)
    def on_notify_ev_charging_needs(self, **kwargs: Any) -> call_result.NotifyEVChargingNeeds:
        # Accepted: the limit comes as a charging profile the add-on keeps installed.
        return call_result.NotifyEVChargingNeeds(status=NotifyEVChargingNeedsStatusEnumType.accepted)

    @on(Action.notify_ev_charging_schedule, skip_schema_validation=True)
    def on_notify_ev_charging_schedule(self, **kwargs: Any) -> call_result.NotifyEVChargingSchedule:
        return call_result.NotifyEVChargingSchedule(status=GenericStatusEnumType.accepted)

    @on(Action.notify_charging_limit, skip_schema_validation=True)
    def on_notify_charging_limit(
        self, charging_limit: dict[str, Any], **kwargs: Any
    ) -> call_result.NotifyChargingLimit:
        self.log.info(
            "The charger reports an external charging limit (%s)", shown(charging_limit.get("charging_limit_source"))
        )
        return call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit, skip_schema_validation=True)
    def on_cleared_charging_limit(self, charging_limit_source: str, **kwargs: Any) -> call_result.ClearedChargingLimit:
        self.log.info("The charger cleared an external charging limit (%s)", shown(charging_limit_source))
        return call_result.ClearedChargingLimit()

    @on(Action.report_charging_profiles, skip_schema_validation=True)
    def on_report_charging_profiles(self, **kwargs: Any) -> call_result.ReportChargingProfiles:
        return call_result.ReportChargingProfiles()

    # --- firmware, logs, display, customers, reservations --------------------------------

    @on(Action.firmware_status_notification, skip_schema_validation=True)
    def on_firmware_status_notification(self, status: str, **kwargs: Any) -> call_result.FirmwareStatusNotification:
        self.log.info("Firmware status: %s", shown(status))
        return call_result.FirmwareStatusNotification()

    @on(Action.publish_firmware_status_notification, skip_schema_validation=True)
    def on_publish_firmware_status_notification(self, **kwargs: Any) -> call_result.PublishFirmwareStatusNotification:
        return call_result.PublishFirmwareStatusNotification()

    @on(Action.log_status_notification, skip_schema_validation=True)
    def on_log_status_notification(self, **kwargs: Any) -> call_result.LogStatusNotification:
        return call_result.LogStatusNotification()

    @on(Action.notify_display_messages, skip_schema_validation=True)
    def on_notify_display_messages(self, **kwargs: Any) -> call_result.NotifyDisplayMessages:
        return call_result.NotifyDisplayMessages()

    @on(Action.notify_customer_information, skip_schema_validation=True)
    def on_notify_customer_information(self, **kwargs: Any) -> call_result.NotifyCustomerInformation:
        return call_result.NotifyCustomerInformation()

    @on(Action.reservation_status_update, skip_schema_validation=True)
    def on_reservation_status_update(self, **kwargs: Any) -> call_result.ReservationStatusUpdate:
        return call_result.ReservationStatusUpdate()

    @on(Action.data_transfer, skip_schema_validation=True)
    def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> call_result.DataTransfer:
        self.log.info("DataTransfer from vendor %s answered UnknownVendorId", shown(vendor_id))
        return call_result.DataTransfer(status=DataTransferStatusEnumType.unknown_vendor_id)

    # --- certificates (this add-on runs no PKI: honest refusals) -------------------------

    @on(Action.sign_certificate, skip_schema_validation=True)
    def on_sign_certificate(self, **kwargs: Any) -> call_result.SignCertificate:
        return call_result.SignCertificate(
            status=GenericStatusEnumType.rejected,
            status_info=StatusInfoType(
                reason_code="NotSupported", additional_info="This CSMS does not sign certificates"
            ),
        )

    @on(Action.get_15118_ev_certificate, skip_schema_validation=True)
    def on_get_15118_ev_certificate(self, **kwargs: Any) -> call_result.Get15118EVCertificate:
        return call_result.Get15118EVCertificate(status=Iso15118EVCertificateStatusEnumType.failed, exi_response="")

    @on(Action.get_certificate_status, skip_schema_validation=True)
    def on_get_certificate_status(self, **kwargs: Any) -> call_result.GetCertificateStatus:
        return call_result.GetCertificateStatus(status=GetCertificateStatusEnumType.failed)

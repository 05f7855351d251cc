"""Answers to what a charger reports that changes no state: events, limits it set itself, firmware, logs, PKI.

Each is answered as OCPP 2.0.1 wants (never NotImplemented: a charger that gets
CALLERRORs for its unsolicited notifications retries them and floods the link)
and logged where a user may care. :class:`Notices` is a mixin of
:class:`~bmw_wallbox.csms.handlers.ChargerConnection`; the library finds its
``@on`` handlers on the instance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.datatypes import StatusInfoType
from ocpp.v201.enums import (
    Action,
    DataTransferStatusEnumType,
    FirmwareStatusEnumType,
    GenericStatusEnumType,
    GetCertificateStatusEnumType,
    Iso15118EVCertificateStatusEnumType,
    NotifyEVChargingNeedsStatusEnumType,
    UploadLogStatusEnumType,
)

from bmw_wallbox.csms.connection import ChargerLogger
from bmw_wallbox.logsafe import shown
from bmw_wallbox.state import ChargerState, Save, utcnow

_FIRMWARE_STATUSES = frozenset(s.value for s in FirmwareStatusEnumType)
_LOG_STATUSES = frozenset(s.value for s in UploadLogStatusEnumType)


def _request_id(value: object) -> int | None:
    """A notification's requestId, None when it has none (or not a number)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Notices:
    """The handlers of notifications that are only answered (and logged)."""

    log: ChargerLogger
    state: ChargerState

    if TYPE_CHECKING:

        def commit(self, save: Save = Save.NO) -> None:
            """The connection's commit (:meth:`bmw_wallbox.csms.connection.Connection.commit`)."""

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
        """Keep the status of the update we asked for (``firmware_update`` in the snapshot); log every one."""
        self.log.info("Firmware status: %s", shown(status))
        request_id = _request_id(kwargs.get("request_id"))
        if status in _FIRMWARE_STATUSES and self.state.upkeep.firmware_status(request_id, status, at=utcnow()):
            self.commit(Save.SOON)
        return call_result.FirmwareStatusNotification()

    @on(Action.publish_firmware_status_notification, skip_schema_validation=True)
    def on_publish_firmware_status_notification(self, **kwargs: Any) -> call_result.PublishFirmwareStatusNotification:
        return call_result.PublishFirmwareStatusNotification()

    @on(Action.log_status_notification, skip_schema_validation=True)
    def on_log_status_notification(self, status: str, **kwargs: Any) -> call_result.LogStatusNotification:
        """Keep the status of the log with this request id (shown in the log list); log every one."""
        self.log.info("Log upload status: %s", shown(status))
        if status in _LOG_STATUSES and self.state.upkeep.log_status(_request_id(kwargs.get("request_id")), status):
            self.commit(Save.NO)
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

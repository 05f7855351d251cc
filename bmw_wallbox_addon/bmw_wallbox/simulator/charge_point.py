"""The simulator's end of one WebSocket: the OCPP library's charge point with the wallbox's handlers.

Handlers decide at once (through the EVSE and the device model of the
:class:`~bmw_wallbox.simulator.station.Station`) and answer. Whatever the
wallbox sends *because of* a call (NotifyReport parts, TransactionEvents, the
reboot after Reset) is deferred with ``Station.after_response`` and released
only after the answer is on the wire, as on the real unit. While the station is
silent, calls are logged but not answered. Calls the personality does not
implement are answered with CALLERROR NotImplemented before any handler runs.
"""

from __future__ import annotations

import json
from typing import Any

from websockets.asyncio.client import ClientConnection

from bmw_wallbox.simulator import messages
from bmw_wallbox.simulator._lib import (
    ChargePoint,
    OcppNotImplementedError,
    call_error_frame,
    call_result,
    enums,
    on,
    wire_payload,
)
from bmw_wallbox.simulator.auth import LocalListHandlers
from bmw_wallbox.simulator.composite import composite_schedule
from bmw_wallbox.simulator.profiles import Verdict
from bmw_wallbox.simulator.station import ChargerLog, Station
from bmw_wallbox.simulator.transfers import TransferHandlers

Action = enums.Action
_CALL = 2


def _incoming_call(raw: str | bytes) -> tuple[str, str, dict[str, Any]] | None:
    """Return (unique id, action, payload) when ``raw`` is a well-formed CALL frame, else None."""
    try:
        frame = json.loads(raw)
    except ValueError:
        return None
    if isinstance(frame, list) and len(frame) == 4 and frame[0] == _CALL and isinstance(frame[3], dict):
        return str(frame[1]), str(frame[2]), frame[3]
    return None


class SimChargePoint(TransferHandlers, LocalListHandlers, ChargePoint):  # type: ignore[misc, unused-ignore]
    """One connection of the simulated wallbox; handler kwargs are the library's snake_case.

    ``response_timeout_s`` (real seconds) bounds each request the wallbox sends.
    """

    def __init__(
        self, station: Station, connection: ClientConnection, *, response_timeout_s: float, log: ChargerLog
    ) -> None:
        super().__init__(station.identity.charger_id, connection, response_timeout=response_timeout_s, logger=log)
        self._websocket = connection
        self._station = station
        self._log = station.log  # one line per command; ``log`` (the library's) gets the frames

    async def route_message(self, raw_msg: str) -> None:
        """Log incoming calls, drop them while silent, and release deferred work after answering."""
        incoming = _incoming_call(raw_msg)
        if incoming is not None:
            unique_id, action, payload = incoming
            self._station.record_call(action, payload)
            if self._station.silent:
                self._log.info("Silent: not answering %s", action)
                return
            if action in self._station.personality.unimplemented_actions:
                # Answered here rather than by raising in a handler: the library would log a traceback.
                self._log.info("%s -> CALLERROR NotImplemented", action)
                error = OcppNotImplementedError(description=f"{action} is not implemented by this charger")
                await self._websocket.send(call_error_frame(unique_id, action, error))
                return
        await super().route_message(raw_msg)
        self._station.release()

    async def call(
        self, payload: Any, suppress: bool = True, unique_id: str | None = None, skip_schema_validation: bool = False
    ) -> Any:
        """Send a request (logged in ``Station.sent``) and return the library's response object."""
        self._station.record_sent(type(payload).__name__, wire_payload(payload))
        return await super().call(payload, suppress, unique_id, skip_schema_validation)

    # ---------------------------------------------------------------- device model

    @on(Action.get_base_report)
    def on_get_base_report(self, request_id: int, report_base: str, **kwargs: Any) -> Any:
        """Accept Full/ConfigurationInventory and send the report in NotifyReport parts."""
        entries = self._station.variables.report(report_base)
        status = enums.GenericDeviceModelStatusEnumType
        self._log.info("GetBaseReport %s (request %s)", report_base, request_id)
        if entries is None:
            return call_result.GetBaseReport(status=status.not_supported)
        self._station.after_response(messages.notify_reports(request_id, self._station.clock.iso(), entries))
        return call_result.GetBaseReport(status=status.accepted)

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        """Answer every item from the device model."""
        return call_result.GetVariables(get_variable_result=self._station.variables.get_variables(get_variable_data))

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        """Apply every item; ReadOnly variables and invalid values are Rejected."""
        results = self._station.variables.set_variables(set_variable_data)
        for item, result in zip(set_variable_data, results, strict=True):
            self._log.info(
                "SetVariables %s.%s=%s -> %s",
                item["component"]["name"],
                item["variable"]["name"],
                item["attribute_value"],
                result["attribute_status"],
            )
        self._station.settings_changed()
        return call_result.SetVariables(set_variable_result=results)

    # ---------------------------------------------------------------- smart charging

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any], **kwargs: Any) -> Any:
        """Decide with the wallbox's rules; a DROP verdict answers Accepted but keeps nothing.

        A profile for EVSE 0 (the station) is decided by every EVSE (the first refusal answers); one for an
        EVSE the station does not have by EVSE 1, which refuses it.
        """
        targets = self._station.evses if evse_id == 0 else [self._station.evse_by_id(evse_id) or self._station.evse]
        decisions = [target.set_profile(evse_id, charging_profile) for target in targets]
        decision = next((d for d, _ in decisions if d.verdict is Verdict.REJECT), decisions[0][0])
        self._station.after_response([request for _, requests in decisions for request in requests])
        self._log.info(
            "SetChargingProfile id=%s %s stack=%s evse=%s -> %s %s",
            charging_profile.get("id"),
            charging_profile.get("charging_profile_purpose"),
            charging_profile.get("stack_level"),
            evse_id,
            decision.verdict.value,
            decision.reason,
        )
        status = enums.ChargingProfileStatusEnumType
        if decision.verdict is Verdict.REJECT:
            return call_result.SetChargingProfile(status=status.rejected, status_info={"reason_code": decision.reason})
        return call_result.SetChargingProfile(status=status.accepted)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Remove the selected profiles (all of them without id and criteria)."""
        answers = [evse.clear_profiles(charging_profile_id, charging_profile_criteria) for evse in self._station.evses]
        accepted = enums.ClearChargingProfileStatusEnumType.accepted
        status = accepted if any(status == accepted for status, _ in answers) else answers[0][0]
        self._station.after_response([request for _, requests in answers for request in requests])
        self._log.info("ClearChargingProfile id=%s %s -> %s", charging_profile_id, charging_profile_criteria, status)
        return call_result.ClearChargingProfile(status=status)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None = None, **kwargs: Any
    ) -> Any:
        """Return the effective limit over ``duration`` s; Rejected while no profile is installed."""
        schedule = composite_schedule(
            self._station.evse_by_id(evse_id) or self._station.evse,
            self._station.clock,
            duration_s=duration,
            evse_id=evse_id,
            unit=charging_rate_unit,
            max_periods=self._station.variables.int_value("SmartChargingCtrlr", "PeriodsPerSchedule"),
        )
        status = enums.GenericStatusEnumType
        if schedule is None:
            return call_result.GetCompositeSchedule(status=status.rejected)
        return call_result.GetCompositeSchedule(status=status.accepted, schedule=schedule)

    # ---------------------------------------------------------------- transactions

    @on(Action.request_start_transaction)
    def on_request_start_transaction(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Start (or take over) a session when a car is plugged in; see ``Evse.request_start``.

        Without ``evse_id``: the first EVSE with a car and no session (else EVSE 1).
        """
        evses = self._station.evses
        waiting = next((e for e in evses if e.plugged and e.transaction is None), evses[0])
        target = waiting if evse_id is None else self._station.evse_by_id(evse_id) or evses[0]
        status, transaction_id, requests = target.request_start(
            remote_start_id, evse_id, charging_profile, id_token=id_token
        )
        self._station.after_response(requests)
        self._log.info("RequestStartTransaction %s -> %s %s", remote_start_id, status, transaction_id or "")
        return call_result.RequestStartTransaction(status=status, transaction_id=transaction_id)

    @on(Action.request_stop_transaction)
    def on_request_stop_transaction(self, transaction_id: str, **kwargs: Any) -> Any:
        """End the session with that id (stoppedReason Remote); any other id is Rejected."""
        running = (e for e in self._station.evses if e.transaction is not None and e.transaction.id == transaction_id)
        status, requests = next(running, self._station.evse).request_stop(transaction_id)
        self._station.after_response(requests)
        self._log.info("RequestStopTransaction %s -> %s", transaction_id, status)
        return call_result.RequestStopTransaction(status=status)

    @on(Action.get_transaction_status)
    def on_get_transaction_status(self, transaction_id: str | None = None, **kwargs: Any) -> Any:
        """Say whether TransactionEvents are queued and whether that transaction still runs."""
        ongoing = None
        if transaction_id is not None:
            ongoing = any(e.transaction is not None and e.transaction.id == transaction_id for e in self._station.evses)
        return call_result.GetTransactionStatus(
            messages_in_queue=self._station.tx_events_queued(), ongoing_indicator=ongoing
        )

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, evse: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """MeterValues and TransactionEvent (during a session) are sent; Boot/StatusNotification refused.

        With the personality's ``reason_codes`` a TransactionEvent refused for want
        of a transaction says so (statusInfo.reasonCode TxNotFound).
        """
        named = self._station.evse_by_id((evse or {}).get("id"))
        answers = [target.trigger(requested_message) for target in ([named] if named else self._station.evses)]
        accepted = enums.TriggerMessageStatusEnumType.accepted
        status = accepted if any(status == accepted for status, _ in answers) else answers[0][0]
        self._station.after_response([request for _, requests in answers for request in requests])
        self._log.info("TriggerMessage %s -> %s", requested_message, status)
        refused = status == enums.TriggerMessageStatusEnumType.rejected
        no_tx = refused and requested_message == enums.MessageTriggerEnumType.transaction_event
        if no_tx and self._station.personality.reason_codes:
            return call_result.TriggerMessage(status=status, status_info={"reason_code": "TxNotFound"})
        return call_result.TriggerMessage(status=status)

    @on(Action.reset)
    def on_reset(self, type: str, evse_id: int | None = None, **kwargs: Any) -> Any:
        """Immediate reboots after answering; OnIdle waits for the session to end (Scheduled)."""
        immediate = type == enums.ResetEnumType.immediate
        now = self._station.request_reset(immediate=immediate)
        self._log.info("Reset %s -> %s", type, "reboot" if now else "scheduled")
        status = enums.ResetStatusEnumType
        return call_result.Reset(status=status.accepted if now else status.scheduled)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> Any:
        """No vendor extensions: UnknownVendorId."""
        return call_result.DataTransfer(status=enums.DataTransferStatusEnumType.unknown_vendor_id)

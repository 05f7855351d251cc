"""Answers to every charger-to-CSMS action of OCPP 2.0.1 (those that change no state in :mod:`.notices`).

No action is answered NotImplemented: a charger that gets CALLERRORs for its
unsolicited notifications retries them and floods the link. Handlers only
update state and answer; anything that needs a call back to the charger runs
in the connection's own tasks (a handler that awaited a call would block the
receive loop that must deliver the answer).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.datatypes import IdTokenInfoType, IdTokenType
from ocpp.v201.enums import (
    Action,
    AuthorizationStatusEnumType,
    RegistrationStatusEnumType,
)

from bmw_wallbox.csms.connection import Connection
from bmw_wallbox.csms.convert import (
    MAX_VARIABLES,
    charging_state,
    parse_time,
    presented_token,
    report_entries,
    sampled_values,
)
from bmw_wallbox.csms.convert import connector_status as parse_connector_status
from bmw_wallbox.csms.guards import LogBudget
from bmw_wallbox.csms.notices import Notices
from bmw_wallbox.logsafe import shown
from bmw_wallbox.state import BootInfo, ChargerState, RegisterEvent, Save, TransactionChange, plausible_time, utcnow
from bmw_wallbox.tokenbook import Verdict

#: Heartbeat interval we ask chargers for, in seconds.
HEARTBEAT_INTERVAL_S = 60
#: Variables of one device-model report kept while it arrives (each bounded by ``report_entries``).
MAX_REPORT_ENTRIES = MAX_VARIABLES
#: Lines per EVSE and minute that say a connector's status changed at INFO; the rest go to DEBUG, counted.
STATUS_LINES_PER_MINUTE = 3


def ocpp_now() -> str:
    """The current UTC time in the format OCPP uses (``2026-11-26T01:02:03Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def id_token_info(verdict: Verdict) -> IdTokenInfoType:
    """The ``idTokenInfo`` of a verdict: its status, and its group where the token has one."""
    group = IdTokenType(id_token=verdict.group, type="Central") if verdict.group else None
    return IdTokenInfoType(status=AuthorizationStatusEnumType(str(verdict.status)), group_id_token=group)


def _answer(verdict: Verdict | None) -> call_result.TransactionEvent:
    """The answer to a TransactionEvent: with the token's verdict when it carried one."""
    response = call_result.TransactionEvent()
    if verdict is not None:
        response.id_token_info = id_token_info(verdict)
    return response


class ChargerConnection(Notices, Connection):
    """The CSMS side of one connection, with a handler for every action a charger may send."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.report_request_id: int | None = None
        self.report_entries: dict[str, dict[str, Any]] = {}
        self.report_done = asyncio.Event()
        self._logged_once: set[str] = set()
        self.status_lines = LogBudget(self.log, burst=STATUS_LINES_PER_MINUTE, level=logging.INFO)

    def _once(self, key: str, message: str, *args: object) -> None:
        """Log a warning the charger can cause again and again only once per connection."""
        if key not in self._logged_once:
            self._logged_once.add(key)
            self.log.warning(message + " (logged once)", *args)

    def _time(self, value: object) -> datetime:
        """A charger timestamp, replaced by the add-on's time when missing or implausible."""
        now = utcnow()
        at, replaced = plausible_time(parse_time(value), now)
        if replaced:
            self._once("time", "The charger's timestamp %s is far from the app's clock; using the app's", shown(value))
        return at

    # --- provisioning and availability -------------------------------------------------

    @on(Action.boot_notification, skip_schema_validation=True)
    def on_boot_notification(
        self, charging_station: dict[str, Any], reason: str, **kwargs: Any
    ) -> call_result.BootNotification:
        boot = BootInfo(
            vendor=charging_station.get("vendor_name"),
            model=charging_station.get("model"),
            firmware=charging_station.get("firmware_version"),
            serial=charging_station.get("serial_number"),
            reason=reason,
        )
        self.state.booted(boot)
        self.log.info(
            "Booted (%s): %s %s, firmware %s",
            shown(reason),
            shown(boot.vendor),
            shown(boot.model),
            shown(boot.firmware),
        )
        self.booted.set()
        self.commit(Save.SOON)
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
        status = parse_connector_status(connector_status)
        if status is None or ChargerState.tracked_id(evse_id) != evse_id:
            self._once(
                "evse",
                "Ignoring status %s of EVSE %s: EVSE ids 1 to 8 are tracked",
                shown(connector_status),
                shown(evse_id),
            )
            return call_result.StatusNotification()
        if self.state.status_reported(evse_id, status):
            self.status_lines.log(
                f"connector status changes of EVSE {evse_id}", "EVSE %s: connector %s", evse_id, status
            )
        self.commit(Save.SOON)
        return call_result.StatusNotification()

    # --- transactions and metering -----------------------------------------------------

    @on(Action.transaction_event, skip_schema_validation=True)
    async def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        trigger_reason: str,
        seq_no: int,
        transaction_info: dict[str, Any],
        **kwargs: Any,
    ) -> call_result.TransactionEvent:
        verdict = self._verdict("TransactionEvent", kwargs["id_token"]) if kwargs.get("id_token") else None
        if verdict is not None and self.upstream is not None:  # upstream_authorization: upstream, bounded in time
            verdict = await self.upstream.authorize(kwargs["id_token"], verdict)
        transaction_id = str(transaction_info["transaction_id"])
        evse_id = (kwargs.get("evse") or {}).get("id")
        if self._stray(event_type, transaction_id, evse_id):
            self.bad_frames.log(
                "stray transaction events",
                "Ignored TransactionEvent %s for unknown transaction %s without an EVSE: EVSE 1 runs another",
                shown(event_type),
                shown(transaction_id),
            )
            return _answer(verdict)
        change = self.state.transaction_event(
            event_type=event_type,
            transaction_id=transaction_id,
            evse_id=evse_id,
            at=self._time(timestamp),
            now=utcnow(),
            charging_state=charging_state(transaction_info.get("charging_state")),
            remote_start_id=transaction_info.get("remote_start_id"),
            stopped_reason=transaction_info.get("stopped_reason"),
            readings=sampled_values(kwargs.get("meter_value")),
            token=verdict.use if verdict else None,
        )
        self._log_change(change, event_type, trigger_reason, offline=bool(kwargs.get("offline")))
        durable = (
            event_type != "Updated"
            or trigger_reason == "ChargingStateChanged"
            or change.late is not None
            or verdict is not None
        )
        self.commit(Save.NOW if durable else Save.SOON)
        return _answer(verdict)

    def _stray(self, event_type: str, transaction_id: str, evse_id: object) -> bool:
        """An event for a transaction not known, that names no EVSE, while EVSE 1 runs another one.

        Only a ``Started`` (which must name its EVSE, but may not) can replace
        a running transaction; a stray ``Updated`` must not end it, nor become
        the transaction that Stop targets.
        """
        if event_type == "Started" or evse_id is not None:
            return False
        if self.state.transaction_by_id(transaction_id) or self.state.find_session(transaction_id):
            return False
        running = self.state.evses.get(ChargerState.tracked_id(None))
        return running is not None and running.transaction is not None

    def _verdict(self, action: str, id_token: object) -> Verdict:
        """Decide on a presented token, remember it when it is not listed, and log it (by name or masked)."""
        book = self.hub.tokens
        presented = presented_token(id_token)
        verdict = book.authorize(self.state.charger_id, presented)
        if not verdict.listed and not presented.anonymous:
            book.note_unknown(self.state.charger_id, presented, verdict, at=utcnow())
            book.commit(Save.SOON)
        if verdict.use is None:
            who = "no token"
        elif verdict.use.name is not None:
            who = f"token {verdict.use.name!r}"
        else:
            who = f"unknown token {verdict.use.masked}"
        self.log.info("%s: %s %s (policy %s)", action, who, verdict.status, book.charger(self.state.charger_id).policy)
        return verdict

    def _log_change(self, change: TransactionChange, event_type: str, trigger: str, *, offline: bool) -> None:
        if change.ignored is not None:
            self.log.warning("Ignored a TransactionEvent: %s", shown(change.ignored, limit=200))
            return
        if change.superseded is not None:
            self.log.warning(
                "EVSE %s: transaction %s ended without an Ended event (a newer one began)",
                change.evse_id,
                shown(change.superseded.transaction_id),
            )
        if change.started is not None:
            self.log.info(
                "EVSE %s: transaction %s %s (%s)",
                change.evse_id,
                shown(change.started.transaction_id),
                shown(event_type),
                shown(trigger),
            )
        if change.ended is not None:
            self.log.info(
                "EVSE %s: transaction %s ended (%s), %s Wh",
                change.evse_id,
                shown(change.ended.transaction_id),
                shown(change.ended.stopped_reason or "no reason given"),
                "unknown" if change.ended.energy_wh is None else f"{change.ended.energy_wh:.0f}",
            )
        if change.late is not None:
            self.log.info(
                "EVSE %s: a late%s %s event corrected the recorded session %s",
                change.evse_id,
                " (offline)" if offline else "",
                shown(event_type),
                shown(change.late.transaction_id),
            )
        self._log_register(change.register)

    def _log_register(self, event: RegisterEvent | None) -> None:
        if event is RegisterEvent.RESTARTED:
            self._once(
                "restart",
                "The energy register restarted (it counts per transaction): the lifetime energy adds each session",
            )
        elif event is RegisterEvent.DROPPED_IN_SESSION:
            self._once("drop", "Charger fault: the energy register went down during a session; readings ignored")
        elif event is RegisterEvent.WENT_BACK:
            self._once("back", "The energy register went backwards slightly; lower readings are ignored")
        elif event is RegisterEvent.IMPLAUSIBLE:
            self._once("implausible", "Ignored an implausible energy reading (more than the charger can deliver)")

    @on(Action.meter_values, skip_schema_validation=True)
    def on_meter_values(
        self, evse_id: int, meter_value: list[dict[str, Any]], **kwargs: Any
    ) -> call_result.MeterValues:
        readings = sampled_values(meter_value)
        if readings:
            event = self.state.meter_values(
                ChargerState.tracked_id(evse_id),
                readings,
                at=self._time(meter_value[-1].get("timestamp")),
                now=utcnow(),
            )
            self._log_register(event)
            self.commit(Save.SOON)
        return call_result.MeterValues()

    @on(Action.authorize, skip_schema_validation=True)
    async def on_authorize(self, id_token: dict[str, Any], **kwargs: Any) -> call_result.Authorize:
        # The idToken is a secret: it is logged by its name in the token list, or masked.
        verdict = self._verdict("Authorize", id_token)
        if self.upstream is not None:  # upstream_authorization: upstream lets the upstream decide, bounded in time
            verdict = await self.upstream.authorize(id_token, verdict)
        return call_result.Authorize(id_token_info=id_token_info(verdict))

    # --- device model ------------------------------------------------------------------

    @on(Action.notify_report, skip_schema_validation=True)
    def on_notify_report(
        self, request_id: int, seq_no: int, generated_at: str, **kwargs: Any
    ) -> call_result.NotifyReport:
        """Keep the entries of the report we asked for, at most ``MAX_REPORT_ENTRIES`` (bounded each)."""
        if request_id == self.report_request_id:
            for key, entry in report_entries(kwargs.get("report_data")):
                if key in self.report_entries or len(self.report_entries) < MAX_REPORT_ENTRIES:
                    self.report_entries[key] = entry
                else:
                    self._once(
                        "report",
                        "The device-model report has more than %d variables; the rest are ignored",
                        MAX_REPORT_ENTRIES,
                    )
            if not kwargs.get("tbc", False):
                self.report_done.set()
        return call_result.NotifyReport()

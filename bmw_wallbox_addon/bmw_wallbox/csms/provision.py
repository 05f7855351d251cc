"""What the CSMS does each time a charger connects, with or without a BootNotification.

0. The desired limit, before anything else (``on_connected``: the controller).
1. Reconciliation: what the add-on knew (restored from the data dir, or from
   before the disconnect, shown as ``restored``) is confirmed or corrected:
   the connector status by TriggerMessage(StatusNotification) where the
   charger accepts it, else by GetVariables of ``AvailabilityState`` on the
   Connector and EVSE components; a known transaction by GetTransactionStatus
   (not ongoing and nothing queued: it is closed as lost, with the last energy
   and time known); the charging state by TriggerMessage(TransactionEvent),
   whose refusal also tells a transaction is lost when GetTransactionStatus
   could not, if the charger said ``TxNotFound``, had accepted that trigger
   before, or reports the connector Available.
2. GetBaseReport(FullInventory) and a stored capability record built from it.
3. SetVariables for the meter interval and every available measurand (the
   wallbox's defaults push almost nothing during a link); where the charger
   rejects them, TriggerMessage(MeterValues) polling instead.
4. ``on_provisioned`` (the local authorization list, :mod:`bmw_wallbox.tokens.sync`).

Every step tolerates a charger that refuses it: a refusal is recorded, logged
once, and the next step runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable

from ocpp.v201 import call
from ocpp.v201.enums import MessageTriggerEnumType, ReportBaseEnumType

from bmw_wallbox.csms.convert import KNOWN_MEASURANDS, capabilities_from_report, connector_status
from bmw_wallbox.csms.handlers import ChargerConnection
from bmw_wallbox.csms.port import answer_of
from bmw_wallbox.errors import ChargerCallError, ChargerTimeoutError
from bmw_wallbox.ports import Answer
from bmw_wallbox.state import ConnectorStatus, Save, Source, utcnow

#: How long to wait for the first frame of a new connection before provisioning anyway
#: (a booting charger sends BootNotification at once; one that only reconnects may say nothing).
FIRST_MESSAGE_WAIT_S = 3.0
#: How long the charger may take to send its whole device-model report.
REPORT_WAIT_S = 60.0

_request_ids = itertools.count(1)

ConnectHook = Callable[[ChargerConnection], Awaitable[object]]


async def provision(
    link: ChargerConnection,
    *,
    meter_interval_s: int,
    on_connected: ConnectHook | None = None,
    on_provisioned: ConnectHook | None = None,
) -> None:
    """Run the connect-time sequence, then poll meter values if the charger will not push them.

    ``on_connected`` runs first (the charging limit goes before anything else,
    so no session can start above it); ``on_provisioned`` once the capabilities
    are known and metering is set (the local authorization list).
    """
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(link.first_message.wait(), FIRST_MESSAGE_WAIT_S)
    if on_connected is not None:
        await on_connected(link)
    await reconcile(link)
    await read_capabilities(link)
    pushes = await configure_metering(link, meter_interval_s=meter_interval_s)
    if on_provisioned is not None:
        await on_provisioned(link)
    if not pushes:
        await poll_meter_values(link, interval_s=meter_interval_s)


async def read_capabilities(link: ChargerConnection) -> None:
    """Ask for the full device model and store what the charger can do."""
    request_id = next(_request_ids)
    link.report_request_id = request_id
    link.report_entries = {}
    link.report_done.clear()
    try:
        result = await link.request(
            call.GetBaseReport(request_id=request_id, report_base=ReportBaseEnumType.full_inventory)
        )
    except (ChargerCallError, ChargerTimeoutError) as err:
        link.log.warning("GetBaseReport failed (%s); using the capabilities stored before", err)
        return
    if result.status != "Accepted":
        link.log.warning("GetBaseReport answered %s; using the capabilities stored before", result.status)
        return
    try:
        await asyncio.wait_for(link.report_done.wait(), REPORT_WAIT_S)
    except TimeoutError:
        link.log.warning(
            "The device-model report did not finish within %.0f s; using the part that came", REPORT_WAIT_S
        )
    caps = capabilities_from_report(link.report_entries, previous=link.state.capabilities, at=utcnow())
    # What is kept from here on is the capability record; later report frames are not stored.
    link.report_request_id = None
    link.report_entries = {}
    link.state.capabilities_reported(caps)
    if caps.message_timeout_s:
        link.response_timeout_s = caps.message_timeout_s
    link.log.info(
        "Capabilities: measurands %r, rate units %r, stack level %s, phases %s",
        ",".join(caps.measurands) or "unknown",
        ",".join(caps.rate_units) or "unknown",
        caps.profile_stack_level,
        caps.phases,
    )
    asks = {True: "asks for a token before charging", False: "charges without asking for a token", None: "?"}
    if caps.local_list_available:
        local = f"{'on' if caps.local_list_enabled else 'off'}, {caps.local_list_max_entries or '?'} entries"
    else:
        local = "none"
    link.log.info("Tokens: the charger %s; its local list: %s", asks[caps.auth_enabled], local)
    link.commit(Save.NOW)


def wanted_measurands(available: list[str]) -> list[str]:
    """The measurands to ask for: every one we understand that the charger offers (all four if unknown)."""
    if not available:
        return list(KNOWN_MEASURANDS)
    return [m for m in KNOWN_MEASURANDS if m in available]


async def configure_metering(link: ChargerConnection, *, meter_interval_s: int) -> bool:
    """Set the sampling interval and measurands; return True if the charger will push meter values."""
    caps = link.state.capabilities
    measurands = wanted_measurands(caps.measurands)
    request = call.SetVariables(
        set_variable_data=[
            {
                "attribute_value": str(meter_interval_s),
                "component": {"name": "SampledDataCtrlr"},
                "variable": {"name": "TxUpdatedInterval"},
            },
            {
                "attribute_value": ",".join(measurands),
                "component": {"name": "SampledDataCtrlr"},
                "variable": {"name": "TxUpdatedMeasurands"},
            },
        ]
    )
    try:
        result = await link.request(request)
    except (ChargerCallError, ChargerTimeoutError) as err:
        link.log.warning("SetVariables for metering failed (%s); polling meter values instead", err)
        link.state.learned(meter_push=False)
        return False
    statuses = {item["variable"]["name"]: item["attribute_status"] for item in result.set_variable_result}
    pushes = statuses.get("TxUpdatedInterval") == "Accepted"
    link.state.learned(meter_push=pushes)
    if pushes:
        link.log.info("Meter values every %s s: %s", meter_interval_s, ",".join(measurands))
    else:
        link.log.warning(
            "The charger answered %s to TxUpdatedInterval; polling meter values every %s s instead",
            statuses.get("TxUpdatedInterval"),
            meter_interval_s,
        )
    if statuses.get("TxUpdatedMeasurands") not in (None, "Accepted"):
        link.log.warning("The charger answered %s to TxUpdatedMeasurands", statuses.get("TxUpdatedMeasurands"))
    link.commit(Save.SOON)
    return pushes


async def trigger(link: ChargerConnection, message: MessageTriggerEnumType, evse_id: int | None) -> Answer:
    """Send TriggerMessage; record whether the charger accepted it, and return its answer.

    A CALLERROR counts as a refusal (answer ``Rejected`` with the error code as reason).
    """
    evse = {"id": evse_id} if evse_id is not None else None
    if message == MessageTriggerEnumType.status_notification and evse is not None:
        evse["connector_id"] = 1
    try:
        answer = answer_of(await link.request(call.TriggerMessage(requested_message=message, evse=evse)))
    except ChargerCallError as err:
        answer = Answer(status="Rejected", reason_code=err.code)
    link.state.trigger_answered(str(message), accepted=answer.accepted)
    return answer


async def reconcile(link: ChargerConnection) -> None:
    """Confirm or correct the restored connector status and transactions (see the module docstring)."""
    state = link.state
    for evse_id in sorted(state.evses) or [1]:
        evse = state.evse(evse_id)
        try:
            if evse.status_source is not Source.LIVE:
                await _confirm_status(link, evse_id)
            # Asked even when an event made it look live: that event may have come from before the reconnect.
            if evse.transaction is not None:
                await _confirm_transaction(link, evse_id)
            else:
                await trigger(link, MessageTriggerEnumType.transaction_event, evse_id)
        except ChargerTimeoutError as err:
            link.log.warning("Reconciling EVSE %s got no answer (%s)", evse_id, err)
    link.commit(Save.NOW)


async def _confirm_status(link: ChargerConnection, evse_id: int) -> None:
    """The connector status now: by TriggerMessage where accepted, else from the device model."""
    known = link.state.capabilities.triggers.get(str(MessageTriggerEnumType.status_notification))
    if known is not False:
        answer = await trigger(link, MessageTriggerEnumType.status_notification, evse_id)
        if answer.accepted:
            return  # the StatusNotification follows
    try:
        result = await link.request(
            call.GetVariables(
                get_variable_data=[
                    {
                        "component": {"name": "Connector", "evse": {"id": evse_id, "connector_id": 1}},
                        "variable": {"name": "AvailabilityState"},
                    },
                    {"component": {"name": "EVSE", "evse": {"id": evse_id}}, "variable": {"name": "AvailabilityState"}},
                ]
            )
        )
    except ChargerCallError as err:
        link.log.info("The connector status of EVSE %s cannot be read (%s); it stays as last known", evse_id, err)
        return
    for item in result.get_variable_result or []:
        status = connector_status(item.get("attribute_value")) if item.get("attribute_status") == "Accepted" else None
        if status is not None:
            if link.state.evse(evse_id).status_source is Source.LIVE:
                return  # a StatusNotification came in meanwhile: it is newer than this answer
            if link.state.status_reported(evse_id, status):
                link.log.info("EVSE %s: connector %s (from the device model)", evse_id, status)
            return
    link.log.info("The charger did not tell the connector status of EVSE %s; it stays as last known", evse_id)


async def _confirm_transaction(link: ChargerConnection, evse_id: int) -> None:
    """Ask whether the known transaction still runs; close it as lost when the charger no longer knows it."""
    state = link.state
    tx = state.evse(evse_id).transaction
    assert tx is not None
    ongoing: bool | None = None
    queued = False
    try:
        result = await link.request(call.GetTransactionStatus(transaction_id=tx.transaction_id))
    except ChargerCallError:
        pass  # the trigger below has to tell
    else:
        ongoing = result.ongoing_indicator if isinstance(result.ongoing_indicator, bool) else None
        queued = bool(result.messages_in_queue)
    if ongoing:
        state.confirm_transaction(evse_id)
    accepted_before = state.capabilities.triggers.get(str(MessageTriggerEnumType.transaction_event)) is True
    answer = await trigger(link, MessageTriggerEnumType.transaction_event, evse_id)
    if ongoing or queued:
        return  # running, or its queued events are on their way and will tell
    # Without GetTransactionStatus, a refused trigger tells only from a charger that said TxNotFound, that has
    # accepted this trigger before (the Delta, during a session), or that reports its connector free.
    evse = state.evse(evse_id)
    free = evse.connector_status is ConnectorStatus.AVAILABLE and evse.status_source is Source.LIVE
    refused = not answer.accepted and (answer.reason_code == "TxNotFound" or accepted_before or free)
    lost = ongoing is False or (ongoing is None and refused)
    if lost and state.evse(evse_id).transaction is tx:
        record = state.close_lost(evse_id, now=utcnow())
        link.log.warning(
            "EVSE %s: the charger no longer knows transaction %r: closed it as lost (%s Wh)",
            evse_id,
            tx.transaction_id,
            "unknown" if record is None or record.energy_wh is None else f"{record.energy_wh:.0f}",
        )
        link.commit(Save.NOW)


async def poll_meter_values(link: ChargerConnection, *, interval_s: int) -> None:
    """Trigger MeterValues every ``interval_s`` while a transaction runs (for chargers that will not push)."""
    while True:
        await asyncio.sleep(interval_s)
        for evse in list(link.state.evses.values()):
            if evse.transaction is None:
                continue
            try:
                answer = await trigger(link, MessageTriggerEnumType.meter_values, evse.evse_id)
                if not answer.accepted:
                    link.log.warning("The charger refuses TriggerMessage(MeterValues); live values stay stale")
                    return
            except ChargerTimeoutError:
                continue

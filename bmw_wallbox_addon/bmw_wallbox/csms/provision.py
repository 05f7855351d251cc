"""What the CSMS does each time a charger connects.

1. GetBaseReport(FullInventory) and a stored capability record built from it.
2. SetVariables for the meter interval and every available measurand (the
   wallbox's defaults push almost nothing during a session); where the charger
   rejects them, TriggerMessage(MeterValues) polling instead.
3. TriggerMessage(TransactionEvent) to recover a transaction that ran while
   the add-on was away.

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

from bmw_wallbox.csms.convert import KNOWN_MEASURANDS, capabilities_from_report
from bmw_wallbox.csms.handlers import ChargerSession
from bmw_wallbox.errors import ChargerCallError, ChargerTimeoutError
from bmw_wallbox.state import utcnow

#: How long to wait for the first frame of a new connection before provisioning anyway.
FIRST_MESSAGE_WAIT_S = 5.0
#: How long the charger may take to send its whole device-model report.
REPORT_WAIT_S = 60.0

_request_ids = itertools.count(1)

ConnectHook = Callable[[ChargerSession], Awaitable[object]]


async def provision(session: ChargerSession, *, meter_interval_s: int, on_connected: ConnectHook | None = None) -> None:
    """Run the connect-time sequence, then poll meter values if the charger will not push them.

    ``on_connected`` runs first (the charging limit goes before anything else,
    so no session can start above it).
    """
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(session.first_message.wait(), FIRST_MESSAGE_WAIT_S)
    if on_connected is not None:
        await on_connected(session)
    await read_capabilities(session)
    pushes = await configure_metering(session, meter_interval_s=meter_interval_s)
    await recover_transactions(session)
    if not pushes:
        await poll_meter_values(session, interval_s=meter_interval_s)


async def read_capabilities(session: ChargerSession) -> None:
    """Ask for the full device model and store what the charger can do."""
    request_id = next(_request_ids)
    session.report_request_id = request_id
    session.report_entries = {}
    session.report_done.clear()
    try:
        result = await session.request(
            call.GetBaseReport(request_id=request_id, report_base=ReportBaseEnumType.full_inventory)
        )
    except (ChargerCallError, ChargerTimeoutError) as err:
        session.log.warning("GetBaseReport failed (%s); using the capabilities stored before", err)
        return
    if result.status != "Accepted":
        session.log.warning("GetBaseReport answered %s; using the capabilities stored before", result.status)
        return
    try:
        await asyncio.wait_for(session.report_done.wait(), REPORT_WAIT_S)
    except TimeoutError:
        session.log.warning(
            "The device-model report did not finish within %.0f s; using the part that came", REPORT_WAIT_S
        )
    caps = capabilities_from_report(session.report_entries, previous=session.state.capabilities, at=utcnow())
    session.state.capabilities = caps
    if caps.message_timeout_s:
        session.response_timeout_s = caps.message_timeout_s
    session.log.info(
        "Capabilities: measurands %s, rate units %s, stack level %s, phases %s",
        ",".join(caps.measurands) or "unknown",
        ",".join(caps.rate_units) or "unknown",
        caps.profile_stack_level,
        caps.phases,
    )
    session.changed(now=True)


def wanted_measurands(available: list[str]) -> list[str]:
    """The measurands to ask for: every one we understand that the charger offers (all four if unknown)."""
    if not available:
        return list(KNOWN_MEASURANDS)
    return [m for m in KNOWN_MEASURANDS if m in available]


async def configure_metering(session: ChargerSession, *, meter_interval_s: int) -> bool:
    """Set the sampling interval and measurands; return True if the charger will push meter values."""
    caps = session.state.capabilities
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
        result = await session.request(request)
    except (ChargerCallError, ChargerTimeoutError) as err:
        session.log.warning("SetVariables for metering failed (%s); polling meter values instead", err)
        caps.meter_push = False
        return False
    statuses = {item["variable"]["name"]: item["attribute_status"] for item in result.set_variable_result}
    pushes = statuses.get("TxUpdatedInterval") == "Accepted"
    caps.meter_push = pushes
    if pushes:
        session.log.info("Meter values every %s s: %s", meter_interval_s, ",".join(measurands))
    else:
        session.log.warning(
            "The charger answered %s to TxUpdatedInterval; polling meter values every %s s instead",
            statuses.get("TxUpdatedInterval"),
            meter_interval_s,
        )
    if statuses.get("TxUpdatedMeasurands") not in (None, "Accepted"):
        session.log.warning("The charger answered %s to TxUpdatedMeasurands", statuses.get("TxUpdatedMeasurands"))
    session.changed(persist=True)
    return pushes


async def trigger(session: ChargerSession, message: MessageTriggerEnumType, evse_id: int | None) -> bool:
    """Send TriggerMessage; record and return whether the charger accepted it."""
    evse = {"id": evse_id} if evse_id is not None else None
    try:
        result = await session.request(call.TriggerMessage(requested_message=message, evse=evse))
    except ChargerCallError:
        accepted = False
    else:
        accepted = result.status == "Accepted"
    session.state.capabilities.triggers[str(message)] = accepted
    return accepted


async def recover_transactions(session: ChargerSession) -> None:
    """Ask each EVSE for its running transaction, so one that began while we were away is picked up."""
    evse_ids = sorted(session.state.evses) or [1]
    for evse_id in evse_ids:
        try:
            await trigger(session, MessageTriggerEnumType.transaction_event, evse_id)
        except ChargerTimeoutError:
            session.log.warning("TriggerMessage(TransactionEvent) got no answer")
    session.changed(persist=True)


async def poll_meter_values(session: ChargerSession, *, interval_s: int) -> None:
    """Trigger MeterValues every ``interval_s`` while a transaction runs (for chargers that will not push)."""
    while True:
        await asyncio.sleep(interval_s)
        for evse in list(session.state.evses.values()):
            if evse.transaction is None:
                continue
            try:
                if not await trigger(session, MessageTriggerEnumType.meter_values, evse.evse_id):
                    session.log.warning("The charger refuses TriggerMessage(MeterValues); live values stay stale")
                    return
            except ChargerTimeoutError:
                continue

"""Transactions and sessions: one TransactionEvent, a late event from the charger's queue, a token's new name.

Part of the state model (no I/O). :class:`~bmw_wallbox.state.ChargerState`
delegates here (as it does to :mod:`~bmw_wallbox.saved`); nothing else calls these.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from bmw_wallbox.energy import ENERGY_REGISTER, SampledValue
from bmw_wallbox.records import ChargingState, SessionRecord, Source, TokenUse, Transaction, TransactionChange

if TYPE_CHECKING:
    from bmw_wallbox.state import ChargerState


#: Stopped reason of a session replaced by a newer one on the same EVSE without an Ended event.
SUPERSEDED = "Superseded"


def take_event(
    charger: ChargerState,
    *,
    event_type: str,
    transaction_id: str,
    evse_id: int | None,
    at: datetime,
    now: datetime,
    charging_state: ChargingState | None,
    remote_start_id: int | None,
    stopped_reason: str | None,
    readings: list[SampledValue],
    token: TokenUse | None,
) -> TransactionChange:
    """One TransactionEvent (:meth:`ChargerState.transaction_event` says what it does).

    A transaction without a token gets the token of the remote start it
    belongs to (by ``remoteStartId``, or the transaction id the start's answer named).
    """
    evse = charger.transaction_by_id(transaction_id)
    if evse is None:
        recorded = charger.find_session(transaction_id)
        if recorded is not None:
            late = late_update(charger, recorded, event_type, at, stopped_reason, readings)
            return TransactionChange(evse_id=recorded.evse_id, late=late)
        if event_type == "Ended":
            return TransactionChange(ignored=f"Ended for transaction {transaction_id!r}, which is not known")
        evse = charger.evse(charger.tracked_id(evse_id))
    superseded = started = None
    tx = evse.transaction
    if tx is not None and tx.transaction_id != transaction_id:
        superseded = charger.end(evse, at=min(at, evse.last_known_at() or at), reason=SUPERSEDED)
        tx = None
    if tx is None:
        tx = evse.transaction = Transaction(transaction_id=transaction_id, started_at=at)
        started = tx
    tx.source = Source.LIVE
    tx.seen_at = max(tx.seen_at, at) if tx.seen_at else at
    if remote_start_id is not None:
        tx.remote_start_id = remote_start_id
    if token is None and tx.token is None:
        link = charger.remote_starts.match(remote_start_id=tx.remote_start_id, transaction_id=transaction_id)
        token = link.token if link is not None else None
    if token is not None and tx.token is None:
        tx.token = token
    if charging_state is not None:
        tx.charging_state = charging_state
    register = charger.take_readings(evse, readings, at=at, now=now) if readings else None
    ended = charger.end(evse, at=max(at, tx.started_at), reason=stopped_reason) if event_type == "Ended" else None
    return TransactionChange(
        evse_id=evse.evse_id, started=started, ended=ended, superseded=superseded, register=register
    )


def late_update(
    charger: ChargerState,
    record: SessionRecord,
    event_type: str,
    at: datetime,
    reason: str | None,
    readings: list[SampledValue],
) -> SessionRecord:
    """A late event (the charger's offline queue) for a session already recorded: correct the record."""
    energy = record.energy_wh
    register = [r.value for r in readings if r.measurand == ENERGY_REGISTER and r.phase is None]
    if register and record.start_register_wh is not None and register[-1] >= record.start_register_wh:
        late_wh = register[-1] - record.start_register_wh
        if energy is None or late_wh > energy:
            if charger.capabilities.register_per_transaction and energy is not None:
                # The lifetime sum banked what the register showed when the session was closed.
                charger.evse(record.evse_id).meter.offset_wh += late_wh - energy
            energy = late_wh
    updated = replace(record, energy_wh=energy)
    if event_type == "Ended":
        stopped = reason if reason is not None else record.stopped_reason
        updated = replace(updated, ended_at=max(at, record.started_at), stopped_reason=stopped)
    charger.sessions = [updated if s is record else s for s in charger.sessions]
    evse = charger.evse(record.evse_id)
    evse.last_session = updated if evse.last_session is record else evse.last_session
    return updated


def rename_token(charger: ChargerState, ref: str, name: str) -> bool:
    """A listed token got a new name: the running transactions and the history follow; True when any did."""
    renamed = False
    for evse in charger.evses.values():
        tx = evse.transaction
        if tx is not None and tx.token is not None and tx.token.ref == ref:
            tx.token, renamed = replace(tx.token, name=name), True
        if evse.last_session is not None and evse.last_session.token and evse.last_session.token.ref == ref:
            evse.last_session = replace(evse.last_session, token=replace(evse.last_session.token, name=name))
    for index, record in enumerate(charger.sessions):
        if record.token is not None and record.token.ref == ref:
            charger.sessions[index], renamed = replace(record, token=replace(record.token, name=name)), True
    return renamed

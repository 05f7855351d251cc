"""The state model: what the add-on knows about each charger, and the rules that keep it true.

One :class:`ChargerState` per configured charger, one :class:`EvseState` per EVSE. The OCPP handlers feed it
through its methods, the controller records its results through methods too, the store restores it through
:meth:`ChargerState.restore`; nobody else writes its fields. Readers (the JSON API, the panel, Home Assistant,
the store) only read. After a change the writer calls :meth:`bmw_wallbox.hub.StateHub.commit` once, saying how
durable the change must be (:class:`Save`).

The state model is this module with :mod:`~bmw_wallbox.hub`, :mod:`~bmw_wallbox.records`,
:mod:`~bmw_wallbox.evse_state`, :mod:`~bmw_wallbox.energy`, :mod:`~bmw_wallbox.saved`, :mod:`~bmw_wallbox.upkeep`,
:mod:`~bmw_wallbox.unknown_ids` and :mod:`~bmw_wallbox.tokenbook`; they import nothing else of ours and do no I/O.
State values use the OCPP 2.0.1 names; energy is kept in Wh and converted once, by :func:`kwh`. The records are
importable from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from bmw_wallbox.energy import ENERGY_REGISTER, RegisterEvent, SampledValue
from bmw_wallbox.evse_state import EvseState
from bmw_wallbox.records import (
    SUSPENDED,
    BootInfo,
    BudgetCap,
    Capabilities,
    ChargingState,
    CommandRecord,
    ConnectorStatus,
    Save,
    SessionRecord,
    Setpoint,
    Source,
    TokenUse,
    Transaction,
    TransactionChange,
    UpstreamStatus,
    kwh,
    plausible_time,
    token_label,
    utcnow,
)
from bmw_wallbox.saved import MAX_SESSIONS, SavedCharger, capture, put_back
from bmw_wallbox.upkeep import Upkeep

# fmt: off
__all__ = [
    "SUSPENDED", "BootInfo", "BudgetCap", "Capabilities", "ChargingState", "CommandRecord", "ConnectorStatus",
    "EvseState", "RegisterEvent", "SampledValue", "Save", "SessionRecord", "Setpoint", "Source", "TokenUse",
    "Transaction", "TransactionChange", "kwh", "plausible_time", "token_label", "utcnow",
]
# fmt: on

#: EVSE ids tracked per charger; a charger cannot make the state grow without bound.
MAX_EVSES = 8
#: Stopped reason of a session the charger no longer knows (it lost the transaction).
LOST = "LostByCharger"
#: Stopped reason of a session replaced by a newer one on the same EVSE without an Ended event.
SUPERSEDED = "Superseded"
#: Volts per phase and amperes assumed when bounding plausible energy (when the charger did not say more).
_PLAUSIBLE_VOLTAGE_V, _PLAUSIBLE_CURRENT_A = 250.0, 32.0


@dataclass(kw_only=True)
class ChargerState:
    """Everything known about one configured charger."""

    charger_id: str
    name: str
    max_current_a: int
    connected: bool = False
    connected_since: datetime | None = None
    disconnected_at: datetime | None = None
    last_seen: datetime | None = None
    remote_address: str | None = None
    tls: bool = False
    authenticated: bool = False
    boot: BootInfo = field(default_factory=BootInfo)
    capabilities: Capabilities = field(default_factory=Capabilities)
    evses: dict[int, EvseState] = field(default_factory=dict)
    desired: Setpoint = field(init=False)
    applied_limit_a: float | None = None
    limit_in_sync: bool | None = None
    limits_refused: str | None = None
    last_command: CommandRecord | None = None
    profile_strategy: str | None = None
    installed_profiles: list[str] = field(default_factory=list)
    last_rejection: str | None = None
    last_auto_reset_at: datetime | None = None
    sessions: list[SessionRecord] = field(default_factory=list)
    #: The site budget's cap in force and the name of the lowest cap (not saved: a start begins in failsafe).
    budget: BudgetCap = field(default_factory=BudgetCap)
    upkeep: Upkeep = field(default_factory=Upkeep)
    upstream: UpstreamStatus | None = None

    def __post_init__(self) -> None:
        self.desired = Setpoint(limit_a=float(self.max_current_a))

    # --- reading -------------------------------------------------------------------------

    def evse(self, evse_id: int) -> EvseState:
        """Return the EVSE with this id, creating it on first mention."""
        if evse_id not in self.evses:
            self.evses[evse_id] = EvseState(evse_id=evse_id)
        return self.evses[evse_id]

    @staticmethod
    def tracked_id(evse_id: object) -> int:
        """The EVSE a reading or transaction belongs to: 0 (the station meter) and implausible ids count as 1."""
        if isinstance(evse_id, int) and not isinstance(evse_id, bool) and 1 <= evse_id <= MAX_EVSES:
            return evse_id
        return 1

    @property
    def main_evse(self) -> EvseState:
        """The EVSE the flat snapshot describes: the one with a transaction, else the lowest id."""
        with_tx = [e for e in self.evses.values() if e.transaction is not None]
        if with_tx:
            return with_tx[0]
        return self.evses[min(self.evses)] if self.evses else self.evse(1)

    def transaction_by_id(self, transaction_id: str) -> EvseState | None:
        """Return the EVSE that runs this transaction, if any."""
        return next(
            (e for e in self.evses.values() if e.transaction and e.transaction.transaction_id == transaction_id), None
        )

    @property
    def limits_supported(self) -> bool:
        """False when the charger has shown it cannot take current limits (report, unit or CALLERROR)."""
        caps = self.capabilities
        if caps.smart_charging is False or self.limits_refused is not None:
            return False
        return not caps.rate_units or "A" in caps.rate_units or "W" in caps.rate_units

    @property
    def max_power_w(self) -> float:
        """The most power the charger could plausibly deliver, in W (for rejecting implausible energy)."""
        amps = max(float(self.max_current_a), self.capabilities.max_current_a or 0.0, _PLAUSIBLE_CURRENT_A)
        return amps * 3 * _PLAUSIBLE_VOLTAGE_V

    # --- connection ------------------------------------------------------------------------

    def mark_connected(self, *, remote_address: str | None, tls: bool, authenticated: bool, at: datetime) -> None:
        """A new connection: what we knew stays, marked restored until the charger confirms it."""
        self.connected = True
        self.connected_since = at
        self.last_seen = at
        self.remote_address = remote_address
        self.tls = tls
        self.authenticated = authenticated
        self.limits_refused = None  # learned again once per connection
        self._mark_restored()

    def mark_disconnected(self, *, at: datetime) -> None:
        """The connection closed; the transaction is kept (the charger queues its events)."""
        self.connected = False
        self.disconnected_at = at
        self._mark_restored()

    def _mark_restored(self) -> None:
        for evse in self.evses.values():
            if evse.status_source is not None:
                evse.status_source = Source.RESTORED
            if evse.transaction is not None:
                evse.transaction.source = Source.RESTORED

    def booted(self, boot: BootInfo) -> None:
        """BootNotification: who the charger is."""
        self.boot = boot

    # --- what the charger reports ----------------------------------------------------------

    def status_reported(self, evse_id: int, status: ConnectorStatus, *, source: Source = Source.LIVE) -> bool:
        """A connector status (StatusNotification, or the device model); True when it changed."""
        evse = self.evse(evse_id)
        changed = evse.connector_status != status
        evse.connector_status = status
        evse.status_source = source
        return changed

    def meter_values(
        self, evse_id: int, readings: list[SampledValue], *, at: datetime, now: datetime
    ) -> RegisterEvent | None:
        """Readings outside a TransactionEvent; returns what the energy register reading did, if any."""
        evse = self.evse(evse_id)
        return self._take_readings(evse, readings, at=at, now=now)

    def transaction_event(
        self,
        *,
        event_type: str,
        transaction_id: str,
        evse_id: int | None,
        at: datetime,
        now: datetime,
        charging_state: ChargingState | None = None,
        remote_start_id: int | None = None,
        stopped_reason: str | None = None,
        readings: list[SampledValue] | None = None,
        token: TokenUse | None = None,
    ) -> TransactionChange:
        """Take one TransactionEvent (``Started``, ``Updated`` or ``Ended``).

        A known transaction is updated; an event for a session already recorded
        (ended, or closed as lost) updates that record, late; an ``Ended`` for an
        unknown transaction changes nothing; a new transaction on an EVSE that
        still runs another ends the other as ``Superseded``, at its last known time. The first ``token``
        an event carries is the transaction's (a later one, e.g. the card that
        stopped it, does not change who charged).
        """
        evse = self.transaction_by_id(transaction_id)
        if evse is None:
            recorded = self.find_session(transaction_id)
            if recorded is not None:
                return TransactionChange(
                    evse_id=recorded.evse_id,
                    late=self._late_update(recorded, event_type, at, stopped_reason, readings or []),
                )
            if event_type == "Ended":
                return TransactionChange(ignored=f"Ended for transaction {transaction_id!r}, which is not known")
            evse = self.evse(self.tracked_id(evse_id))
        superseded = started = None
        tx = evse.transaction
        if tx is not None and tx.transaction_id != transaction_id:
            superseded = self._end(evse, at=min(at, evse.last_known_at() or at), reason=SUPERSEDED)
            tx = None
        if tx is None:
            tx = evse.transaction = Transaction(transaction_id=transaction_id, started_at=at)
            started = tx
        tx.source = Source.LIVE
        tx.seen_at = max(tx.seen_at, at) if tx.seen_at else at
        if token is not None and tx.token is None:
            tx.token = token
        if charging_state is not None:
            tx.charging_state = charging_state
        if remote_start_id is not None:
            tx.remote_start_id = remote_start_id
        register = self._take_readings(evse, readings or [], at=at, now=now) if readings else None
        ended = self._end(evse, at=max(at, tx.started_at), reason=stopped_reason) if event_type == "Ended" else None
        return TransactionChange(
            evse_id=evse.evse_id, started=started, ended=ended, superseded=superseded, register=register
        )

    def close_lost(self, evse_id: int, *, now: datetime) -> SessionRecord | None:
        """The charger no longer knows the transaction: end it with the last energy and time known."""
        evse = self.evse(evse_id)
        if (tx := evse.transaction) is None:
            return None
        last_known = max(filter(None, (tx.seen_at, evse.meter.updated_at, tx.started_at)))
        return self._end(evse, at=min(last_known, now), reason=LOST)

    def confirm_transaction(self, evse_id: int) -> None:
        """The charger confirmed that the EVSE's transaction still runs."""
        if (tx := self.evse(evse_id).transaction) is not None:
            tx.source = Source.LIVE

    def find_session(self, transaction_id: str) -> SessionRecord | None:
        """The recorded session with this transaction id, if it is still in the history."""
        return next((s for s in self.sessions if s.transaction_id == transaction_id), None)

    def seen(self, at: datetime) -> None:
        """A frame arrived from the charger."""
        self.last_seen = at

    def capabilities_reported(self, capabilities: Capabilities) -> None:
        """A new capability record from the charger's device-model report."""
        self.capabilities = capabilities

    def learned(self, *, meter_push: bool | None = None, composite_schedule: bool | None = None) -> None:
        """What the charger's answers showed: whether it pushes meter values, whether it can read back a limit."""
        if meter_push is not None:
            self.capabilities.meter_push = meter_push
        if composite_schedule is not None:
            self.capabilities.composite_schedule = composite_schedule

    def setting_changed(self, component: str, variable: str, value: str) -> None:
        """The charger accepted a SetVariables: remember the value (and what it means for authorization)."""
        self.capabilities.variables[f"{component}.{variable}"] = value
        if (component, variable) == ("AuthCtrlr", "Enabled"):
            self.capabilities.auth_enabled = value == "true"
        elif (component, variable) == ("LocalAuthListCtrlr", "Enabled"):
            self.capabilities.local_list_enabled = value == "true"

    def trigger_answered(self, message: str, *, accepted: bool) -> None:
        """Whether the charger accepts TriggerMessage for ``message`` (so it is not asked in vain again)."""
        self.capabilities.triggers[message] = accepted

    # --- what the controller records -------------------------------------------------------

    def want(self, *, paused: bool | None = None, limit_a: float | None = None) -> None:
        """Change the desired state (``limit_a`` in A, already checked against the charger's range)."""
        if paused is not None:
            self.desired.paused = paused
        if limit_a is not None:
            self.desired.limit_a = limit_a

    def auto_reset_sent(self, at: datetime) -> None:
        """An automatic reboot was asked for (no second one within the cooldown)."""
        self.last_auto_reset_at = at

    @property
    def enforced_a(self) -> float:
        """The limit to put on the charger now: the desired target under the site budget's cap."""
        cap = self.budget.limit_a
        return self.desired.target_a if cap is None else min(self.desired.target_a, cap)

    def budget_set(self, budget: BudgetCap) -> bool:
        """The site budget's cap in force; True when it changed."""
        changed, self.budget = budget != self.budget, budget
        return changed

    def limit_applied(self, *, strategy: str, limit_a: float, in_sync: bool | None) -> None:
        """The charger accepted ``limit_a`` through ``strategy``."""
        self.profile_strategy = strategy
        if strategy not in self.installed_profiles:
            self.installed_profiles.append(strategy)
        self.applied_limit_a = limit_a
        self.limit_in_sync = in_sync
        self.last_rejection = None

    def limit_refused(self, reasons: str) -> None:
        """The charger refused the limit every allowed way."""
        self.last_rejection = reasons
        self.limit_in_sync = False

    def limits_unsupported(self, code: str) -> None:
        """The charger answered a charging profile with CALLERROR ``code`` (NotImplemented, NotSupported)."""
        self.limits_refused = code
        self.limit_in_sync = None
        self.applied_limit_a = None

    def command_done(self, record: CommandRecord) -> None:
        """Remember the last command's outcome."""
        self.last_command = record

    def token_renamed(self, ref: str, name: str) -> bool:
        """A listed token got a new name: the running transaction and the history follow; True when any did."""
        renamed = False
        for evse in self.evses.values():
            tx = evse.transaction
            if tx is not None and tx.token is not None and tx.token.ref == ref:
                tx.token, renamed = replace(tx.token, name=name), True
            if evse.last_session is not None and evse.last_session.token and evse.last_session.token.ref == ref:
                evse.last_session = replace(evse.last_session, token=replace(evse.last_session.token, name=name))
        for index, record in enumerate(self.sessions):
            if record.token is not None and record.token.ref == ref:
                self.sessions[index], renamed = replace(record, token=replace(record.token, name=name)), True
        return renamed

    # --- what a restart must not lose -------------------------------------------------------

    def saved(self) -> SavedCharger:
        """What the store keeps of this charger (:meth:`restore` puts it back)."""
        return capture(self)

    def restore(self, saved: SavedCharger) -> None:
        """Put back what :meth:`saved` gave (at start); statuses and transactions count as restored."""
        put_back(self, saved)

    # --- internals -------------------------------------------------------------------------

    def _take_readings(
        self, evse: EvseState, readings: list[SampledValue], *, at: datetime, now: datetime
    ) -> RegisterEvent | None:
        event = evse.take_readings(readings, at=at, now=now, max_power_w=self.max_power_w)
        if event is RegisterEvent.RESTARTED and evse.transaction is not None:
            self.capabilities.register_per_transaction = True
        return event

    def _end(self, evse: EvseState, *, at: datetime, reason: str | None) -> SessionRecord | None:
        if (record := evse.end(at=at, reason=reason)) is not None:
            self.sessions.insert(0, record)
            del self.sessions[MAX_SESSIONS:]
        return record

    def _late_update(
        self, record: SessionRecord, event_type: str, at: datetime, reason: str | None, readings: list[SampledValue]
    ) -> SessionRecord:
        """A late event (the charger's offline queue) for a session already recorded: correct the record."""
        energy = record.energy_wh
        register = [r.value for r in readings if r.measurand == ENERGY_REGISTER and r.phase is None]
        if register and record.start_register_wh is not None and register[-1] >= record.start_register_wh:
            late_wh = register[-1] - record.start_register_wh
            if energy is None or late_wh > energy:
                if self.capabilities.register_per_transaction and energy is not None:
                    # The lifetime sum banked what the register showed when the session was closed.
                    self.evse(record.evse_id).meter.offset_wh += late_wh - energy
                energy = late_wh
        updated = replace(record, energy_wh=energy)
        if event_type == "Ended":
            stopped = reason if reason is not None else record.stopped_reason
            updated = replace(updated, ended_at=max(at, record.started_at), stopped_reason=stopped)
        self.sessions = [updated if s is record else s for s in self.sessions]
        evse = self.evse(record.evse_id)
        evse.last_session = updated if evse.last_session is record else evse.last_session
        return updated

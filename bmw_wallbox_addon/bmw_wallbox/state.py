"""The state model: what the add-on knows about each charger, and the rules that keep it true.

One :class:`ChargerState` per configured charger, one :class:`EvseState` per EVSE. The OCPP handlers feed it
through its methods, the controller records its results through methods too, the store restores it through
:meth:`ChargerState.restore`; nobody else writes its fields. Readers only read. After a change the writer calls
:meth:`bmw_wallbox.hub.StateHub.commit` once, saying how durable the change must be (:class:`Save`).

The state model is this module with :mod:`~bmw_wallbox.hub`, :mod:`~bmw_wallbox.records`,
:mod:`~bmw_wallbox.evse_state`, :mod:`~bmw_wallbox.energy`, :mod:`~bmw_wallbox.saved`, :mod:`~bmw_wallbox.plainform`,
:mod:`~bmw_wallbox.sessions`, :mod:`~bmw_wallbox.remote_starts`, :mod:`~bmw_wallbox.upkeep`,
:mod:`~bmw_wallbox.unknown_ids` and :mod:`~bmw_wallbox.tokenbook`; they import nothing else of ours and do no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bmw_wallbox.energy import RegisterEvent, SampledValue
from bmw_wallbox.evse_state import EvseState, latest_session, total, want_charger, want_evse
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
from bmw_wallbox.remote_starts import RemoteStart, RemoteStarts
from bmw_wallbox.saved import MAX_SESSIONS, SavedCharger, capture, put_back
from bmw_wallbox.sessions import SUPERSEDED, rename_token, take_event
from bmw_wallbox.upkeep import Upkeep

# fmt: off
__all__ = [
    "SUPERSEDED", "SUSPENDED", "BootInfo", "BudgetCap", "Capabilities", "ChargingState", "CommandRecord",
    "ConnectorStatus", "EvseState", "RegisterEvent", "RemoteStart", "SampledValue", "Save", "SessionRecord",
    "Setpoint", "Source", "TokenUse", "Transaction", "TransactionChange", "kwh", "plausible_time", "token_label",
    "utcnow",
]
# fmt: on

#: EVSE ids tracked per charger; a charger cannot make the state grow without bound.
MAX_EVSES = 8
#: Stopped reason of a session the charger no longer knows (it lost the transaction).
LOST = "LostByCharger"
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
    #: The remote starts sent lately, to link their transactions to the token sent (not saved).
    remote_starts: RemoteStarts = field(default_factory=RemoteStarts)

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

    @property
    def several(self) -> bool:
        """True for a charger with more than one EVSE (each EVSE then has its own setpoint and profile)."""
        return len(self.evses) > 1

    @property
    def energy_wh(self) -> float | None:
        """The charger's lifetime energy in Wh: the sum of its EVSEs' (each never goes down); None before any."""
        return total(e.meter.energy_wh for e in self.evses.values())

    @property
    def power_w(self) -> float | None:
        """The charger's power in W: the sum of its EVSEs' readings; None before any."""
        return total(e.meter.power_w for e in self.evses.values())

    @property
    def last_session(self) -> SessionRecord | None:
        """The latest finished session of any EVSE (by its end)."""
        return latest_session(self.evses.values())

    def is_paused(self, evse_id: int) -> bool:
        """Whether this EVSE is paused: the charger is, or (with several EVSEs) the EVSE itself."""
        return self.desired.paused or (self.several and self.evse(evse_id).paused)

    def evse_target_a(self, evse_id: int) -> float:
        """One EVSE's limit now: 0 while paused, else its own limit (or the charger's) under :attr:`enforced_a`."""
        evse = self.evse(evse_id)
        if self.is_paused(evse_id):
            return 0.0
        return min(evse.limit_a if evse.limit_a is not None else self.desired.limit_a, self.enforced_a)

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
        return self.take_readings(evse, readings, at=at, now=now)

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
        return take_event(
            self, event_type=event_type, transaction_id=transaction_id, evse_id=evse_id, at=at, now=now,
            charging_state=charging_state, remote_start_id=remote_start_id, stopped_reason=stopped_reason,
            readings=readings or [], token=token,
        )  # fmt: skip

    def close_lost(self, evse_id: int, *, now: datetime) -> SessionRecord | None:
        """The charger no longer knows the transaction: end it with the last energy and time known."""
        evse = self.evse(evse_id)
        if (tx := evse.transaction) is None:
            return None
        last_known = max(filter(None, (tx.seen_at, evse.meter.updated_at, tx.started_at)))
        return self.end(evse, at=min(last_known, now), reason=LOST)

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

    def want(self, *, paused: bool | None = None, limit_a: float | None = None, evse_id: int | None = None) -> None:
        """Change the desired state (``limit_a`` in A, already checked against the charger's range).

        Without ``evse_id`` (or on a charger with one EVSE) the charger's; a
        charger-wide resume also resumes every EVSE. With it, that EVSE's own
        limit and pause; resuming one EVSE of a paused charger leaves the others paused.
        """
        if evse_id is not None:
            self.evse(evse_id)
        if evse_id is None or not self.several:
            want_charger(self.desired, self.evses.values(), paused=paused, limit_a=limit_a)
        else:
            want_evse(self.desired, self.evses, evse_id, paused=paused, limit_a=limit_a)

    def remote_start_sent(self, start: RemoteStart) -> None:
        """An accepted RequestStartTransaction: its transaction gets the token sent with it."""
        self.remote_starts.sent(start)
        if start.transaction_id is not None and (evse := self.transaction_by_id(start.transaction_id)) is not None:
            tx = evse.transaction
            if tx is not None and tx.token is None:
                tx.token = start.token

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

    def limit_applied(
        self, *, strategy: str, limit_a: float, in_sync: bool | None, evse_limits: dict[int, float] | None = None
    ) -> None:
        """The charger accepted ``limit_a`` through ``strategy`` (and, with several EVSEs, each EVSE's limit)."""
        for evse_id, evse_limit in (evse_limits or {}).items():
            self.evse(evse_id).applied_limit_a = evse_limit
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
        return rename_token(self, ref, name)

    # --- what a restart must not lose -------------------------------------------------------

    def saved(self) -> SavedCharger:
        """What the store keeps of this charger (:meth:`restore` puts it back)."""
        return capture(self)

    def restore(self, saved: SavedCharger) -> None:
        """Put back what :meth:`saved` gave (at start); statuses and transactions count as restored."""
        put_back(self, saved)

    # --- internals -------------------------------------------------------------------------

    def take_readings(
        self, evse: EvseState, readings: list[SampledValue], *, at: datetime, now: datetime
    ) -> RegisterEvent | None:
        """Readings for one EVSE (a register that restarts in a transaction marks the register per transaction)."""
        event = evse.take_readings(readings, at=at, now=now, max_power_w=self.max_power_w)
        if event is RegisterEvent.RESTARTED and evse.transaction is not None:
            self.capabilities.register_per_transaction = True
        return event

    def end(self, evse: EvseState, *, at: datetime, reason: str | None) -> SessionRecord | None:
        """End the EVSE's transaction and record its session (the history keeps ``MAX_SESSIONS``)."""
        if (record := evse.end(at=at, reason=reason)) is not None:
            self.sessions.insert(0, record)
            del self.sessions[MAX_SESSIONS:]
        return record

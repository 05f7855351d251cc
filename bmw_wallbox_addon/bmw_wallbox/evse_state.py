"""One EVSE of a charger: its connector status, running transaction, meter and last session.

Part of the state model (imports nothing of ours but the model's records and
the meter, does no I/O). :class:`~bmw_wallbox.state.ChargerState` holds one per
EVSE and decides across them; an :class:`EvseState` applies readings to its
transaction and meter, and turns its transaction into a
:class:`~bmw_wallbox.records.SessionRecord` when it ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from bmw_wallbox.energy import ENERGY_INTERVAL, ENERGY_REGISTER, TRANSACTION_BEGIN, Meter, RegisterEvent, SampledValue
from bmw_wallbox.records import CAR_PRESENT, ConnectorStatus, SessionRecord, Setpoint, Source, Transaction


@dataclass(kw_only=True)
class EvseState:
    """One EVSE: its connector status, transaction, meter, last finished session and own setpoint."""

    evse_id: int
    connector_status: ConnectorStatus | None = None
    status_source: Source | None = None
    transaction: Transaction | None = None
    meter: Meter = field(default_factory=Meter)
    last_session: SessionRecord | None = None
    #: This EVSE's own limit in A (None: the charger's) and pause, on chargers with several EVSEs.
    limit_a: float | None = None
    paused: bool = False
    #: The limit this EVSE's profile last put in force, in A (chargers with several EVSEs).
    applied_limit_a: float | None = None

    @property
    def session_energy_wh(self) -> float | None:
        """Energy of the running transaction: register now minus register at its start, or its interval sum."""
        tx = self.transaction
        if tx is None:
            return None
        register = self.meter.register_wh
        if tx.start_register_wh is not None and register is not None:
            return max(0.0, register - tx.start_register_wh) + tx.interval_wh
        return tx.interval_wh if tx.metered else None

    @property
    def car_present(self) -> bool:
        """A car is plugged in, as far as we know (a known transaction counts)."""
        return self.transaction is not None or self.connector_status in CAR_PRESENT

    def last_known_at(self) -> datetime | None:
        """The latest time known of the running transaction: its last event or reading, else its start."""
        tx = self.transaction
        if tx is None:
            return None
        return max(filter(None, (tx.seen_at, self.meter.updated_at, tx.started_at)))

    def take_readings(
        self, readings: list[SampledValue], *, at: datetime, now: datetime, max_power_w: float
    ) -> RegisterEvent | None:
        """Apply readings (charger time ``at``, add-on time ``now``) to the meter and the running transaction.

        The first energy reading of a transaction (or one with context
        ``Transaction.Begin``) is its start; returns what the register reading
        did, None without one.
        """
        self.meter.take_live(readings, at=at)
        tx = self.transaction
        event = None
        register = [r for r in readings if r.measurand == ENERGY_REGISTER and r.phase is None]
        if register:
            reading = register[-1]
            at_start = tx is not None and (not tx.metered or reading.context == TRANSACTION_BEGIN)
            event = self.meter.take_register(
                reading.value,
                at_start=at_start,
                in_session=tx is not None,
                read_at=at,
                seen_at=now,
                max_power_w=max_power_w,
            )
            if tx is not None and (at_start or tx.start_register_wh is None) and event is not RegisterEvent.IMPLAUSIBLE:
                tx.start_register_wh = self.meter.register_wh
                tx.metered = True
        elif self.meter.register_wh is None:
            intervals = [r.value for r in readings if r.measurand == ENERGY_INTERVAL and r.phase is None]
            if intervals:
                event = self._take_interval(intervals, at=at, now=now, max_power_w=max_power_w)
        if tx is not None:
            tx.seen_at = max(tx.seen_at, at) if tx.seen_at else at
        return event

    def _take_interval(
        self, intervals: list[float], *, at: datetime, now: datetime, max_power_w: float
    ) -> RegisterEvent | None:
        """Add the frame's interval energy (bounded like a register rise); IMPLAUSIBLE when it was refused.

        The sum of a frame's intervals is judged as one; a sum that is not
        finite (huge values overflow) is refused like any implausible one.
        """
        tx = self.transaction
        total_wh = sum(intervals, 0.0)  # inf or nan when huge values overflow: refused below
        if not self.meter.take_interval(total_wh, read_at=at, seen_at=now, max_power_w=max_power_w):
            return RegisterEvent.IMPLAUSIBLE
        if tx is not None:
            tx.interval_wh += max(0.0, total_wh)
            tx.metered = True
        return None

    def end(self, *, at: datetime, reason: str | None) -> SessionRecord | None:
        """End the running transaction at ``at`` (never before its start); its record, None without one."""
        tx = self.transaction
        if tx is None:
            return None
        record = SessionRecord(
            evse_id=self.evse_id,
            transaction_id=tx.transaction_id,
            started_at=tx.started_at,
            ended_at=max(at, tx.started_at),
            energy_wh=self.session_energy_wh,
            stopped_reason=reason,
            start_register_wh=tx.start_register_wh,
            token=tx.token,
        )
        self.transaction = None
        self.meter.clear_live()
        self.last_session = record
        return record


def total(values: Iterable[float | None]) -> float | None:
    """The sum of the known values (the charger's energy or power over its EVSEs); None when none is known."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def current_sums(evses: Iterable[EvseState]) -> tuple[float | None, dict[str, float]]:
    """The current these EVSEs draw together: (the sum of their currents, the sums per phase); None when none is known.

    With one EVSE that EVSE's own readings; a charger's EVSEs share its supply, so its current per phase is the sum.
    """
    meters = [e.meter for e in evses]
    phases: dict[str, float] = {}
    for meter in meters:
        for phase, value in meter.current_phases_a.items():
            phases[phase] = phases.get(phase, 0.0) + value
    current = total(m.current_a for m in meters)
    if len(meters) > 1:
        phases = {phase: round(value, 3) for phase, value in phases.items()}
        current = None if current is None else round(current, 3)
    return current, phases


def latest_session(evses: Iterable[EvseState]) -> SessionRecord | None:
    """The latest finished session of any of these EVSEs (by its end)."""
    ended = [e.last_session for e in evses if e.last_session is not None]
    return max(ended, key=lambda s: s.ended_at) if ended else None


def want_charger(desired: Setpoint, evses: Iterable[EvseState], *, paused: bool | None, limit_a: float | None) -> None:
    """Change the charger's setpoint in place; a charger-wide resume also resumes every EVSE's own pause."""
    if paused is not None:
        desired.paused = paused
    if limit_a is not None:
        desired.limit_a = limit_a
    if paused is False:
        for evse in evses:
            evse.paused = False


def want_evse(
    desired: Setpoint, evses: dict[int, EvseState], evse_id: int, *, paused: bool | None, limit_a: float | None
) -> None:
    """Change one EVSE's own limit and pause; resuming one EVSE of a paused charger leaves the others paused."""
    evse = evses[evse_id]
    if paused is False and desired.paused:
        desired.paused = False
        for other in evses.values():
            other.paused = True
    if paused is not None:
        evse.paused = paused
    if limit_a is not None:
        evse.limit_a = limit_a

"""The state model: what the add-on knows about each charger.

One :class:`ChargerState` per configured charger, one :class:`EvseState` per
EVSE. Everything else (the OCPP handlers, the JSON API, the store) reads or
updates these objects through the methods here; this module imports nothing
of ours but the bookkeeping of :mod:`bmw_wallbox.unknown_ids` (which imports
nothing either) and does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from bmw_wallbox import unknown_ids

#: Transaction ``chargingState`` values of OCPP 2.0.1.
CHARGING = "Charging"
SUSPENDED_EV = "SuspendedEV"
SUSPENDED_EVSE = "SuspendedEVSE"
EV_CONNECTED = "EVConnected"
IDLE = "Idle"

#: Multipliers that turn a reading's unit into the unit we keep (Wh, W, A, V).
_UNIT_SCALE: dict[str, float] = {
    "wh": 1.0,
    "kwh": 1000.0,
    "varh": 1.0,
    "kvarh": 1000.0,
    "w": 1.0,
    "kw": 1000.0,
    "a": 1.0,
    "v": 1.0,
}


#: Finished sessions kept in the history.
MAX_SESSIONS = 200


def utcnow() -> datetime:
    """Return the current time in UTC (aware)."""
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class SampledValue:
    """One reading from a MeterValues or TransactionEvent frame, already scaled.

    ``value`` is in the base unit of its measurand: Wh for energy, W for power,
    A for current, V for voltage.
    """

    measurand: str
    value: float
    phase: str | None = None
    context: str | None = None
    unit: str | None = None


def scale_reading(value: float, unit: str | None, multiplier: int | None) -> tuple[float, str | None]:
    """Apply the OCPP ``multiplier`` (power of ten) and ``unitOfMeasure`` to a raw reading.

    Returns the value in Wh/W/A/V and the unit it arrived in (``None`` when the
    frame named none: the spec's defaults are Wh, W, A and V). A unit we do not
    know is kept as it came.
    """
    scaled = value * (10 ** (multiplier or 0))
    factor = _UNIT_SCALE.get(unit.lower(), 1.0) if unit else 1.0
    return scaled * factor, unit


@dataclass(kw_only=True)
class Transaction:
    """A running transaction on one EVSE, driven by TransactionEvent frames."""

    transaction_id: str
    started_at: datetime
    charging_state: str | None = None
    start_energy_wh: float | None = None
    remote_start_id: int | None = None
    stopped_reason: str | None = None
    ended_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """Serialise for the store."""
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["ended_at"] = self.ended_at.isoformat() if self.ended_at else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Transaction:
        """Restore from the store."""
        return cls(
            transaction_id=str(data["transaction_id"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            charging_state=data.get("charging_state"),
            start_energy_wh=data.get("start_energy_wh"),
            remote_start_id=data.get("remote_start_id"),
        )


@dataclass(kw_only=True)
class Meter:
    """The latest meter readings of one EVSE; ``None`` means not (yet) reported."""

    power_w: float | None = None
    voltage_v: float | None = None
    current_a: float | None = None
    current_phases_a: dict[str, float] = field(default_factory=dict)
    voltage_phases_v: dict[str, float] = field(default_factory=dict)
    energy_wh: float | None = None
    updated_at: datetime | None = None


@dataclass(kw_only=True)
class EvseState:
    """One EVSE: its connector status, transaction and meter."""

    evse_id: int
    connector_status: str | None = None
    transaction: Transaction | None = None
    meter: Meter = field(default_factory=Meter)
    last_session: dict[str, Any] | None = None

    def apply_readings(self, readings: Iterable[SampledValue], *, at: datetime) -> None:
        """Take new readings into the meter.

        Per-phase currents are preferred over the non-phased total, which this
        wallbox can freeze at a stale value. The energy register never goes
        backwards: a lower reading is ignored.
        """
        meter = self.meter
        phase_currents: dict[str, float] = {}
        phase_voltages: dict[str, float] = {}
        total_current: float | None = None
        total_voltage: float | None = None
        for reading in readings:
            if reading.measurand == "Energy.Active.Import.Register" and reading.phase is None:
                if meter.energy_wh is None or reading.value >= meter.energy_wh:
                    meter.energy_wh = reading.value
            elif reading.measurand == "Power.Active.Import" and reading.phase is None:
                meter.power_w = reading.value
            elif reading.measurand == "Current.Import":
                if reading.phase in ("L1", "L2", "L3"):
                    phase_currents[reading.phase] = reading.value
                elif reading.phase is None:
                    total_current = reading.value
            elif reading.measurand == "Voltage":
                if reading.phase is None:
                    total_voltage = reading.value
                else:
                    phase_voltages[reading.phase.split("-")[0]] = reading.value
        if phase_currents:
            meter.current_phases_a = phase_currents
            meter.current_a = round(sum(phase_currents.values()) / len(phase_currents), 3)
        elif total_current is not None:
            meter.current_a = total_current
        if phase_voltages:
            meter.voltage_phases_v = phase_voltages
            meter.voltage_v = round(sum(phase_voltages.values()) / len(phase_voltages), 1)
        elif total_voltage is not None:
            meter.voltage_v = total_voltage
        meter.updated_at = at
        if self.transaction is not None and self.transaction.start_energy_wh is None:
            self.transaction.start_energy_wh = meter.energy_wh

    @property
    def session_energy_wh(self) -> float | None:
        """Energy of the running transaction: register now minus register at start."""
        tx = self.transaction
        if tx is None or tx.start_energy_wh is None or self.meter.energy_wh is None:
            return None
        return max(0.0, self.meter.energy_wh - tx.start_energy_wh)


@dataclass(kw_only=True)
class BootInfo:
    """What the charger said about itself in BootNotification."""

    vendor: str | None = None
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None
    reason: str | None = None


@dataclass(kw_only=True)
class Capabilities:
    """What the charger reported it can do (from GetBaseReport), kept across restarts."""

    measurands: list[str] = field(default_factory=list)
    rate_units: list[str] = field(default_factory=list)
    profile_stack_level: int | None = None
    periods_per_schedule: int | None = None
    max_profiles: int | None = None
    phases: int | None = None
    max_current_a: float | None = None
    smart_charging: bool | None = None
    phase_switching: bool | None = None
    message_timeout_s: int | None = None
    triggers: dict[str, bool] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    read_only: list[str] = field(default_factory=list)
    meter_push: bool | None = None
    composite_schedule: bool | None = None
    reported_at: str | None = None


@dataclass(kw_only=True)
class Setpoint:
    """The desired charging state, persisted: the limit in A and whether charging is paused.

    The limit is kept while paused, so resume knows what to restore.
    """

    limit_a: float
    paused: bool = False

    @property
    def target_a(self) -> float:
        """The limit the charger should enforce now: 0 while paused."""
        return 0.0 if self.paused else self.limit_a


@dataclass(frozen=True, kw_only=True)
class CommandRecord:
    """The last command and its honest outcome, as the snapshot shows it."""

    command: str
    at: datetime
    outcome: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"command": self.command, "at": self.at.isoformat(), "outcome": self.outcome, "detail": self.detail}


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
    setpoint: Setpoint | None = None
    current_limit_a: float | None = None
    limit_in_sync: bool | None = None
    last_command: CommandRecord | None = None
    profile_strategy: str | None = None
    installed_profiles: list[str] = field(default_factory=list)
    last_rejection: str | None = None
    last_auto_reset_at: datetime | None = None
    sessions: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.setpoint is None:
            self.setpoint = Setpoint(limit_a=float(self.max_current_a))

    @property
    def desired(self) -> Setpoint:
        """The desired state (always set after construction)."""
        assert self.setpoint is not None
        return self.setpoint

    def record_session(self, session: dict[str, Any]) -> None:
        """Keep a finished session in the history (newest first, at most ``MAX_SESSIONS``)."""
        self.sessions.insert(0, session)
        del self.sessions[MAX_SESSIONS:]

    def evse(self, evse_id: int) -> EvseState:
        """Return the EVSE with this id, creating it on first mention."""
        if evse_id not in self.evses:
            self.evses[evse_id] = EvseState(evse_id=evse_id)
        return self.evses[evse_id]

    @property
    def main_evse(self) -> EvseState:
        """The EVSE the flat snapshot describes: the one with a transaction, else the lowest id."""
        with_tx = [e for e in self.evses.values() if e.transaction is not None]
        if with_tx:
            return with_tx[0]
        if self.evses:
            return self.evses[min(self.evses)]
        return self.evse(1)

    def transaction_by_id(self, transaction_id: str) -> EvseState | None:
        """Return the EVSE that runs this transaction, if any."""
        return next(
            (e for e in self.evses.values() if e.transaction and e.transaction.transaction_id == transaction_id), None
        )

    def mark_connected(self, *, remote_address: str | None, tls: bool, authenticated: bool, at: datetime) -> None:
        """Record a new connection."""
        self.connected = True
        self.connected_since = at
        self.last_seen = at
        self.remote_address = remote_address
        self.tls = tls
        self.authenticated = authenticated

    def mark_disconnected(self, *, at: datetime) -> None:
        """Record that the connection closed; the transaction is kept (the charger queues its events)."""
        self.connected = False
        self.disconnected_at = at

    def snapshot(self) -> dict[str, Any]:
        """The flat JSON view of ``GET /api/chargers``; unknown values are ``None``."""
        evse = self.main_evse
        tx = evse.transaction
        meter = evse.meter
        return {
            "id": self.charger_id,
            "name": self.name,
            "connected": self.connected,
            "connected_since": _iso(self.connected_since),
            "last_seen": _iso(self.last_seen),
            "remote_address": self.remote_address,
            "tls": self.tls,
            "authenticated": self.authenticated,
            "vendor": self.boot.vendor,
            "model": self.boot.model,
            "firmware": self.boot.firmware,
            "serial": self.boot.serial,
            "evse_id": evse.evse_id,
            "status": evse.connector_status,
            "charging_state": tx.charging_state if tx else None,
            "transaction_id": tx.transaction_id if tx else None,
            "session_started_at": _iso(tx.started_at) if tx else None,
            "power_w": meter.power_w,
            "energy_kwh": _kwh(meter.energy_wh),
            "session_energy_kwh": _kwh(evse.session_energy_wh),
            "current_a": meter.current_a,
            "current_phases_a": dict(meter.current_phases_a) or None,
            "voltage_v": meter.voltage_v,
            "current_limit_a": self.current_limit_a,
            "max_current_a": self.max_current_a,
            "desired_limit_a": self.desired.limit_a,
            "paused": self.desired.paused,
            "limit_in_sync": self.limit_in_sync,
            "profile_strategy": self.profile_strategy,
            "last_rejection": self.last_rejection,
            "last_command": self.last_command.to_json() if self.last_command else None,
            "meter_updated_at": _iso(meter.updated_at),
            "last_session": evse.last_session,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _kwh(energy_wh: float | None) -> float | None:
    return None if energy_wh is None else round(energy_wh / 1000.0, 3)


Listener = Callable[[str], None]


class StateHub:
    """All charger states plus the ids that tried to connect without being configured.

    Writers call :meth:`changed` after updating a charger; listeners (store,
    publishers, panel) are told which charger changed and read the state.
    """

    def __init__(self, chargers: Iterable[ChargerState]) -> None:
        self.chargers: dict[str, ChargerState] = {c.charger_id: c for c in chargers}
        self.unknown_ids: dict[str, dict[str, Any]] = {}
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(charger_id)`` after every change; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def changed(self, charger_id: str) -> None:
        """Tell every listener that this charger's state changed."""
        for listener in list(self._listeners):
            listener(charger_id)

    def note_unknown(self, charger_id: str, *, remote_address: str | None, at: datetime) -> bool:
        """Remember an id that is not configured (bounded: see :mod:`bmw_wallbox.unknown_ids`); True when new."""
        return unknown_ids.note(self.unknown_ids, charger_id, remote_address=remote_address, at=at)

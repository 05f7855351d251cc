"""The records of the state model: OCPP state names, transactions, sessions, boot info, capabilities.

Plain values with their own rules (their stored form, how a charger timestamp
is judged); :mod:`bmw_wallbox.state` holds them per charger and
:mod:`bmw_wallbox.saved` reads their stored form back. Imports nothing of ours
but the meter's register events, and does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Any

from bmw_wallbox.energy import RegisterEvent


class ConnectorStatus(StrEnum):
    """``ConnectorStatusEnumType`` of OCPP 2.0.1."""

    AVAILABLE = "Available"
    OCCUPIED = "Occupied"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class ChargingState(StrEnum):
    """``ChargingStateEnumType`` of OCPP 2.0.1 (``Idle`` also stands for "no transaction")."""

    CHARGING = "Charging"
    EV_CONNECTED = "EVConnected"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    IDLE = "Idle"


#: Connector states in which a car is plugged in.
CAR_PRESENT = frozenset({ConnectorStatus.OCCUPIED, ConnectorStatus.RESERVED})
SUSPENDED = frozenset({ChargingState.SUSPENDED_EV, ChargingState.SUSPENDED_EVSE})


class Save(IntEnum):
    """How durable a committed change must be."""

    NO = 0
    """Announce only (the next save carries it)."""
    SOON = 1
    """Written within about a second, in the background (meter values)."""
    NOW = 2
    """On disk before :meth:`StateHub.commit` returns (transactions, the desired limit)."""


class Source(StrEnum):
    """Where a status or transaction we show comes from."""

    LIVE = "live"
    """Reported or confirmed by the charger on the current connection."""
    RESTORED = "restored"
    """Known from before (the data dir, or before the charger disconnected); not yet confirmed."""


#: Charger timestamps further from the add-on's clock than this are replaced by the add-on's time.
MAX_PAST = timedelta(days=90)
MAX_FUTURE = timedelta(days=2)


def utcnow() -> datetime:
    """Return the current time in UTC (aware)."""
    return datetime.now(UTC)


def kwh(energy_wh: float | None) -> float | None:
    """Wh to kWh, rounded to 1 Wh; the one conversion every output uses."""
    return None if energy_wh is None else round(energy_wh / 1000.0, 3)


def plausible_time(at: datetime | None, now: datetime) -> tuple[datetime, bool]:
    """A charger's timestamp, or ``now`` when it is missing or outside ``MAX_PAST``/``MAX_FUTURE``.

    Returns the time and whether it was replaced (a missing time is not a replacement).
    """
    if at is None:
        return now, False
    if now - MAX_PAST <= at <= now + MAX_FUTURE:
        return at, False
    return now, True


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


#: What a session without any token is attributed to, and a token that is not in the token list.
NO_TOKEN = "no token"  # noqa: S105 (a label, not a secret)
UNKNOWN_TOKEN = "unknown"  # noqa: S105


@dataclass(frozen=True, kw_only=True)
class TokenUse:
    """The token a transaction belongs to, as far as the add-on may show it: never the idToken itself.

    ``ref`` and ``name`` name the token in the token list (``ref`` None for a
    token that is not listed, or for the built-in remote-start token);
    ``masked`` is the end of the idToken (``…1234``), None where even that says
    nothing (the remote-start token).
    """

    ref: str | None = None
    name: str | None = None
    masked: str | None = None

    @property
    def label(self) -> str:
        """The token's name, or ``unknown`` for a token that is not in the list."""
        return self.name or UNKNOWN_TOKEN

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {"ref": self.ref, "name": self.name, "masked": self.masked}


def token_label(token: TokenUse | None) -> str:
    """How a session's token is named in history, CSV, events and entities (``no token`` without one)."""
    return NO_TOKEN if token is None else token.label


@dataclass(kw_only=True)
class Transaction:
    """A running transaction on one EVSE.

    ``start_register_wh`` is the charger's register at the first energy reading
    of the transaction; ``interval_wh`` sums interval energy (chargers without a
    register); ``seen_at`` is the charger's time of the latest event or reading;
    ``token`` the first token an event of the transaction carried (None: no token).
    """

    transaction_id: str
    started_at: datetime
    charging_state: ChargingState | None = None
    start_register_wh: float | None = None
    interval_wh: float = 0.0
    metered: bool = False
    remote_start_id: int | None = None
    seen_at: datetime | None = None
    source: Source = Source.LIVE
    token: TokenUse | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "token": self.token.to_json() if self.token else None,
            "transaction_id": self.transaction_id,
            "started_at": self.started_at.isoformat(),
            "charging_state": self.charging_state,
            "start_register_wh": self.start_register_wh,
            "interval_wh": self.interval_wh,
            "metered": self.metered,
            "remote_start_id": self.remote_start_id,
            "seen_at": _iso(self.seen_at),
        }


@dataclass(frozen=True, kw_only=True)
class SessionRecord:
    """A finished charging session: energy in Wh (``None`` when the charger reported none), and its token."""

    evse_id: int
    transaction_id: str
    started_at: datetime
    ended_at: datetime
    energy_wh: float | None
    stopped_reason: str | None
    start_register_wh: float | None = None
    token: TokenUse | None = None

    @property
    def duration_s(self) -> int:
        """Whole seconds from start to end."""
        return max(0, int((self.ended_at - self.started_at).total_seconds()))

    def to_json(self) -> dict[str, Any]:
        """The form the JSON API, the panel, the CSV and the session events show."""
        return {
            "evse_id": self.evse_id,
            "transaction_id": self.transaction_id,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat(),
            "energy_kwh": kwh(self.energy_wh),
            "duration_s": self.duration_s,
            "stopped_reason": self.stopped_reason,
            "token_name": token_label(self.token),
            "token_masked": self.token.masked if self.token else None,
        }

    def to_store(self) -> dict[str, Any]:
        """The stored form (energy in Wh, the register at the start for late updates, the token's reference)."""
        return {
            **self.to_json(),
            "energy_wh": self.energy_wh,
            "start_register_wh": self.start_register_wh,
            "token": self.token.to_json() if self.token else None,
        }


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
    """What the charger can do: from GetBaseReport and from its answers, kept across restarts."""

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
    register_per_transaction: bool | None = None
    reported_at: str | None = None
    #: ``AuthCtrlr.Enabled``: whether the charger asks before charging (None: not reported), and if it may be set.
    auth_enabled: bool | None = None
    auth_writable: bool | None = None
    #: ``LocalAuthListCtrlr``: present, enabled, settable, most entries, entries and bytes per SendLocalList.
    local_list_available: bool | None = None
    local_list_enabled: bool | None = None
    local_list_writable: bool | None = None
    local_list_max_entries: int | None = None
    local_list_per_message: int | None = None
    local_list_max_bytes: int | None = None


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
class EvseSetpoint:
    """One EVSE's own limit in A (None: the charger's) and pause, as saved (chargers with several EVSEs)."""

    limit_a: float | None = None
    paused: bool = False


@dataclass(frozen=True, kw_only=True)
class BudgetCap:
    """The site budget's cap in force in A (None: no cap) and the lowest cap (user, budget, failsafe, charger)."""

    limit_a: float | None = None
    limited_by: str | None = None


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


@dataclass(frozen=True, kw_only=True)
class TransactionChange:
    """What one TransactionEvent did, for the log and the listeners.

    ``ignored`` says why it changed nothing; ``late`` is a session recorded
    before (ended, or closed as lost) that this event updated.
    """

    evse_id: int | None = None
    started: Transaction | None = None
    ended: SessionRecord | None = None
    superseded: SessionRecord | None = None
    late: SessionRecord | None = None
    ignored: str | None = None
    register: RegisterEvent | None = None


@dataclass(kw_only=True)
class UpstreamStatus:
    """A charger's link to its upstream backend (option ``upstream_url``), as the snapshot shows it.

    ``since`` is when ``connected`` last changed; ``queued`` counts the messages
    waiting for the upstream, ``dropped`` those given up beyond the queue's
    bound; ``limit_a`` is the limit of the upstream's charging profile in force
    (None: it set none), which the add-on's own limit is capped by.
    """

    connected: bool = False
    since: datetime | None = None
    queued: int = 0
    dropped: int = 0
    last_error: str | None = None
    limit_a: float | None = None

    def link_changed(self, *, connected: bool, at: datetime, error: str | None = None) -> None:
        """The link came up or went down (with the reason, if any)."""
        if connected != self.connected or self.since is None:
            self.connected, self.since = connected, at
        if error is not None:
            self.last_error = error[:200]

    def queue_changed(self, *, queued: int, dropped: int) -> None:
        """The queue's length and the count of messages dropped beyond its bound."""
        self.queued, self.dropped = queued, dropped

    def upstream_limit(self, limit_a: float | None) -> None:
        """The upstream's charging profile now limits the charger to ``limit_a`` (None: no limit)."""
        self.limit_a = limit_a

    def to_json(self) -> dict[str, Any]:
        """The snapshot's ``upstream`` field."""
        return {
            "connected": self.connected,
            "since": self.since.isoformat() if self.since else None,
            "queued": self.queued,
            "dropped": self.dropped,
            "last_error": self.last_error,
            "limit_a": self.limit_a,
        }

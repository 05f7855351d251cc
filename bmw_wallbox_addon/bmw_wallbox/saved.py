"""The saved form of a charger's state: what a restart must not lose, as typed values and as JSON.

:meth:`ChargerState.saved() <bmw_wallbox.state.ChargerState.saved>` gives a :class:`SavedCharger`,
:meth:`~bmw_wallbox.state.ChargerState.restore` puts one back; nothing else writes its fields. This module turns
it into its JSON form (schema 2, :func:`to_json`) and reads each part on its own (:func:`evse_parts`), refusing
at this edge what would break the model later: numbers not finite or not plausible, times without a zone or in
the future, values of the wrong kind. Part of the state model: imports nothing of ours but the records, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bmw_wallbox.plainform import MAX_PLAIN_NUMBER, plain
from bmw_wallbox.records import (
    MAX_FUTURE,
    BootInfo,
    Capabilities,
    ChargingState,
    ConnectorStatus,
    EvseSetpoint,
    SessionRecord,
    Setpoint,
    Source,
    TokenUse,
    Transaction,
)

if TYPE_CHECKING:
    from bmw_wallbox.state import ChargerState

#: Version of the stored form: 2 keeps the register with its offset, the connector status and sessions in Wh.
SCHEMA_VERSION = 2
#: Finished sessions kept.
MAX_SESSIONS = 200


@dataclass(frozen=True, kw_only=True)
class SavedRegister:
    """One EVSE's energy register as saved: the register and its offset in Wh, the charger's and our time of it."""

    register_wh: float | None = None
    offset_wh: float = 0.0
    read_at: datetime | None = None
    seen_at: datetime | None = None


@dataclass(kw_only=True)
class SavedEvse:
    """One EVSE as saved: connector status, register, running transaction, last session, own setpoint."""

    evse_id: int
    connector_status: ConnectorStatus | None = None
    register: SavedRegister = field(default_factory=SavedRegister)
    transaction: Transaction | None = None
    last_session: SessionRecord | None = None
    setpoint: EvseSetpoint = field(default_factory=EvseSetpoint)


@dataclass(kw_only=True)
class SavedCharger:
    """A charger's state as saved; a part left at its default restores the default."""

    boot: BootInfo = field(default_factory=BootInfo)
    capabilities: Capabilities = field(default_factory=Capabilities)
    setpoint: Setpoint | None = None
    profile_strategy: str | None = None
    installed_profiles: list[str] = field(default_factory=list)
    sessions: list[SessionRecord] = field(default_factory=list)
    last_auto_reset_at: datetime | None = None
    evses: list[SavedEvse] = field(default_factory=list)


def capture(charger: ChargerState) -> SavedCharger:
    """What a restart must not lose of ``charger`` (:meth:`ChargerState.saved`)."""
    return SavedCharger(
        boot=charger.boot,
        capabilities=charger.capabilities,
        setpoint=charger.desired,
        profile_strategy=charger.profile_strategy,
        installed_profiles=list(charger.installed_profiles),
        sessions=list(charger.sessions),
        last_auto_reset_at=charger.last_auto_reset_at,
        evses=[
            SavedEvse(
                evse_id=e.evse_id,
                connector_status=e.connector_status,
                register=SavedRegister(
                    register_wh=e.meter.register_wh,
                    offset_wh=e.meter.offset_wh,
                    read_at=e.meter.register_read_at,
                    seen_at=e.meter.register_seen_at,
                ),
                transaction=e.transaction,
                last_session=e.last_session,
                setpoint=EvseSetpoint(limit_a=e.limit_a, paused=e.paused),
            )
            for e in charger.evses.values()
        ],
    )


def put_back(charger: ChargerState, saved: SavedCharger) -> None:
    """Restore ``charger`` from what :func:`capture` gave (:meth:`ChargerState.restore`, at start).

    The limit is bounded by the charger's maximum; statuses and transactions count as restored.
    """
    charger.boot, charger.capabilities = saved.boot, saved.capabilities
    if saved.setpoint is not None:
        limit_a = min(saved.setpoint.limit_a, float(charger.max_current_a))
        charger.desired = Setpoint(limit_a=limit_a, paused=saved.setpoint.paused)
    charger.profile_strategy, charger.installed_profiles = saved.profile_strategy, list(saved.installed_profiles)
    charger.sessions = list(saved.sessions[:MAX_SESSIONS])
    charger.last_auto_reset_at = saved.last_auto_reset_at
    for item in saved.evses:
        evse = charger.evse(charger.tracked_id(item.evse_id))
        meter, register = evse.meter, item.register
        meter.register_wh, meter.offset_wh = register.register_wh, register.offset_wh
        meter.register_read_at, meter.register_seen_at = register.read_at, register.seen_at
        evse.connector_status = item.connector_status
        evse.status_source = Source.RESTORED if item.connector_status is not None else None
        evse.transaction, evse.last_session = item.transaction, item.last_session
        own_a, evse.paused = item.setpoint.limit_a, item.setpoint.paused
        evse.limit_a = None if own_a is None else max(0.0, min(own_a, float(charger.max_current_a)))
        if evse.transaction is not None:
            evse.transaction.source = Source.RESTORED


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def to_json(saved: SavedCharger, charger_id: str) -> dict[str, Any]:
    """The JSON form of a saved charger (numbers finite: the model never holds others)."""
    return {
        "schema": SCHEMA_VERSION,
        "id": charger_id,
        "boot": asdict(saved.boot),
        "capabilities": asdict(saved.capabilities),
        "setpoint": asdict(saved.setpoint) if saved.setpoint else None,
        "profile_strategy": saved.profile_strategy,
        "installed_profiles": saved.installed_profiles,
        "sessions": [record.to_store() for record in saved.sessions],
        "last_auto_reset_at": _iso(saved.last_auto_reset_at),
        "evses": {
            str(evse.evse_id): {
                "connector_status": evse.connector_status,
                "register_wh": evse.register.register_wh,
                "offset_wh": evse.register.offset_wh,
                "register_read_at": _iso(evse.register.read_at),
                "register_seen_at": _iso(evse.register.seen_at),
                "transaction": evse.transaction.to_json() if evse.transaction else None,
                "last_session": evse.last_session.to_store() if evse.last_session else None,
                "setpoint": asdict(evse.setpoint),
            }
            for evse in saved.evses
        },
    }


# --- reading, part by part ---------------------------------------------------------------------

#: The largest energy in Wh a saved file may hold (a 22 kW charger needs about 50 years at full power for it).
MAX_STORED_WH = 1e10
#: Longest id of a saved transaction (OCPP's transactionId is at most 36 characters) and of other saved texts.
MAX_ID_CHARS, MAX_TEXT_CHARS = 36, 200


def stored_wh(value: object) -> float | None:
    """An energy in Wh read from a file: None when absent; ValueError unless a number within 0..``MAX_STORED_WH``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"an energy is {type(value).__name__}, not a number")
    if not 0.0 <= value <= MAX_STORED_WH:  # NaN fails every comparison; a huge int too, without converting it
        raise ValueError("an energy is not a finite number within the plausible range")
    return float(value)


def _field(data: dict[str, Any], key: str, kind: type[Any], *, longest: int = MAX_TEXT_CHARS) -> Any:
    """A saved field: None when absent or null; ValueError when of another kind (or a text longer than ``longest``)."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{key} is {type(value).__name__}, not {kind.__name__}")
    if isinstance(value, str) and len(value) > longest:
        raise ValueError(f"{key} is longer than {longest} characters")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_PLAIN_NUMBER:
        raise ValueError(f"{key} is not a plausible number")
    return value


def _saved_time(data: dict[str, Any], key: str) -> datetime | None:
    """A saved time of a record: None when absent; ValueError when it is not an ISO time with a zone."""
    text = _field(data, key, str)
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{key} has no time zone")
    return moment


def token_use_from(data: object) -> TokenUse | None:
    """Whom a saved transaction or session belongs to (None: no token, also in files from before tokens)."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ValueError("token is not an object")
    return TokenUse(ref=_field(data, "ref", str), name=_field(data, "name", str), masked=_field(data, "masked", str))


def _required(data: dict[str, Any], what: str) -> tuple[str, datetime]:
    transaction_id, started = _field(data, "transaction_id", str, longest=MAX_ID_CHARS), _saved_time(data, "started_at")
    if transaction_id is None or started is None:
        raise ValueError(f"a saved {what} needs transaction_id and started_at")
    return transaction_id, started


def _object(data: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = data.get(key)
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"{key} is not an object")
    return value


def transaction_from(data: dict[str, Any]) -> Transaction:
    """A saved running transaction (also the 0.1 form, whose start register was ``start_energy_wh``), restored."""
    transaction_id, started = _required(data, "transaction")
    state = _field(data, "charging_state", str)
    if state is not None and state not in {s.value for s in ChargingState}:
        raise ValueError("charging_state is not an OCPP charging state")
    start = stored_wh(data.get("start_register_wh", data.get("start_energy_wh")))
    metered = _field(data, "metered", bool)
    return Transaction(
        transaction_id=transaction_id,
        started_at=started,
        charging_state=ChargingState(state) if state is not None else None,
        start_register_wh=start,
        interval_wh=stored_wh(data.get("interval_wh")) or 0.0,
        metered=metered if metered is not None else start is not None,
        remote_start_id=_field(data, "remote_start_id", int),
        seen_at=_saved_time(data, "seen_at"),
        source=Source.RESTORED,
        token=token_use_from(data.get("token")),
    )


def session_from(data: dict[str, Any]) -> SessionRecord:
    """A saved finished session (also the 0.1 form, which kept only ``energy_kwh``; no token before tokens)."""
    transaction_id, started = _required(data, "session")
    ended = _saved_time(data, "ended_at")
    if ended is None:
        raise ValueError("a saved session needs ended_at")
    energy = stored_wh(data.get("energy_wh"))
    old_kwh = data.get("energy_kwh")
    if energy is None and old_kwh is not None:
        energy = stored_wh(float(stored_wh(old_kwh) or 0.0) * 1000.0)
    evse_id = _field(data, "evse_id", int)
    return SessionRecord(
        evse_id=evse_id if evse_id is not None else 1,
        transaction_id=transaction_id,
        started_at=started,
        ended_at=max(ended, started),
        energy_wh=energy,
        stopped_reason=_field(data, "stopped_reason", str),
        start_register_wh=stored_wh(data.get("start_register_wh")),
        token=token_use_from(data.get("token")),
    )


def aware_time(value: object, what: str, *, now: datetime) -> datetime | None:
    """A saved time: None when absent; ValueError without a time zone or later than ``now`` plus ``MAX_FUTURE``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} is {type(value).__name__}, not a time")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{what} has no time zone")
    if moment > now + MAX_FUTURE:
        raise ValueError(f"{what} lies in the future")
    return moment


def setpoint_from(data: object, max_current_a: int) -> Setpoint | None:
    """The saved limit and pause, the limit bounded by the charger's maximum."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise TypeError("setpoint is not an object")
    limit, paused = data.get("limit_a"), data.get("paused")
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0 <= limit <= MAX_PLAIN_NUMBER:
        raise ValueError("setpoint needs limit_a, a number of amperes")
    if not isinstance(paused, bool):
        raise ValueError("paused is missing or not true or false")
    return Setpoint(limit_a=min(float(limit), float(max_current_a)), paused=paused)


def sessions_from(data: object) -> tuple[list[SessionRecord], int]:
    """The saved session history (at most ``MAX_SESSIONS``) and how many entries could not be read."""
    if data is None:
        return [], 0
    if not isinstance(data, list):
        raise TypeError("sessions is not a list")
    records, skipped = [], 0
    for item in data[:MAX_SESSIONS]:
        try:
            if not isinstance(item, dict):
                raise TypeError("a session is not an object")
            records.append(session_from(item))
        except (TypeError, ValueError, ArithmeticError):
            skipped += 1
    return records, skipped


def register_from(data: dict[str, Any], *, now: datetime, offset_wh: float) -> SavedRegister:
    """An EVSE's saved register and the times it was read (schema 1 kept only ``energy_wh``), refused together:
    without a trustworthy time every later reading would look implausible; without a register the next one counts."""
    return SavedRegister(
        register_wh=stored_wh(data.get("register_wh", data.get("energy_wh"))),
        offset_wh=offset_wh,
        read_at=aware_time(data.get("register_read_at"), "register_read_at", now=now),
        seen_at=aware_time(data.get("register_seen_at"), "register_seen_at", now=now),
    )


def evse_parts(evse: SavedEvse, data: object, *, now: datetime) -> list[tuple[str, Callable[[], None]]]:
    """The parts of one saved EVSE, each filling ``evse`` on its own (raises for damage)."""
    if not isinstance(data, dict):
        raise TypeError("an EVSE is not an object")

    def status() -> None:
        value = data.get("connector_status")
        if value is not None and value not in {s.value for s in ConnectorStatus}:
            raise ValueError("connector_status is not an OCPP connector status")
        evse.connector_status = ConnectorStatus(value) if value is not None else None

    def offset() -> None:
        evse.register = replace(evse.register, offset_wh=stored_wh(data.get("offset_wh")) or 0.0)

    def register() -> None:
        evse.register = register_from(data, now=now, offset_wh=evse.register.offset_wh)

    def transaction() -> None:
        evse.transaction = transaction_from(tx) if (tx := _object(data, "transaction")) is not None else None

    def last_session() -> None:
        evse.last_session = session_from(last) if (last := _object(data, "last_session")) is not None else None

    def setpoint() -> None:  # none before several EVSEs: the charger's limit, not paused
        evse.setpoint = plain(EvseSetpoint, _object(data, "setpoint") or {})

    return [
        ("status", status),
        ("energy offset", offset),
        ("register", register),
        ("transaction", transaction),
        ("last session", last_session),
        ("own limit", setpoint),
    ]

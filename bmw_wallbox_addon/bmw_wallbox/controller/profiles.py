"""Charging profiles: the ways a limit can be put on a charger, built without I/O.

Strategies, in the order tried (the one that last worked goes first):

================  ==========================================  ===========
Strategy          Profile                                     Profile id
================  ==========================================  ===========
``tx_default``    TxDefaultProfile on the EVSE, stack level   1
                  0, Absolute, A, one period
``tx_profile``    TxProfile bound to the running transaction  2
                  (only while charging: this wallbox drops
                  TxProfiles sent during a suspension)
``station_max``   ChargingStationMaxProfile on EVSE 0         3
================  ==========================================  ===========

Each strategy always uses the same profile id, so a new limit replaces the
old profile in place (a new id next to an old one can be rejected).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ocpp.v201 import call
from ocpp.v201.enums import ChargingProfileKindEnumType, ChargingProfilePurposeEnumType, ChargingRateUnitEnumType

from bmw_wallbox.state import SUSPENDED_EV, SUSPENDED_EVSE, Capabilities


class Strategy(StrEnum):
    """A way to put a limit on the charger."""

    TX_DEFAULT = "tx_default"
    TX_PROFILE = "tx_profile"
    STATION_MAX = "station_max"


PROFILE_IDS: dict[Strategy, int] = {Strategy.TX_DEFAULT: 1, Strategy.TX_PROFILE: 2, Strategy.STATION_MAX: 3}

_PURPOSES: dict[Strategy, ChargingProfilePurposeEnumType] = {
    Strategy.TX_DEFAULT: ChargingProfilePurposeEnumType.tx_default_profile,
    Strategy.TX_PROFILE: ChargingProfilePurposeEnumType.tx_profile,
    Strategy.STATION_MAX: ChargingProfilePurposeEnumType.charging_station_max_profile,
}


def strategy_order(remembered: str | None, *, caps: Capabilities) -> list[Strategy]:
    """The strategies to try, the one that worked last time first.

    A charger that reports it cannot do current-based limits gets none.
    """
    if caps.smart_charging is False or (caps.rate_units and "A" not in caps.rate_units):
        return []
    order = [Strategy.TX_DEFAULT, Strategy.TX_PROFILE, Strategy.STATION_MAX]
    if remembered in order:
        first = Strategy(remembered)
        order.remove(first)
        order.insert(0, first)
    return order


def applicable(strategy: Strategy, *, transaction_id: str | None, charging_state: str | None) -> str | None:
    """Why a strategy cannot be used now, or None when it can."""
    if strategy is Strategy.TX_PROFILE:
        if transaction_id is None:
            return "no transaction for a TxProfile"
        if charging_state in (SUSPENDED_EV, SUSPENDED_EVSE):
            return "TxProfiles sent during a suspension are dropped by this wallbox"
    return None


def set_profile_request(
    strategy: Strategy, limit_a: float, *, evse_id: int, transaction_id: str | None = None, now: datetime | None = None
) -> call.SetChargingProfile:
    """The SetChargingProfile request that puts ``limit_a`` on the charger with this strategy."""
    start = (now or datetime.now(UTC)).replace(microsecond=0)
    profile: dict[str, Any] = {
        "id": PROFILE_IDS[strategy],
        "stack_level": 0,
        "charging_profile_purpose": _PURPOSES[strategy],
        "charging_profile_kind": ChargingProfileKindEnumType.absolute,
        "charging_schedule": [
            {
                "id": PROFILE_IDS[strategy],
                "start_schedule": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "charging_rate_unit": ChargingRateUnitEnumType.amps,
                "charging_schedule_period": [{"start_period": 0, "limit": round(float(limit_a), 1)}],
            }
        ],
    }
    if strategy is Strategy.TX_PROFILE:
        profile["transaction_id"] = transaction_id
    target_evse = 0 if strategy is Strategy.STATION_MAX else evse_id
    return call.SetChargingProfile(evse_id=target_evse, charging_profile=profile)


def composite_limit(schedule: dict[str, Any] | None) -> float | None:
    """The limit in A in force now, from a GetCompositeSchedule answer's schedule (None if unreadable)."""
    if not schedule:
        return None
    periods: Sequence[dict[str, Any]] = schedule.get("charging_schedule_period") or []
    if not periods:
        return None
    current = [p for p in periods if p.get("start_period", 0) <= 0] or [periods[0]]
    try:
        limit = float(current[-1]["limit"])
    except (KeyError, TypeError, ValueError):
        return None
    if schedule.get("charging_rate_unit") not in (None, "A"):
        return None
    return limit


def reason_of(result: Any) -> str:
    """The charger's reason from a status answer's ``statusInfo``, or its bare status."""
    info = getattr(result, "status_info", None) or {}
    parts = [str(result.status)]
    if info.get("reason_code"):
        parts.append(str(info["reason_code"]))
    if info.get("additional_info"):
        parts.append(str(info["additional_info"]))
    return ": ".join(parts)

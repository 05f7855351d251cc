"""Charging profiles: the ways a limit can be put on a charger, decided without I/O.

Strategies, in the order tried (the one that last worked goes first):

================  ==========================================  ===========
Strategy          Profile                                     Profile id
================  ==========================================  ===========
``tx_default``    TxDefaultProfile on the EVSE, stack level   1
                  0, Absolute, one period
``tx_profile``    TxProfile bound to the running transaction  2
                  (only while charging: the Delta wallbox
                  drops TxProfiles sent during a suspension)
``station_max``   ChargingStationMaxProfile on EVSE 0         3
================  ==========================================  ===========

Each strategy always uses the same profile id, so a new limit replaces the
old profile in place (a new id next to an old one can be rejected). On a
charger with several EVSEs, EVSE n's profiles take the id plus 10 x (n - 1)
(profile ids are unique per charger; EVSE 1 keeps the ids above). Limits
are sent in A; a charger whose ``SmartChargingCtrlr.RateUnit`` lists only W
gets the limit in W (A x phases x 230 V).
"""

from __future__ import annotations

from bmw_wallbox.ports import LimitProfile, RateUnit, Strategy
from bmw_wallbox.state import SUSPENDED, Capabilities, ChargerState, ChargingState

PROFILE_IDS: dict[Strategy, int] = {Strategy.TX_DEFAULT: 1, Strategy.TX_PROFILE: 2, Strategy.STATION_MAX: 3}
#: Nominal phase voltage for limits in W, in V.
NOMINAL_VOLTAGE_V = 230.0


def profile_id(strategy: Strategy, evse_id: int) -> int:
    """The id of this strategy's profile on this EVSE (the station maximum has one id, on EVSE 0)."""
    if strategy is Strategy.STATION_MAX or evse_id <= 1:
        return PROFILE_IDS[strategy]
    return PROFILE_IDS[strategy] + 10 * (evse_id - 1)


def strategy_order(state: ChargerState) -> list[Strategy]:
    """The strategies to try, the one that worked last time first; none when the charger takes no limits."""
    if not state.limits_supported:
        return []
    order = [Strategy.TX_DEFAULT, Strategy.TX_PROFILE, Strategy.STATION_MAX]
    remembered = state.profile_strategy
    if remembered in order:
        first = Strategy(remembered)
        order.remove(first)
        order.insert(0, first)
    return order


def applicable(strategy: Strategy, *, transaction_id: str | None, charging_state: ChargingState | None) -> str | None:
    """Why a strategy cannot be used now, or None when it can."""
    if strategy is Strategy.TX_PROFILE:
        if transaction_id is None:
            return "no transaction for a TxProfile"
        if charging_state in SUSPENDED:
            return "TxProfiles sent during a suspension are dropped by the Delta wallbox"
    return None


def rate_unit(caps: Capabilities) -> RateUnit:
    """A when the charger takes A (or did not say), else W."""
    if caps.rate_units and "A" not in caps.rate_units and "W" in caps.rate_units:
        return RateUnit.WATTS
    return RateUnit.AMPS


def limit_profile(
    strategy: Strategy, target_a: float, *, evse_id: int, caps: Capabilities, transaction_id: str | None = None
) -> LimitProfile:
    """The profile that puts ``target_a`` (A per phase) on the charger with this strategy."""
    unit = rate_unit(caps)
    limit = target_a if unit is RateUnit.AMPS else target_a * (caps.phases or 3) * NOMINAL_VOLTAGE_V
    return LimitProfile(
        strategy=strategy,
        profile_id=profile_id(strategy, evse_id),
        stack_level=0,
        evse_id=0 if strategy is Strategy.STATION_MAX else evse_id,
        limit=limit,
        unit=unit,
        transaction_id=transaction_id if strategy is Strategy.TX_PROFILE else None,
    )

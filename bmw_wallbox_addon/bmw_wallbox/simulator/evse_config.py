"""The fixed facts of a simulated EVSE, and the rules its charging profiles are judged by.

Pure logic, no I/O: :class:`EvseConfig` (electrical facts and the personality)
and the two values :class:`~bmw_wallbox.simulator.profiles.ProfileStore.decide`
needs, built from the device model and the running transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from bmw_wallbox.simulator._lib import enums
from bmw_wallbox.simulator.device_model import DeviceModel
from bmw_wallbox.simulator.messages import MIN_CHARGE_A
from bmw_wallbox.simulator.personality import Personality
from bmw_wallbox.simulator.profiles import ProfileRules, TxContext
from bmw_wallbox.simulator.transaction import Transaction

_State = enums.ChargingStateEnumType
_Context = enums.ReadingContextEnumType


@dataclass(frozen=True, kw_only=True)
class EvseConfig:
    """Fixed electrical facts (A per phase, V phase-to-neutral), the charger's personality and the EVSE's id."""

    personality: Personality
    phases: int
    voltage_v: float
    max_current_a: float
    car_max_current_a: float
    evse_id: int = 1

    @property
    def quirks(self) -> bool:
        """True when the Delta firmware quirks are modelled."""
        return self.personality.quirks


def profile_rules(config: EvseConfig, model: DeviceModel, reject_profiles: set[str]) -> ProfileRules:
    """What the charger's SmartChargingCtrlr allows, and the purposes a test makes it reject."""
    smart = "SmartChargingCtrlr"
    return ProfileRules(
        quirks=config.quirks,
        reject_purposes=frozenset(reject_profiles),
        max_stack_level=model.int_value(smart, "ProfileStackLevel"),
        max_periods=model.int_value(smart, "PeriodsPerSchedule"),
        max_entries=model.int_value(smart, "Entries", instance="ChargingProfiles"),
        rate_units=frozenset(model.members(smart, "RateUnit")),
        evse_id=config.evse_id,
    )


def tx_context(tx: Transaction | None, charging_state: str) -> TxContext:
    """The running transaction as the profile rules see it."""
    return TxContext(
        transaction_id=tx.id if tx else None,
        suspended=charging_state in (_State.suspended_ev, _State.suspended_evse),
        tx_profiles_refused=bool(tx and tx.tx_profiles_refused),
        tx_profile_locked=bool(tx and tx.tx_profile_locked),
    )


def charging_state(
    *, plugged: bool, tx: Transaction | None, powered: bool, car_suspended: bool, drawable_a: float
) -> str:
    """The OCPP charging state of the EVSE (``drawable_a``: what the car could draw under the limit, in A)."""
    if not plugged:
        return str(_State.idle)
    if tx is None or not powered or not tx.authorized:
        return str(_State.ev_connected)
    if car_suspended:
        return str(_State.suspended_ev)
    if tx.hold_until_profile or drawable_a < MIN_CHARGE_A:
        return str(_State.suspended_evse)
    return str(_State.charging)


def measurands_variable(context: str) -> str:
    """The SampledDataCtrlr variable that lists the measurands of a reading context."""
    return {
        _Context.transaction_begin: "TxStartedMeasurands",
        _Context.transaction_end: "TxEndedMeasurands",
    }.get(context, "TxUpdatedMeasurands")

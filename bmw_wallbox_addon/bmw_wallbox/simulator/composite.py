"""GetCompositeSchedule: the effective limit over a time span, as the wallbox reports it.

Pure logic, no I/O. Limits are computed in A per phase and reported in A, or in
W (A x voltage x phases) when the CSMS asks for W.
"""

from __future__ import annotations

from typing import Any

from bmw_wallbox.simulator._lib import enums
from bmw_wallbox.simulator.clock import SimClock
from bmw_wallbox.simulator.evse import Evse


def composite_schedule(
    evse: Evse, clock: SimClock, *, duration_s: int, evse_id: int, unit: str | None, max_periods: int
) -> dict[str, Any] | None:
    """Return the snake_case ``schedule`` of ``evse`` over ``duration_s`` s from now; None without profiles.

    The limit without any profile is the hardware maximum; at most ``max_periods``
    periods (SmartChargingCtrlr.PeriodsPerSchedule).
    """
    if not evse.profiles.profiles or evse_id not in (0, evse.config.evse_id):
        return None
    now = clock.now_s()
    watts = unit == enums.ChargingRateUnitEnumType.watts
    phases, voltage_v = evse.config.phases, evse.config.voltage_v
    tx_id = evse.transaction.id if evse.transaction else None
    steps = evse.profiles.composite(
        now, duration_s, tx_id, default_a=evse.config.max_current_a, max_periods=max_periods
    )
    periods = [
        {
            "start_period": offset_s,
            "limit": round(limit_a * voltage_v * phases, 1) if watts else limit_a,
            "number_phases": phases,
        }
        for offset_s, limit_a in steps
    ]
    return {
        "evse_id": evse_id,
        "duration": duration_s,
        "schedule_start": clock.iso(now),
        "charging_rate_unit": "W" if watts else "A",
        "charging_schedule_period": periods,
    }

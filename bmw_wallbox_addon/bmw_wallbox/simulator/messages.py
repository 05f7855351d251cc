"""Builders for the requests the wallbox sends besides TransactionEvent.

Pure functions returning ``ocpp.v201.call`` dataclasses; nested objects are
snake_case dicts, which the library converts to camelCase on the wire.
"""

from __future__ import annotations

from typing import Any

from bmw_wallbox.simulator._lib import OcppRequest, call, enums
from bmw_wallbox.simulator.inventory import REPORT_ITEMS_PER_MESSAGE, Identity

#: Below this offered current (and above 0) a car does not charge (IEC 61851), in A.
MIN_CHARGE_A = 6.0
_TRANSFER_MODES = {1: "AC_single_phase", 2: "AC_two_phase", 3: "AC_three_phase"}


def boot_notification(identity: Identity, reason: str) -> OcppRequest:
    """Return the BootNotification announcing ``identity`` after a boot for ``reason``."""
    return call.BootNotification(
        charging_station={
            "vendor_name": identity.vendor_name,
            "model": identity.model,
            "serial_number": identity.serial_number,
            "firmware_version": identity.firmware_version,
        },
        reason=reason,
    )


def status_notification(timestamp: str, *, plugged: bool, evse_id: int = 1) -> OcppRequest:
    """Return the StatusNotification of the EVSE's connector 1 (Occupied while a cable is in)."""
    status = enums.ConnectorStatusEnumType
    return call.StatusNotification(
        timestamp=timestamp,
        connector_status=status.occupied if plugged else status.available,
        evse_id=evse_id,
        connector_id=1,
    )


def meter_values(timestamp: str, samples: list[dict[str, Any]], *, evse_id: int = 1) -> OcppRequest:
    """Return a MeterValues request for the EVSE with one meter value."""
    return call.MeterValues(evse_id=evse_id, meter_value=[{"timestamp": timestamp, "sampled_value": samples}])


def charging_needs(*, phases: int, voltage_v: float, car_max_current_a: float) -> OcppRequest:
    """Return the NotifyEVChargingNeeds the unit sends at plug-in (AC, 40 kWh wanted)."""
    line_v = voltage_v * (3**0.5 if phases == 3 else 1.0)
    return call.NotifyEVChargingNeeds(
        evse_id=1,
        charging_needs={
            "requested_energy_transfer": _TRANSFER_MODES[phases],
            "ac_charging_parameters": {
                "energy_amount": 40_000,
                "ev_min_current": int(MIN_CHARGE_A),
                "ev_max_current": int(car_max_current_a),
                "ev_max_voltage": round(line_v),
            },
        },
    )


def security_event(timestamp: str, kind: str = "SettingSystemTime") -> OcppRequest:
    """Return a SecurityEventNotification (after boot the unit reports setting its clock)."""
    return call.SecurityEventNotification(type=kind, timestamp=timestamp, tech_info="Time set by CSMS")


def notify_event(timestamp: str, event_id: int, seq_no: int, availability: str) -> OcppRequest:
    """Return a NotifyEvent reporting EVSE 1's AvailabilityState (a hard-wired notification)."""
    return call.NotifyEvent(
        generated_at=timestamp,
        seq_no=seq_no,
        event_data=[
            {
                "event_id": event_id,
                "timestamp": timestamp,
                "trigger": enums.EventTriggerEnumType.delta,
                "actual_value": availability,
                "event_notification_type": enums.EventNotificationEnumType.hard_wired_notification,
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "AvailabilityState"},
            }
        ],
    )


def notify_charging_limit(limit_a: float) -> OcppRequest:
    """Return a NotifyChargingLimit: an external (EMS) limit of ``limit_a`` A on EVSE 1."""
    return call.NotifyChargingLimit(
        evse_id=1,
        charging_limit={"charging_limit_source": enums.ChargingLimitSourceEnumType.ems, "is_grid_critical": False},
        charging_schedule=[
            {
                "id": 1,
                "charging_rate_unit": enums.ChargingRateUnitEnumType.amps,
                "charging_schedule_period": [{"start_period": 0, "limit": limit_a}],
            }
        ],
    )


def cleared_charging_limit() -> OcppRequest:
    """Return a ClearedChargingLimit: the external (EMS) limit on EVSE 1 is gone."""
    return call.ClearedChargingLimit(charging_limit_source=enums.ChargingLimitSourceEnumType.ems, evse_id=1)


def notify_reports(request_id: int, timestamp: str, entries: list[dict[str, Any]]) -> list[OcppRequest]:
    """Split report entries into NotifyReport parts (seqNo from 0, tbc on all but the last)."""
    size = REPORT_ITEMS_PER_MESSAGE
    chunks = [entries[start : start + size] for start in range(0, len(entries), size)] or [[]]
    return [
        call.NotifyReport(
            request_id=request_id,
            generated_at=timestamp,
            seq_no=seq_no,
            report_data=chunk or None,
            tbc=seq_no < len(chunks) - 1,
        )
        for seq_no, chunk in enumerate(chunks)
    ]


def unsolicited(
    timestamp: str, event_id: int, *, plugged: bool, config: tuple[int, float, float], offered_a: float
) -> list[OcppRequest]:
    """One each of the messages the unit sends unasked: NotifyEvent, SecurityEventNotification,
    NotifyEVChargingNeeds, NotifyChargingLimit and ClearedChargingLimit (``config``: phases, V, car's A)."""
    phases, voltage_v, car_max_current_a = config
    return [
        notify_event(timestamp, event_id, 0, "Occupied" if plugged else "Available"),
        security_event(timestamp, "SettingSystemTime"),
        charging_needs(phases=phases, voltage_v=voltage_v, car_max_current_a=car_max_current_a),
        notify_charging_limit(offered_a),
        cleared_charging_limit(),
    ]

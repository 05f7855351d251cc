"""Turn the OCPP library's snake_case payload dicts into our own models: the edge for numbers from a charger.

The handlers, provisioning and the charger port hand the payload fields they
use to these functions and work with :mod:`bmw_wallbox.state` types after
them (the handlers still read the plain fields they pass on, such as ids,
reasons and the message's own strings). Readings are scaled here, once: the
``unitOfMeasure.multiplier`` (an integer power of ten within
+-``MAX_MULTIPLIER``) and a ``kWh``/``kW`` unit become Wh/W. A reading is
dropped when its unit is unknown, its multiplier is not such an integer, or
its value is not a number, not finite, or (after scaling) larger than
``MAX_READING`` in size; so every reading that goes on is finite and a sum
of a few of them stays finite. The numbers of a device-model report
(maximum current, list sizes) are believed only when finite and within range,
and what a report keeps per variable is bounded (see :func:`report_entries`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from bmw_wallbox.masking import MASK, secret_variable
from bmw_wallbox.state import Capabilities, ChargingState, ConnectorStatus, SampledValue
from bmw_wallbox.tokenbook import Presented

_DEFAULT_MEASURAND = "Energy.Active.Import.Register"

#: Multipliers that turn a reading's unit into the unit we keep (Wh, W, A, V); other units are dropped.
_UNIT_SCALE: dict[str, float] = {
    "wh": 1.0,
    "kwh": 1000.0,
    "w": 1.0,
    "kw": 1000.0,
    "a": 1.0,
    "v": 1.0,
}

#: Measurands this add-on understands and asks the charger to send.
KNOWN_MEASURANDS = ("Current.Import", "Energy.Active.Import.Register", "Power.Active.Import", "Voltage")

#: Largest ``unitOfMeasure.multiplier`` (a power of ten) believed; a reading beyond is ignored.
#: Real meters use -3 .. 3; 10 ** 10_000_000 alone would hold the event loop for seconds.
MAX_MULTIPLIER = 9

#: Variables kept at most in :attr:`Capabilities.variables`, so a huge report cannot grow without bound.
MAX_VARIABLES = 2000
#: Characters of a variable's value kept from a report (the schema allows 2,500; what we read is short).
MAX_VALUE_CHARS = 500
#: The characteristics of a variable the add-on reads; the rest of a report entry is not kept.
_KEPT_CHARACTERISTICS = ("unit", "max_limit", "values_list")
#: Largest size of a reading believed, after scaling (W, Wh, A, V): far above any charger, far below overflow.
MAX_READING = 1e15
#: Largest local authorization list size believed from a report.
MAX_LIST_ENTRIES = 1_000_000
#: Largest EVSE current believed from a report, in A.
MAX_REPORTED_CURRENT_A = 1000.0


def parse_time(value: object) -> datetime | None:
    """Parse an OCPP timestamp; ``None`` when missing or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def presented_token(id_token: object) -> Presented:
    """The token in an ``idToken`` object (``{"id_token": ..., "type": ...}``); anything unreadable is anonymous."""
    if not isinstance(id_token, dict):
        return Presented(value="", kind="NoAuthorization")
    value, kind = id_token.get("id_token"), id_token.get("type")
    return Presented(value=value if isinstance(value, str) else "", kind=kind if isinstance(kind, str) else "")


def scale_reading(value: float, unit: str | None, multiplier: int | None) -> float | None:
    """Apply the OCPP ``multiplier`` and ``unitOfMeasure``; None for a unit we do not know or a value out of bounds.

    Without a unit the spec's defaults apply (Wh, W, A, V). A multiplier that
    is not an integer within +-``MAX_MULTIPLIER``, a value that is not finite
    and a result larger than ``MAX_READING`` in size give None.
    """
    factor = _UNIT_SCALE.get(unit.lower()) if unit else 1.0
    power = 0 if multiplier is None else multiplier
    if factor is None or not _bounded_int(power, MAX_MULTIPLIER) or not math.isfinite(value):
        return None
    scaled = float(value * (10.0**power) * factor)
    return scaled if math.isfinite(scaled) and abs(scaled) <= MAX_READING else None


def _bounded_int(value: object, limit: int) -> bool:
    """An int (not a bool) within +-``limit``."""
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= limit


def charging_state(value: object) -> ChargingState | None:
    """A ``chargingState`` value, or None when missing or not one of OCPP 2.0.1's."""
    return ChargingState(value) if value in _CHARGING_STATES else None


def connector_status(value: object) -> ConnectorStatus | None:
    """A ``connectorStatus`` (or ``AvailabilityState``) value, or None when not one of OCPP 2.0.1's."""
    return ConnectorStatus(value) if value in _CONNECTOR_STATUSES else None


_CHARGING_STATES = frozenset(s.value for s in ChargingState)
_CONNECTOR_STATUSES = frozenset(s.value for s in ConnectorStatus)


def sampled_values(meter_values: Iterable[dict[str, Any]] | None) -> list[SampledValue]:
    """Flatten ``meterValue`` entries into readings in Wh/W/A/V (outlet readings only).

    A reading with an unknown unit, a multiplier that is not an integer within
    +-``MAX_MULTIPLIER``, or a value that is not a finite number of at most
    ``MAX_READING`` after scaling is dropped (see :func:`scale_reading`).
    """
    readings: list[SampledValue] = []
    for meter_value in meter_values or ():
        for sample in meter_value.get("sampled_value") or ():
            location = sample.get("location")
            if location not in (None, "Outlet"):
                continue
            raw = sample.get("value")
            if not isinstance(raw, (int, float, str)) or isinstance(raw, bool):
                continue
            try:
                number = float(raw)
            except (TypeError, ValueError, OverflowError):
                continue
            unit_info = sample.get("unit_of_measure") or {}
            unit = unit_info.get("unit")
            if unit is not None and not isinstance(unit, str):
                continue
            value = scale_reading(number, unit, unit_info.get("multiplier"))
            if value is None:
                continue
            readings.append(
                SampledValue(
                    measurand=sample.get("measurand") or _DEFAULT_MEASURAND,
                    value=value,
                    phase=sample.get("phase"),
                    context=sample.get("context"),
                )
            )
    return readings


def variable_key(component: dict[str, Any], variable: dict[str, Any]) -> str:
    """A readable key for a device-model variable: ``Component[inst]@evse.Variable[inst]``."""
    key = str(component.get("name", "?"))
    if component.get("instance"):
        key += f"[{component['instance']}]"
    evse = component.get("evse") or {}
    if evse.get("id") is not None:
        key += f"@{evse['id']}"
        if evse.get("connector_id") is not None:
            key += f"/{evse['connector_id']}"
    key += "." + str(variable.get("name", "?"))
    if variable.get("instance"):
        key += f"[{variable['instance']}]"
    return key


def report_entries(report_data: Iterable[dict[str, Any]] | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(key, entry)`` for every ``reportData`` item of a NotifyReport.

    ``entry`` has ``value`` (the Actual attribute, cut at ``MAX_VALUE_CHARS``),
    ``mutability`` and the ``characteristics`` the add-on reads (unit, maximum,
    list of values); nothing else of the report is kept.
    """
    for item in report_data or ():
        attributes = item.get("variable_attribute") or []
        actual = next(
            (a for a in attributes if a.get("type", "Actual") == "Actual"), attributes[0] if attributes else {}
        )
        characteristics = item.get("variable_characteristics") or {}
        yield (
            variable_key(item.get("component") or {}, item.get("variable") or {}),
            {
                "value": _cut(actual.get("value")),
                "mutability": actual.get("mutability", "ReadWrite"),
                "characteristics": {k: _cut(characteristics[k]) for k in _KEPT_CHARACTERISTICS if k in characteristics},
            },
        )


def _cut(value: object) -> object:
    """Text cut at ``MAX_VALUE_CHARS``; anything else as it is."""
    return value[:MAX_VALUE_CHARS] if isinstance(value, str) else value


def _number(value: object, most: float) -> float | None:
    """A finite number (not a bool) between 0 and ``most``, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and 0 <= number <= most else None


def _int(value: object) -> int | None:
    """An integer written as text or a number, within OCPP's 32-bit range, else None."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if -(2**31) <= number < 2**31 else None


def _bool(value: object) -> bool | None:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def capabilities_from_report(
    entries: dict[str, dict[str, Any]], *, previous: Capabilities, at: datetime
) -> Capabilities:
    """Build the capability record from a full device-model report.

    What the report does not mention keeps its previous value, so a charger
    that answers GetBaseReport with less than before loses nothing.
    """

    def value(key: str) -> Any:
        entry = entries.get(key)
        return entry["value"] if entry else None

    caps = Capabilities(**{**previous.__dict__})
    measurands_entry = entries.get("SampledDataCtrlr.TxUpdatedMeasurands")
    if measurands_entry:
        values_list = measurands_entry["characteristics"].get("values_list") or measurands_entry["value"] or ""
        caps.measurands = [m.strip() for m in str(values_list).split(",") if m.strip()]
    if value("SmartChargingCtrlr.RateUnit") is not None:
        caps.rate_units = [u.strip() for u in str(value("SmartChargingCtrlr.RateUnit")).split(",") if u.strip()]
    for attr, key in (
        ("profile_stack_level", "SmartChargingCtrlr.ProfileStackLevel"),
        ("periods_per_schedule", "SmartChargingCtrlr.PeriodsPerSchedule"),
        ("max_profiles", "SmartChargingCtrlr.Entries[ChargingProfiles]"),
        ("message_timeout_s", "OCPPCommCtrlr.MessageTimeout[Default]"),
    ):
        number = _int(value(key))
        if number is not None:
            setattr(caps, attr, number)
    if caps.max_profiles is None:
        caps.max_profiles = _int(value("SmartChargingCtrlr.Entries"))
    if caps.message_timeout_s is None:
        caps.message_timeout_s = _int(value("OCPPCommCtrlr.MessageTimeout"))
    enabled = _bool(value("SmartChargingCtrlr.Enabled"))
    available = _bool(value("SmartChargingCtrlr.Available"))
    if enabled is not None or available is not None:
        caps.smart_charging = bool(enabled if enabled is not None else available)
    switching = _bool(value("SmartChargingCtrlr.ACPhaseSwitchingSupported"))
    if switching is not None:
        caps.phase_switching = switching
    for key, entry in entries.items():
        if ".SupplyPhases" in key and key.startswith(("EVSE@", "Connector@")):
            phases = _int(entry["value"])
            if phases:
                caps.phases = phases
        characteristics = entry["characteristics"]
        if key.startswith("EVSE@") and characteristics.get("unit") == "A":
            most = _number(characteristics.get("max_limit"), MAX_REPORTED_CURRENT_A)
            if most:
                caps.max_current_a = most
    _authorization(caps, entries)
    caps.variables = {
        k: MASK if secret_variable(k) else str(v["value"])
        for k, v in list(entries.items())[:MAX_VARIABLES]
        if v["value"] is not None
    }
    caps.read_only = sorted(k for k, v in entries.items() if v["mutability"] == "ReadOnly")[:MAX_VARIABLES]
    caps.reported_at = at.isoformat()
    return caps


def _authorization(caps: Capabilities, entries: dict[str, dict[str, Any]]) -> None:
    """``AuthCtrlr`` and ``LocalAuthListCtrlr`` facts: does the charger ask, and can it keep a local list."""
    auth = entries.get("AuthCtrlr.Enabled")
    if auth is not None:
        caps.auth_enabled = _bool(auth["value"])
        caps.auth_writable = auth["mutability"] != "ReadOnly"
    local = {
        key.split(".", 1)[1].split("[", 1)[0]: entry
        for key, entry in entries.items()
        if key.startswith("LocalAuthListCtrlr.")
    }
    if not local:
        return
    available = _bool((local.get("Available") or {}).get("value"))
    caps.local_list_available = True if available is None else available
    enabled = local.get("Enabled")
    if enabled is not None:
        caps.local_list_enabled = _bool(enabled["value"])
        caps.local_list_writable = enabled["mutability"] != "ReadOnly"
    # Entries reports how many tokens the list holds now; its maxLimit is how many it can hold.
    most = (local.get("Entries") or {}).get("characteristics", {}).get("max_limit")
    bounded = _number(most, MAX_LIST_ENTRIES)
    caps.local_list_max_entries = None if bounded is None else int(bounded)
    caps.local_list_per_message = _int((local.get("ItemsPerMessage") or {}).get("value"))
    caps.local_list_max_bytes = _int((local.get("BytesPerMessage") or {}).get("value"))

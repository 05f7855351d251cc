"""What the JSON API and the panel show of a charger: one view per thing, built from the state.

- :func:`charger_snapshot`: the flat view of ``GET /api/chargers`` (one per charger);
- :func:`charger_detail`: the snapshot plus capabilities, EVSEs and profiles
  (``GET /api/chargers/{id}`` and the panel's live feed);
- :func:`evse_view`: one EVSE.

Unknown values are ``None``. While a charger is disconnected its live
readings (power, energy, current, voltage) and its charging state are ``None``, as Home Assistant
shows them unavailable; the last values stay under ``last_reading``. A status
or transaction known from before (restored from the data dir, or from before
the charger disconnected) is marked ``"restored"`` in ``status_source`` /
``transaction_source`` until the charger confirms it (``"live"``).

Every view is valid JSON: a number that is not finite (the edges refuse them,
this is the last guard) shows as ``None`` (:func:`finite`), and the values of
secret device-model variables (``BasicAuthPassword``, ``IdentityKey``, see
:func:`bmw_wallbox.masking.secret_variable`) show as ``***``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from datetime import datetime
from typing import Any

from bmw_wallbox.evse_state import current_sums
from bmw_wallbox.masking import MASK, secret_variable
from bmw_wallbox.state import ChargerState, EvseState, kwh, token_label, utcnow


def finite(value: Any) -> Any:
    """``value`` with every float that is not finite (NaN, infinity) replaced by None, in lists and dicts too."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def json_text(value: Any) -> str:
    """Strict JSON of ``value`` (non-finite numbers as ``null``); what the panel's live feed sends."""
    return json.dumps(finite(value), allow_nan=False)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def evse_view(state: ChargerState, evse: EvseState) -> dict[str, Any]:
    """One EVSE: its status, transaction, readings (None while disconnected), session energy and limit.

    ``limit_a`` is the EVSE's own limit (None: it follows the charger's),
    ``target_a`` the limit it should enforce now (0 while paused),
    ``applied_limit_a`` the one its profile last put in force (chargers with several EVSEs).
    """
    tx = evse.transaction
    live = state.connected
    return {
        "evse_id": evse.evse_id,
        "status": evse.connector_status,
        "status_source": evse.status_source,
        "charging_state": tx.charging_state if tx and live else None,
        "transaction_id": tx.transaction_id if tx else None,
        "session_started_at": _iso(tx.started_at) if tx else None,
        "token_name": token_label(tx.token) if tx else None,
        "power_w": evse.meter.power_w if live else None,
        "current_a": evse.meter.current_a if live else None,
        "energy_kwh": kwh(evse.meter.energy_wh) if live else None,
        "session_energy_kwh": kwh(evse.session_energy_wh),
        "limit_a": evse.limit_a,
        "paused": state.is_paused(evse.evse_id),
        "target_a": state.evse_target_a(evse.evse_id),
        "applied_limit_a": evse.applied_limit_a if state.several else state.applied_limit_a,
        "last_session": evse.last_session.to_json() if evse.last_session else None,
    }


def last_reading(state: ChargerState, evse: EvseState) -> dict[str, Any]:
    """The latest readings and charging state whether or not the charger is connected, with their time.

    Power, energy and current are the charger's (the sums of its EVSEs'); the rest is ``evse``'s.
    """
    meter = evse.meter
    tx = evse.transaction
    return {
        "at": _iso(meter.updated_at),
        "charging_state": tx.charging_state if tx else None,
        "power_w": state.power_w,
        "energy_kwh": kwh(state.energy_wh),
        "current_a": current_sums(state.evses.values())[0],
        "voltage_v": meter.voltage_v,
    }


def charger_snapshot(state: ChargerState) -> dict[str, Any]:
    """The flat view of one charger, and each of its EVSEs under ``evses``.

    The flat fields describe the charger: its energy, power and current (per
    phase) are the sums of its EVSEs', ``last_session`` the latest of any EVSE;
    status, transaction and voltage are those of the EVSE with a transaction
    (else the lowest id).
    """
    return finite(_snapshot(state))  # type: ignore[no-any-return]


def _snapshot(state: ChargerState) -> dict[str, Any]:
    evse = state.main_evse
    tx = evse.transaction
    meter = evse.meter
    live = state.connected
    current_a, current_phases = current_sums(state.evses.values())
    return {
        "id": state.charger_id,
        "name": state.name,
        "connected": state.connected,
        "connected_since": _iso(state.connected_since),
        "disconnected_at": _iso(state.disconnected_at),
        "last_seen": _iso(state.last_seen),
        "remote_address": state.remote_address,
        "tls": state.tls,
        "authenticated": state.authenticated,
        "vendor": state.boot.vendor,
        "model": state.boot.model,
        "firmware": state.boot.firmware,
        "serial": state.boot.serial,
        "evse_id": evse.evse_id,
        "status": evse.connector_status,
        "status_source": evse.status_source,
        "charging_state": tx.charging_state if tx and live else None,
        "transaction_id": tx.transaction_id if tx else None,
        "transaction_source": tx.source if tx else None,
        "session_started_at": _iso(tx.started_at) if tx else None,
        "power_w": state.power_w if live else None,
        "energy_kwh": kwh(state.energy_wh) if live else None,
        "session_energy_kwh": kwh(evse.session_energy_wh),
        "current_a": current_a if live else None,
        "current_phases_a": (current_phases or None) if live else None,
        "voltage_v": meter.voltage_v if live else None,
        "meter_updated_at": _iso(meter.updated_at),
        "last_reading": last_reading(state, evse),
        "applied_limit_a": state.applied_limit_a,
        "max_current_a": state.max_current_a,
        "desired_limit_a": state.desired.limit_a,
        "budget_limit_a": state.budget.limit_a,
        "limited_by": state.budget.limited_by,
        "paused": state.desired.paused,
        "limit_in_sync": state.limit_in_sync,
        "limits_supported": state.limits_supported,
        "profile_strategy": state.profile_strategy,
        "last_rejection": state.last_rejection,
        "last_command": state.last_command.to_json() if state.last_command else None,
        "last_session": last.to_json() if (last := state.last_session) else None,
        "evses": [evse_view(state, each) for each in sorted(state.evses.values(), key=lambda e: e.evse_id)],
        "firmware_update": state.upkeep.firmware_update.to_json() if state.upkeep.firmware_update else None,
        **state.upkeep.health(connected=live, boot_reason=state.boot.reason, now=utcnow()),
        "upstream": state.upstream.to_json() if state.upstream else None,
    }


def charger_detail(state: ChargerState) -> dict[str, Any]:
    """The snapshot plus what the panel and ``GET /api/chargers/{id}`` show besides."""
    meter = state.main_evse.meter
    capabilities = asdict(state.capabilities)
    capabilities["variables"] = {
        key: MASK if secret_variable(key) else value for key, value in state.capabilities.variables.items()
    }
    detail = {
        **_snapshot(state),
        "voltage_phases_v": (dict(meter.voltage_phases_v) or None) if state.connected else None,
        "installed_profiles": list(state.installed_profiles),
        "capabilities": capabilities,
        "logs": [entry.to_json() for entry in state.upkeep.logs],
    }
    return finite(detail)  # type: ignore[no-any-return]

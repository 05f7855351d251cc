"""The sensors and binary sensors of one charger, declared once as data.

Every entity is one :class:`EntityDescription` in :data:`ENTITIES`: its value,
unit, classes, category and attributes; adding a sensor means adding a
description. Each transport renders these descriptions into its own wire form
(:mod:`bmw_wallbox.homeassistant.rest.states`, :mod:`bmw_wallbox.homeassistant.mqtt.discovery`)
and decides itself which of them it shows. The entity id is
``<domain>.<slug>_<slug of the name>`` (:func:`~bmw_wallbox.homeassistant.model.values.entity_id`);
``key`` names the entity in MQTT topics and unique ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from bmw_wallbox.controller import Outcome
from bmw_wallbox.evse_state import EvseState, current_sums
from bmw_wallbox.homeassistant.model.values import StateValue
from bmw_wallbox.site.budget import LimitedBy
from bmw_wallbox.state import ChargerState, ChargingState, ConnectorStatus, kwh, token_label, utcnow

Domain = Literal["sensor", "binary_sensor"]
Category = Literal["diagnostic", "config"]

#: The options of the status sensor (``ConnectorStatusEnumType`` of OCPP 2.0.1).
CONNECTOR_STATUSES = tuple(status.value for status in ConnectorStatus)
#: The options of the charging state sensor; ``Idle`` also stands for "no transaction".
CHARGING_STATES = tuple(state.value for state in ChargingState)
#: The options of the last command sensor.
COMMAND_OUTCOMES = tuple(outcome.value for outcome in Outcome)
#: The options of the charge status sensor: what evcc's Home Assistant charger maps to A, B and C.
CAR_STATES = ("disconnected", "connected", "charging")
#: The options of the "Limited by" sensor: which cap is the lowest (the site budget's ``limited_by``).
LIMITED_BY = tuple(cap.value for cap in LimitedBy)

#: What an entity reads: a charger's state, or the site budget's view (:mod:`~bmw_wallbox.homeassistant.model.site`).
S = TypeVar("S")


@dataclass(frozen=True, kw_only=True)
class EntityDescription(Generic[S]):
    """One entity of a charger (or of the site).

    ``value_fn`` reads the charger's state (the site's view); ``None`` becomes ``unknown``.
    ``precision`` rounds numbers to that many decimals. With
    ``needs_connection`` (the default) the entity is ``unavailable`` while the
    charger is offline. ``immediate`` entities skip the publisher's
    coalescing, and a change of one sends the charger's other changes at once too.
    ``category`` is Home Assistant's entity category (``diagnostic`` for
    technical details). ``former_names`` are names it had before, whose
    entity ids a transport removes. ``needs_site`` entities are shown only
    while the site budget is configured (``main_fuse_a`` set), ``needs_upstream``
    ones only while a charger is forwarded to an upstream backend (``upstream_url``).
    """

    key: str
    name: str
    domain: Domain = "sensor"
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    icon: str | None = None
    options: tuple[str, ...] | None = None
    precision: int | None = None
    needs_connection: bool = True
    immediate: bool = False
    category: Category | None = None
    value_fn: Callable[[S], StateValue]
    attributes_fn: Callable[[S], Mapping[str, Any]] | None = None
    former_names: tuple[str, ...] = ()
    needs_site: bool = False
    needs_upstream: bool = False


def _session_energy_kwh(charger: ChargerState) -> float | None:
    """The running session's energy, else the last session's (what a wallbox app shows after charging)."""
    evse = charger.main_evse
    if evse.transaction is not None:
        return kwh(evse.session_energy_wh)
    return kwh(evse.last_session.energy_wh) if evse.last_session else None


def _session_duration_s(charger: ChargerState) -> int | None:
    """Seconds from the transaction's start to the latest meter reading (both on the charger's clock)."""
    evse = charger.main_evse
    tx = evse.transaction
    if tx is None:
        return evse.last_session.duration_s if evse.last_session else None
    latest = evse.meter.updated_at
    if latest is None or latest < tx.started_at:
        return 0
    return int((latest - tx.started_at).total_seconds())


def _session_attributes(charger: ChargerState) -> dict[str, Any]:
    tx = charger.main_evse.transaction
    if tx is not None:
        return {"transaction_id": tx.transaction_id, "started_at": tx.started_at.isoformat(), "running": True}
    last = charger.main_evse.last_session
    if last is None:
        return {"transaction_id": None, "started_at": None, "running": False}
    return {"transaction_id": last.transaction_id, "started_at": last.started_at.isoformat(), "running": False}


def _last_token(charger: ChargerState) -> str | None:
    """The name of the running session's token, else the last session's: ``unknown`` (not listed), ``no token``."""
    evse = charger.main_evse
    if evse.transaction is not None:
        return token_label(evse.transaction.token)
    return token_label(evse.last_session.token) if evse.last_session else None


def _last_token_attributes(charger: ChargerState) -> dict[str, Any]:
    evse = charger.main_evse
    tx, last = evse.transaction, evse.last_session
    token = tx.token if tx is not None else last.token if last is not None else None
    return {
        "masked": token.masked if token else None,
        "running": tx is not None,
        "transaction_id": tx.transaction_id if tx else last.transaction_id if last else None,
    }


def _charging_state(charger: ChargerState) -> ChargingState:
    tx = charger.main_evse.transaction
    if tx is None:
        return ChargingState.IDLE
    return tx.charging_state or ChargingState.EV_CONNECTED


def evse_car_state(evse: EvseState) -> str:
    """One EVSE's ``charging``, ``connected`` or ``disconnected`` (see :func:`car_state`)."""
    tx = evse.transaction
    if tx is not None and tx.charging_state == ChargingState.CHARGING:
        return "charging"
    return "connected" if evse.car_present else "disconnected"


def car_state(charger: ChargerState) -> str:
    """``charging`` while energy flows, ``connected`` with a car plugged in, else ``disconnected`` (evcc's A/B/C)."""
    return evse_car_state(charger.main_evse)


def _phase_description(measurand: Literal["current", "voltage"], phase: str) -> EntityDescription[ChargerState]:
    """The per-phase current or voltage sensor of one phase (``L1``, ``L2``, ``L3``)."""
    current = measurand == "current"

    def value(charger: ChargerState) -> float | None:
        phases = current_sums(charger.evses.values())[1] if current else charger.main_evse.meter.voltage_phases_v
        return phases.get(phase)

    return EntityDescription(
        key=f"{measurand}_{phase.lower()}", name=f"{measurand.title()} {phase}", unit="A" if current else "V",
        device_class=measurand, state_class="measurement", icon="mdi:current-ac" if current else "mdi:sine-wave",
        precision=2 if current else 1, value_fn=value,
    )  # fmt: skip


def _phases(values: Mapping[str, float], unit: str) -> dict[str, float]:
    return {f"{phase.lower()}_{unit}": round(value, 2) for phase, value in sorted(values.items())}


def _limit_attributes(charger: ChargerState) -> dict[str, Any]:
    desired = charger.desired
    return {
        "desired_limit_a": desired.limit_a,
        "paused": desired.paused,
        "max_current_a": charger.max_current_a,
        "in_sync": charger.limit_in_sync,
        "strategy": charger.profile_strategy,
        "limits_supported": charger.limits_supported,
    }


def _command_attributes(charger: ChargerState) -> dict[str, Any]:
    record = charger.last_command
    if record is None:
        return {}
    return {"command": record.command, "detail": record.detail, "at": record.at.isoformat()}


def _connected_since(charger: ChargerState) -> datetime | None:
    """When the current connection opened (the uptime of the connection), to the second; None while offline."""
    return charger.connected_since.replace(microsecond=0) if charger.connected_since else None


#: Every sensor and binary sensor of a charger (a transport may leave some out; see its adapter).
ENTITIES: tuple[EntityDescription[ChargerState], ...] = (
    EntityDescription(
        key="power", name="Power", unit="W", device_class="power", state_class="measurement", icon="mdi:flash",
        precision=0, value_fn=lambda c: c.power_w,
    ),
    EntityDescription(
        key="energy", name="Energy", unit="kWh", device_class="energy", state_class="total_increasing",
        icon="mdi:lightning-bolt", precision=3, value_fn=lambda c: kwh(c.energy_wh),
    ),
    EntityDescription(
        key="session_energy", name="Session energy", unit="kWh", device_class="energy", icon="mdi:battery-charging",
        precision=3, value_fn=_session_energy_kwh, attributes_fn=_session_attributes,
    ),
    EntityDescription(
        key="current", name="Current", unit="A", device_class="current", state_class="measurement",
        icon="mdi:current-ac", precision=2, value_fn=lambda c: current_sums(c.evses.values())[0],
        attributes_fn=lambda c: _phases(current_sums(c.evses.values())[1], "a"),
    ),
    EntityDescription(
        key="voltage", name="Voltage", unit="V", device_class="voltage", state_class="measurement",
        icon="mdi:sine-wave", precision=1, value_fn=lambda c: c.main_evse.meter.voltage_v,
        attributes_fn=lambda c: _phases(c.main_evse.meter.voltage_phases_v, "v"),
    ),
    EntityDescription(
        key="status", name="Status", device_class="enum", options=CONNECTOR_STATUSES, icon="mdi:ev-plug-type2",
        immediate=True, value_fn=lambda c: c.main_evse.connector_status,
    ),
    EntityDescription(
        key="charging_state", name="Charging state", device_class="enum", options=CHARGING_STATES,
        icon="mdi:ev-station", immediate=True, value_fn=_charging_state,
    ),
    EntityDescription(
        # The limit the charger enforces now; the control "Current limit" is the one asked for (desired).
        key="current_limit", name="Applied current limit", unit="A", device_class="current", icon="mdi:speedometer",
        precision=1, category="diagnostic", value_fn=lambda c: c.applied_limit_a, attributes_fn=_limit_attributes,
        former_names=("Current limit",),
    ),
    EntityDescription(
        key="session_duration", name="Session duration", unit="s", device_class="duration", icon="mdi:timer-outline",
        value_fn=_session_duration_s, attributes_fn=_session_attributes,
    ),
    EntityDescription(
        key="last_seen", name="Last seen", device_class="timestamp", icon="mdi:clock-check-outline",
        needs_connection=False, category="diagnostic",
        value_fn=lambda c: c.last_seen.replace(microsecond=0) if c.last_seen else None,
    ),
    EntityDescription(
        key="firmware", name="Firmware", icon="mdi:chip", needs_connection=False, category="diagnostic",
        value_fn=lambda c: c.boot.firmware,
        attributes_fn=lambda c: {"vendor": c.boot.vendor, "model": c.boot.model, "serial": c.boot.serial},
    ),
    EntityDescription(
        key="last_command", name="Last command", device_class="enum", options=COMMAND_OUTCOMES, icon="mdi:console",
        needs_connection=False, category="diagnostic",
        value_fn=lambda c: c.last_command.outcome if c.last_command else None,
        attributes_fn=_command_attributes,
    ),
    EntityDescription(
        key="last_token", name="Last token", icon="mdi:card-account-details-outline", needs_connection=False,
        immediate=True, value_fn=_last_token, attributes_fn=_last_token_attributes,
    ),
    EntityDescription(
        key="connected", name="Connected", domain="binary_sensor", device_class="connectivity",
        needs_connection=False, immediate=True, category="diagnostic", value_fn=lambda c: c.connected,
        attributes_fn=lambda c: {"remote_address": c.remote_address, "tls": c.tls, "charger_id": c.charger_id},
    ),
    EntityDescription(
        key="charging", name="Charging", domain="binary_sensor", device_class="battery_charging", immediate=True,
        value_fn=lambda c: _charging_state(c) == ChargingState.CHARGING,
    ),
    EntityDescription(
        key="limit_in_sync", name="Limit in sync", domain="binary_sensor", icon="mdi:check-decagram",
        category="diagnostic", value_fn=lambda c: c.limit_in_sync, attributes_fn=_limit_attributes,
    ),
    EntityDescription(
        key="charge_status", name="Charge status", device_class="enum", options=CAR_STATES, icon="mdi:ev-plug-type2",
        immediate=True, value_fn=car_state,
    ),
    *(_phase_description(measurand, phase) for measurand in ("current", "voltage") for phase in ("L1", "L2", "L3")),
    # Connection health: the WebSocket's round trip (while connected), reconnects, why the charger last booted.
    EntityDescription(
        key="rtt", name="Round trip", unit="ms", device_class="duration", state_class="measurement",
        icon="mdi:timer-sync-outline", precision=0, category="diagnostic", value_fn=lambda c: c.upkeep.rtt_ms,
    ),
    EntityDescription(
        key="reconnects_24h", name="Reconnects 24h", state_class="measurement", icon="mdi:connection",
        needs_connection=False, category="diagnostic", value_fn=lambda c: c.upkeep.reconnects_24h(utcnow()),
    ),
    EntityDescription(
        key="boot_reason", name="Boot reason", icon="mdi:restart-alert", needs_connection=False,
        category="diagnostic", value_fn=lambda c: c.boot.reason,
    ),
    EntityDescription(
        key="connected_since", name="Connected since", device_class="timestamp", icon="mdi:lan-connect",
        category="diagnostic", value_fn=_connected_since,
    ),
    # The site budget's cap of this charger, and which cap is the lowest (only with a site block).
    EntityDescription(
        key="budget_limit", name="Budget limit", unit="A", device_class="current", icon="mdi:transmission-tower",
        precision=1, needs_connection=False, category="diagnostic", needs_site=True,
        value_fn=lambda c: c.budget.limit_a,
    ),
    EntityDescription(
        key="limited_by", name="Limited by", device_class="enum", options=LIMITED_BY, icon="mdi:speedometer-slow",
        needs_connection=False, category="diagnostic", needs_site=True, value_fn=lambda c: c.budget.limited_by,
    ),
    EntityDescription(
        key="backend_connected", name="Backend connected", domain="binary_sensor", device_class="connectivity",
        needs_connection=False, category="diagnostic", needs_upstream=True,
        value_fn=lambda c: c.upstream.connected if c.upstream is not None else None,
        attributes_fn=lambda c: {"queued": c.upstream.queued, "dropped": c.upstream.dropped} if c.upstream else {},
    ),
)  # fmt: skip


def charger_entities(*, site: bool, upstream: bool = False) -> tuple[EntityDescription[ChargerState], ...]:
    """A charger's entities: :data:`ENTITIES`, the site budget's with ``site``, the upstream's with ``upstream``."""
    return tuple(d for d in ENTITIES if (site or not d.needs_site) and (upstream or not d.needs_upstream))


def forwarded(chargers: Iterable[ChargerState]) -> bool:
    """Whether any charger is forwarded to an upstream backend (then each shows its backend connection)."""
    return any(charger.upstream is not None for charger in chargers)

"""The entities of each EVSE of a charger with several EVSEs, declared once as data for both transports.

A charger with one EVSE has none of these: its own entities are that EVSE's. With
several, each EVSE gets "EVSE <n> power", "EVSE <n> status", "EVSE <n> charging
state", "EVSE <n> current", "EVSE <n> session energy", "EVSE <n> energy" (its own
lifetime register) and "EVSE <n> applied current limit" (the limit its charging
profile put in force) on the charger's device (entity ids
``sensor.<slug>_evse_<n>_power`` ...; keys ``evse<n>_power`` ...), and the
controls of :func:`~bmw_wallbox.homeassistant.model.controls.evse_controls`
("EVSE <n> current limit": what is asked of it, 0 while it is paused). The
charger's own Power and Energy are the sums of its EVSEs'.
"""

from __future__ import annotations

from bmw_wallbox.homeassistant.model.entities import CHARGING_STATES, CONNECTOR_STATUSES, EntityDescription
from bmw_wallbox.state import ChargerState, ChargingState, kwh

#: The most EVSEs of one charger that get entities (the state model tracks at most 8).
MAX_EVSES_SHOWN = 8


def _charging_state(charger: ChargerState, evse_id: int) -> str:
    tx = charger.evse(evse_id).transaction
    return str(ChargingState.IDLE if tx is None else tx.charging_state or ChargingState.EV_CONNECTED)


def evse_descriptions(evse_id: int) -> tuple[EntityDescription[ChargerState], ...]:
    """The entities of EVSE ``evse_id`` (read from the charger's state, so one description serves every charger)."""
    n = evse_id
    return (
        EntityDescription(
            key=f"evse{n}_power", name=f"EVSE {n} power", unit="W", device_class="power", state_class="measurement",
            icon="mdi:flash", precision=0, value_fn=lambda c: c.evse(n).meter.power_w,
        ),
        EntityDescription(
            key=f"evse{n}_status", name=f"EVSE {n} status", device_class="enum", options=CONNECTOR_STATUSES,
            icon="mdi:ev-plug-type2", immediate=True, value_fn=lambda c: c.evse(n).connector_status,
        ),
        EntityDescription(
            key=f"evse{n}_charging_state", name=f"EVSE {n} charging state", device_class="enum",
            options=CHARGING_STATES, icon="mdi:ev-station", immediate=True, value_fn=lambda c: _charging_state(c, n),
        ),
        EntityDescription(
            key=f"evse{n}_current", name=f"EVSE {n} current", unit="A", device_class="current",
            state_class="measurement", icon="mdi:current-ac", precision=2, value_fn=lambda c: c.evse(n).meter.current_a,
        ),
        EntityDescription(
            key=f"evse{n}_session_energy", name=f"EVSE {n} session energy", unit="kWh", device_class="energy",
            icon="mdi:battery-charging", precision=3, value_fn=lambda c: kwh(c.evse(n).session_energy_wh),
        ),
        EntityDescription(
            key=f"evse{n}_energy", name=f"EVSE {n} energy", unit="kWh", device_class="energy",
            state_class="total_increasing", icon="mdi:lightning-bolt", precision=3,
            value_fn=lambda c: kwh(c.evse(n).meter.energy_wh),
        ),
        EntityDescription(
            key=f"evse{n}_current_limit", name=f"EVSE {n} applied current limit", unit="A", device_class="current",
            icon="mdi:speedometer", precision=1, category="diagnostic", value_fn=lambda c: c.evse(n).applied_limit_a,
            former_names=(f"EVSE {n} current limit",),
        ),
    )  # fmt: skip


def evse_entities(charger: ChargerState) -> tuple[EntityDescription[ChargerState], ...]:
    """The per-EVSE entities of this charger now: none with one EVSE, each EVSE's with several."""
    if not charger.several:
        return ()
    ids = sorted(charger.evses)[:MAX_EVSES_SHOWN]
    return tuple(description for evse_id in ids for description in evse_descriptions(evse_id))


def evse_ids(charger: ChargerState) -> tuple[int, ...]:
    """The EVSEs that have entities (part of what the MQTT discovery document depends on)."""
    return tuple(sorted(charger.evses)[:MAX_EVSES_SHOWN]) if charger.several else ()

"""MQTT discovery for Home Assistant: one device per charger, its topics and payloads, decided without I/O.

Topics, with ``<prefix>`` the discovery prefix (``homeassistant``), ``<base>``
the base topic (``bmw_wallbox``) and ``<node>`` the charger's node id
(:func:`node_ids`: ``bmw_wallbox_`` and the charging station id with every
character but letters, digits, ``_`` and ``-`` made ``_``):

- ``<prefix>/device/<node>/config``: the device-based discovery document
  (retained): ``dev`` (identifiers from the charger id, manufacturer, model,
  serial and firmware from BootNotification, configuration URL), ``o`` (origin)
  and ``cmps`` (one component per :data:`~bmw_wallbox.homeassistant.entities.ENTITIES`
  description, per :data:`~bmw_wallbox.homeassistant.mqtt_entities.CONTROLS`
  description, and the event entity); an empty retained payload removes the device;
- ``<base>/status``: ``online``/``offline`` for the add-on (retained, ``offline`` is the last will);
- ``<base>/<node>/availability``: ``online`` while the charger is connected (retained);
- ``<base>/<node>/<key>/state`` and ``.../attributes`` (retained), ``<base>/<node>/<key>/set`` (commands in);
- ``<base>/<node>/event``: the event entity (not retained: an event happens once).

Entities that need the charger list both availability topics with
``availability_mode: all``, so they are unavailable while it is offline or the
add-on is stopped; the others only follow the add-on. Unique ids are
``<node>_<key>``; entity names follow ``has_entity_name`` (the device name
comes first), and ``default_entity_id`` pins the id Home Assistant derives from
the names (``sensor.<slug>_<entity name>``), which are the ids the REST API used,
except ``sensor.<slug>_applied_current_limit`` (REST: ``sensor.<slug>_current_limit``).
Component keys are unique across sensors and controls (a check in the tests).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bmw_wallbox import __version__
from bmw_wallbox.homeassistant.entities import ENTITIES, EntityDescription, StateValue, slugify
from bmw_wallbox.homeassistant.mqtt_entities import CONTROLS, EVENT_TYPES, OFF, ON, ControlDescription
from bmw_wallbox.state import ChargerState

ONLINE, OFFLINE = "online", "offline"
#: What Home Assistant's MQTT sensors, numbers and switches take as "unknown".
NONE_PAYLOAD = "None"
#: Every node id starts with this, so the add-on can tell its own devices among the retained configs.
NODE_PREFIX = "bmw_wallbox_"
ORIGIN = {"name": "BMW Wallbox OCPP", "sw": __version__, "url": "https://github.com/bmw-wallbox/ha-addon"}
#: The key of the event entity.
EVENT_KEY = "events"


def node_ids(charger_ids: Iterable[str]) -> dict[str, str]:
    """The node id of each charger id, in configuration order; a clash gets ``_2``, ``_3`` ..."""
    nodes: dict[str, str] = {}
    taken: set[str] = set()
    for charger_id in charger_ids:
        base = node = NODE_PREFIX + re.sub(r"[^A-Za-z0-9_-]", "_", charger_id)
        number = 2
        while node in taken:
            node = f"{base}_{number}"
            number += 1
        taken.add(node)
        nodes[charger_id] = node
    return nodes


@dataclass(frozen=True, kw_only=True)
class Topics:
    """The topics of the add-on and of one charger (see the module docstring)."""

    prefix: str
    base: str
    node: str

    @property
    def status(self) -> str:
        """The add-on's availability (last will)."""
        return f"{self.base}/status"

    @property
    def availability(self) -> str:
        """The charger's availability."""
        return f"{self.base}/{self.node}/availability"

    @property
    def config(self) -> str:
        """The device-based discovery document."""
        return f"{self.prefix}/device/{self.node}/config"

    @property
    def event(self) -> str:
        """The event entity's topic."""
        return f"{self.base}/{self.node}/event"

    def state(self, key: str) -> str:
        """The state of one entity."""
        return f"{self.base}/{self.node}/{key}/state"

    def attributes(self, key: str) -> str:
        """The attributes (JSON) of one entity."""
        return f"{self.base}/{self.node}/{key}/attributes"

    def command(self, key: str) -> str:
        """Where Home Assistant sends one control's commands."""
        return f"{self.base}/{self.node}/{key}/set"


def _payload(value: StateValue, precision: int | None = None) -> str:
    """A state as an MQTT payload: ``ON``/``OFF``, ISO time, a rounded number, or ``None`` (unknown)."""
    if value is None:
        return NONE_PAYLOAD
    if isinstance(value, bool):
        return ON if value else OFF
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and precision is not None:
        rounded = round(value, precision)
        return str(int(rounded)) if precision == 0 else str(rounded)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _availability(topics: Topics, needs_connection: bool) -> dict[str, Any]:
    listed = [{"t": topics.status}, {"t": topics.availability}] if needs_connection else [{"t": topics.status}]
    return {"avty": listed, "avty_mode": "all"}


def _common(key: str, name: str, platform: str, topics: Topics, slug: str) -> dict[str, Any]:
    return {
        "p": platform,
        "name": name,
        "uniq_id": f"{topics.node}_{key}",
        "default_entity_id": f"{platform}.{slug}_{slugify(name)}",
    }


def sensor_component(description: EntityDescription, topics: Topics, slug: str) -> dict[str, Any]:
    """The discovery component of a sensor or binary sensor."""
    component = {
        **_common(description.key, description.name, description.domain, topics, slug),
        "stat_t": topics.state(description.key),
        **_availability(topics, description.needs_connection),
    }
    optional = {
        "dev_cla": description.device_class,
        "stat_cla": description.state_class,
        "unit_of_meas": description.unit,
        "ic": description.icon,
        "ops": list(description.options) if description.options else None,
        "sug_dsp_prc": description.precision if description.domain == "sensor" else None,
        "ent_cat": description.category,
        "json_attr_t": topics.attributes(description.key) if description.attributes_fn else None,
    }
    return {**component, **{key: value for key, value in optional.items() if value is not None}}


def control_component(control: ControlDescription, charger: ChargerState, topics: Topics, slug: str) -> dict[str, Any]:
    """The discovery component of a number, switch or button."""
    component = {
        **_common(control.key, control.name, control.platform, topics, slug),
        "cmd_t": topics.command(control.key),
        "ic": control.icon,
        **_availability(topics, control.needs_connection),
    }
    if control.value_fn is not None:
        component["stat_t"] = topics.state(control.key)
    if control.range_fn is not None:
        low, high, step = control.range_fn(charger)
        component.update({"min": low, "max": high, "step": step, "mode": "slider"})
    optional = {"unit_of_meas": control.unit, "dev_cla": control.device_class, "ent_cat": control.category}
    return {**component, **{key: value for key, value in optional.items() if value is not None}}


def device(charger: ChargerState, *, configuration_url: str | None) -> dict[str, Any]:
    """The ``dev`` block: what Home Assistant's device registry shows (unknown fields are left out)."""
    boot = charger.boot
    fields = {
        "ids": [f"{NODE_PREFIX}{charger.charger_id}"],
        "name": charger.name,
        "mf": boot.vendor,
        "mdl": boot.model,
        "sw": boot.firmware,
        "sn": boot.serial,
        "cu": configuration_url,
    }
    return {key: value for key, value in fields.items() if value is not None}


def discovery_config(
    charger: ChargerState, topics: Topics, slug: str, *, configuration_url: str | None = None
) -> dict[str, Any]:
    """The device-based discovery document of one charger (published retained at :attr:`Topics.config`)."""
    components = {d.key: sensor_component(d, topics, slug) for d in ENTITIES}
    components.update({c.key: control_component(c, charger, topics, slug) for c in CONTROLS})
    components[EVENT_KEY] = {
        **_common(EVENT_KEY, "Events", "event", topics, slug),
        "stat_t": topics.event,
        "evt_typ": list(EVENT_TYPES),
        "ic": "mdi:bell-ring-outline",
        **_availability(topics, False),
    }
    return {"dev": device(charger, configuration_url=configuration_url), "o": ORIGIN, "cmps": components}


def render_states(charger: ChargerState, topics: Topics) -> dict[str, str]:
    """Every retained state topic of one charger and its payload now (states, attributes, availability)."""
    states = {topics.availability: ONLINE if charger.connected else OFFLINE}
    for description in ENTITIES:
        states[topics.state(description.key)] = _payload(description.value_fn(charger), description.precision)
        if description.attributes_fn is not None:
            states[topics.attributes(description.key)] = json.dumps(
                description.attributes_fn(charger), default=str, sort_keys=True
            )
    for control in CONTROLS:
        if control.value_fn is not None:
            states[topics.state(control.key)] = _payload(control.value_fn(charger))
    return states


def event_payload(event_type: str, data: Mapping[str, Any]) -> str:
    """The event entity's JSON payload: ``event_type`` and the event's data as attributes."""
    return json.dumps({**data, "event_type": event_type}, default=str)


def command_key(topic: str, topics: Topics) -> str | None:
    """The control key of a command topic of this charger, or None."""
    prefix = f"{topics.base}/{topics.node}/"
    if not (topic.startswith(prefix) and topic.endswith("/set")):
        return None
    return topic[len(prefix) : -len("/set")]

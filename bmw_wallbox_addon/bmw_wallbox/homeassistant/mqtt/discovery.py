"""MQTT discovery for Home Assistant: one device per charger, its topics and payloads, decided without I/O.

Topics, with ``<prefix>`` the discovery prefix (``homeassistant``), ``<base>``
the base topic (``bmw_wallbox``) and ``<node>`` the charger's node id
(:func:`~bmw_wallbox.homeassistant.model.values.node_id`, from the charger id alone):

- ``<prefix>/device/<node>/config``: the device-based discovery document
  (retained): ``dev`` (identifiers from the charger id, manufacturer, model,
  serial and firmware from BootNotification, configuration URL), ``o`` (origin)
  and ``cmps`` (one component per :data:`~bmw_wallbox.homeassistant.model.entities.ENTITIES`
  description, per :data:`~bmw_wallbox.homeassistant.model.controls.CONTROLS`
  description, and the event entity); an empty retained payload removes the device;
- ``<base>/status``: ``online``/``offline`` for the add-on (retained, ``offline`` is the last will);
- ``<base>/<node>/availability``: ``online`` while the charger is connected (retained);
- ``<base>/<node>/<key>/state`` and ``.../attributes`` (retained), ``<base>/<node>/<key>/set`` (commands in);
- ``<base>/<node>/event``: the event entity (not retained: an event happens once);
- with :class:`~bmw_wallbox.homeassistant.model.firmware.FirmwareActions`, an
  ``update`` entity per charger (key ``firmware_update``: JSON state with the
  installed and latest version and ``in_progress``, ``install`` on its command topic);
- with a site budget, the site device (node :data:`~bmw_wallbox.homeassistant.model.site.SITE_NODE`):
  its sensors (:func:`site_discovery_config`, :func:`render_site_states`) and event entity.

Entities that need the charger list both availability topics with
``availability_mode: all``, so they are unavailable while it is offline or the
add-on is stopped; the others only follow the add-on. Unique ids are
``<node>_<key>``; entity names follow ``has_entity_name`` (the device name
comes first), and ``default_entity_id`` pins the id Home Assistant derives from
the names (``sensor.<slug>_<entity name>``), the ids the REST API uses too.
Component keys are unique across sensors and controls (a check in the tests).
Values are formatted by :func:`~bmw_wallbox.homeassistant.model.values.format_value`
with :data:`MQTT_WORDS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bmw_wallbox import __version__
from bmw_wallbox.homeassistant.model.controls import CONTROLS, ControlDescription, charger_controls
from bmw_wallbox.homeassistant.model.entities import ENTITIES, EntityDescription
from bmw_wallbox.homeassistant.model.events import EVENT_KINDS
from bmw_wallbox.homeassistant.model.firmware import INSTALL, UPDATE_KEY, UPDATE_NAME, update_state
from bmw_wallbox.homeassistant.model.site import SITE_ENTITIES, SITE_EVENT_TYPES, SITE_NAME, SITE_SLUG, SiteView
from bmw_wallbox.homeassistant.model.values import NODE_PREFIX, Words, entity_id, format_value, json_text
from bmw_wallbox.state import ChargerState

ONLINE, OFFLINE = "online", "offline"
#: Home Assistant's MQTT words: ``None`` is "unknown" for sensors, numbers and switches; ON/OFF its switch defaults.
MQTT_WORDS = Words(unknown="None", on="ON", off="OFF")
#: The payloads Home Assistant's MQTT switch and button send (their defaults).
ON, OFF, PRESS = MQTT_WORDS.on, MQTT_WORDS.off, "PRESS"
ORIGIN = {"name": "BMW Wallbox OCPP", "sw": __version__, "url": "https://github.com/bmw-wallbox/ha-addon"}
#: The key of the event entity.
EVENT_KEY = "events"


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


def _availability(topics: Topics, needs_connection: bool) -> dict[str, Any]:
    listed = [{"t": topics.status}, {"t": topics.availability}] if needs_connection else [{"t": topics.status}]
    return {"avty": listed, "avty_mode": "all"}


def _common(key: str, name: str, platform: str, topics: Topics, slug: str) -> dict[str, Any]:
    return {
        "p": platform,
        "name": name,
        "uniq_id": f"{topics.node}_{key}",
        "default_entity_id": entity_id(platform, slug, name),
    }


def sensor_component(description: EntityDescription[Any], topics: Topics, slug: str) -> dict[str, Any]:
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


def _event_component(topics: Topics, slug: str, kinds: Iterable[str]) -> dict[str, Any]:
    return {
        **_common(EVENT_KEY, "Events", "event", topics, slug),
        "stat_t": topics.event,
        "evt_typ": list(kinds),
        "ic": "mdi:bell-ring-outline",
        **_availability(topics, False),
    }


def update_component(topics: Topics, slug: str) -> dict[str, Any]:
    """The discovery component of the charger's firmware ``update`` entity (:mod:`..model.firmware`)."""
    return {
        **_common(UPDATE_KEY, UPDATE_NAME, "update", topics, slug),
        "stat_t": topics.state(UPDATE_KEY),
        "cmd_t": topics.command(UPDATE_KEY),
        "pl_inst": INSTALL,
        "dev_cla": "firmware",
        "ent_cat": "config",
        "title": "Wallbox firmware",
        **_availability(topics, True),
    }


def discovery_config(
    charger: ChargerState,
    topics: Topics,
    slug: str,
    *,
    configuration_url: str | None = None,
    descriptions: Iterable[EntityDescription[ChargerState]] = ENTITIES,
    firmware: bool = False,
) -> dict[str, Any]:
    """The device-based discovery document of one charger (published retained at :attr:`Topics.config`).

    ``descriptions`` are its sensors (those of the site budget only with one);
    ``firmware`` adds the ``update`` entity.
    """
    components = {d.key: sensor_component(d, topics, slug) for d in descriptions}
    components.update({c.key: control_component(c, charger, topics, slug) for c in charger_controls(charger)})
    components[EVENT_KEY] = _event_component(topics, slug, EVENT_KINDS)
    if firmware:
        components[UPDATE_KEY] = update_component(topics, slug)
    return {"dev": device(charger, configuration_url=configuration_url), "o": ORIGIN, "cmps": components}


def site_discovery_config(topics: Topics, *, configuration_url: str | None = None) -> dict[str, Any]:
    """The discovery document of the site device: its sensors and its event entity (only the add-on's availability)."""
    components = {d.key: sensor_component(d, topics, SITE_SLUG) for d in SITE_ENTITIES}
    components[EVENT_KEY] = _event_component(topics, SITE_SLUG, SITE_EVENT_TYPES)
    fields = {"ids": [topics.node], "name": SITE_NAME, "mf": ORIGIN["name"], "mdl": "Site power budget"}
    if configuration_url is not None:
        fields["cu"] = configuration_url
    return {"dev": fields, "o": ORIGIN, "cmps": components}


def render_site_states(view: SiteView, topics: Topics) -> dict[str, str]:
    """Every retained state topic of the site device and its payload now."""
    states: dict[str, str] = {}
    for description in SITE_ENTITIES:
        states[topics.state(description.key)] = format_value(
            description.value_fn(view), description.precision, MQTT_WORDS
        )
        if description.attributes_fn is not None:
            states[topics.attributes(description.key)] = json_text(description.attributes_fn(view))
    return states


def render_update(charger: ChargerState, topics: Topics, latest: str | None) -> dict[str, str]:
    """The update entity's state topic and its JSON payload now."""
    return {topics.state(UPDATE_KEY): json_text(update_state(charger, latest))}


def config_inputs(charger: ChargerState) -> tuple[object, ...]:
    """What :func:`discovery_config` reads of the charger (name, boot details, ranges): render again when it changes."""
    boot = charger.boot
    ranges = tuple(control.range_fn(charger) for control in CONTROLS if control.range_fn is not None)
    return (charger.name, boot.vendor, boot.model, boot.firmware, boot.serial, ranges)


def render_states(
    charger: ChargerState, topics: Topics, descriptions: Iterable[EntityDescription[ChargerState]] = ENTITIES
) -> dict[str, str]:
    """Every retained state topic of one charger and its payload now (states, attributes, availability)."""
    states = {topics.availability: ONLINE if charger.connected else OFFLINE}
    for description in descriptions:
        value = description.value_fn(charger)
        states[topics.state(description.key)] = format_value(value, description.precision, MQTT_WORDS)
        if description.attributes_fn is not None:
            states[topics.attributes(description.key)] = json_text(description.attributes_fn(charger))
    for control in charger_controls(charger):
        if control.value_fn is not None:
            states[topics.state(control.key)] = format_value(control.value_fn(charger), None, MQTT_WORDS)
    return states


def event_payload(event_type: str, data: Mapping[str, Any]) -> str:
    """The event entity's JSON payload: ``event_type`` and the event's data as attributes."""
    return json_text({**data, "event_type": event_type})


def command_key(topic: str, topics: Topics) -> str | None:
    """The control key of a command topic of this charger, or None."""
    prefix = f"{topics.base}/{topics.node}/"
    if not (topic.startswith(prefix) and topic.endswith("/set")):
        return None
    return topic[len(prefix) : -len("/set")]

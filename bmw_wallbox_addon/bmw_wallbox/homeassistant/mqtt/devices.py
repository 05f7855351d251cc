"""Home Assistant through MQTT discovery, and evcc's topics: one device per charger, kept true.

One :class:`MqttDevices` owns the :class:`~bmw_wallbox.homeassistant.mqtt.client.MqttClient`
(the broker connection) and renders every charger into retained topics for the
one :class:`~bmw_wallbox.homeassistant.model.loop.PublishLoop`:

- every change of a charger is rendered (:mod:`~bmw_wallbox.homeassistant.mqtt.discovery`,
  :mod:`~bmw_wallbox.homeassistant.mqtt.evcc`) and only the topics whose payload
  changed are published, at once (no rate limit: a payload is a few bytes);
  every ``refresh_s`` (60 s) each charger is rendered again (``last_seen``);
- the discovery document is rendered only when what it shows changes (name,
  BootNotification details, ranges: :func:`~bmw_wallbox.homeassistant.mqtt.discovery.config_inputs`),
  never per meter reading; it is published again at every (re)connect to the
  broker and whenever Home Assistant announces ``online`` on ``<prefix>/status``,
  with every state;
- a retained discovery document of this add-on for a charger that is no longer
  configured is answered with an empty retained one, which removes the device;
- commands from the number, switch and buttons, and evcc's ``enable`` and
  ``maxcurrent`` (of the charger, or of one of its EVSEs), run through
  :meth:`~bmw_wallbox.homeassistant.model.events.EventFeed.run` at once,
  also while the first discovery waits; a command that arrives as a
  retained message (stored on the broker, sent because we subscribed) never
  runs: it is logged once per topic and cleared from the broker; every event of
  the feed is an event of the charger's event entity;
- with a site budget, the site device is one more key of the loop, rendered
  after every look of the budget, and the budget's limiting events are its
  event entity's; without one, a retained site device is removed like a charger's;
- with :class:`~bmw_wallbox.homeassistant.model.firmware.FirmwareActions`, each
  charger has an ``update`` entity whose ``install`` (never a retained one) asks
  the charger to install the newest uploaded firmware file.

``before_first`` (optional) is awaited before the first publication: the REST
states of the same ids must be gone first (the output bounds that wait).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bmw_wallbox.aio import TaskSet, supervise
from bmw_wallbox.homeassistant.model.controls import CommandRequest, ControlDescription, charger_controls
from bmw_wallbox.homeassistant.model.entities import charger_entities, forwarded
from bmw_wallbox.homeassistant.model.events import EventFeed
from bmw_wallbox.homeassistant.model.evses import MAX_EVSES_SHOWN, evse_entities, evse_ids
from bmw_wallbox.homeassistant.model.firmware import INSTALL, UPDATE_KEY, FirmwareActions
from bmw_wallbox.homeassistant.model.loop import PublishLoop, PublishRules, Rendered, TransportDownError
from bmw_wallbox.homeassistant.model.site import SITE_EVENTS, SITE_KEY, SITE_NODE, SiteSource
from bmw_wallbox.homeassistant.model.values import NODE_PREFIX, charger_slugs, node_id
from bmw_wallbox.homeassistant.mqtt.broker import BrokerSettings
from bmw_wallbox.homeassistant.mqtt.client import MqttClient, MqttError
from bmw_wallbox.homeassistant.mqtt.discovery import (
    EVENT_KEY,
    OFF,
    ON,
    ONLINE,
    ORIGIN,
    PRESS,
    Topics,
    command_key,
    config_inputs,
    discovery_config,
    event_payload,
    render_site_states,
    render_states,
    render_update,
    site_discovery_config,
)
from bmw_wallbox.homeassistant.mqtt.evcc import evcc_command, evcc_topic, parse_evcc, render_evcc
from bmw_wallbox.hub import StateHub
from bmw_wallbox.logbudget import LogBudget
from bmw_wallbox.state import ChargerState

_LOGGER = logging.getLogger(__name__)

#: What a payload of Home Assistant's MQTT button and switch means: a press, or a switch position.
_INPUTS: dict[str, dict[str, object]] = {"button": {PRESS: None}, "switch": {ON: True, OFF: False}}
#: The event entity's type of each site event of the feed.
_SITE_TYPES = {kind: event_type for event_type, kind in SITE_EVENTS.items()}
#: How many ``online`` announcements of Home Assistant a minute are logged at INFO (the others at DEBUG, counted).
ONLINE_LOGS_PER_MINUTE = 3


class MqttDevices:
    """Keeps Home Assistant's MQTT devices and evcc's topics in step with the chargers (see the module docstring)."""

    mode = "mqtt"

    def __init__(
        self,
        hub: StateHub,
        feed: EventFeed,
        broker: BrokerSettings,
        *,
        tasks: TaskSet,
        configuration_url: str | None = None,
        before_first: Callable[[], Awaitable[None]] | None = None,
        site: SiteSource | None = None,
        firmware: FirmwareActions | None = None,
        refresh_s: float = 60.0,
        backoff_max_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.broker, self._hub, self._feed, self._tasks = broker, hub, feed, tasks
        self._configuration_url = configuration_url
        self._before_first = before_first
        self.slugs = charger_slugs(hub.chargers.values())
        self.topics = {
            cid: Topics(prefix=broker.discovery_prefix, base=broker.base_topic, node=node_id(cid))
            for cid in hub.chargers
        }
        self._site = site
        self._firmware = firmware
        self.descriptions = charger_entities(site=site is not None, upstream=forwarded(hub.chargers.values()))
        self.site_topics = Topics(prefix=broker.discovery_prefix, base=broker.base_topic, node=SITE_NODE)
        self._nodes = {topics.node for topics in self.topics.values()} | ({SITE_NODE} if site is not None else set())
        #: Where Home Assistant says ``online`` after each start.
        self._status_topic = f"{broker.discovery_prefix}/status"
        self.client = MqttClient(
            broker,
            status_topic=f"{broker.base_topic}/status",
            subscriptions=[
                self._status_topic,
                f"{broker.discovery_prefix}/device/+/config",
                f"{broker.base_topic}/+/+/set",
                f"{broker.base_topic}/+/evcc/+/set",
                f"{broker.base_topic}/+/evcc/+/+/set",
            ],
            on_message=self._on_message,
            on_connected=self._on_connected,
            backoff_max_s=backoff_max_s,
        )
        rules = PublishRules(name="Publishing to the MQTT broker", refresh_s=refresh_s, outage_level=logging.DEBUG)
        keys = [*self.topics, SITE_KEY] if site is not None else list(self.topics)
        self.loop: PublishLoop[str] = PublishLoop(
            hub, chargers=keys, render=self.render, send=self._send, rules=rules, clock=clock
        )
        self._unsubscribe_site: Callable[[], None] | None = None
        self._configs: dict[str, tuple[tuple[object, ...], str]] = {}
        self._retained_warned: set[str] = set()
        self._online_log = LogBudget(_LOGGER, burst=ONLINE_LOGS_PER_MINUTE, level=logging.INFO, clock=clock)
        feed.listen(self._on_event)

    def start(self) -> None:
        """Follow the hub, start the broker connection and the publishing (returns at once)."""
        self.loop.attach()
        if self._site is not None:
            self._unsubscribe_site = self._site.subscribe(lambda kind: self.loop.changed(SITE_KEY))
        self._tasks.start(supervise("MQTT connection", self.client.run, logger=_LOGGER), "mqtt connection")
        self._tasks.start(supervise("MQTT publisher", self._publish, logger=_LOGGER), "mqtt publisher")

    async def stop(self) -> None:
        """Stop following the hub and say ``offline`` (every entity becomes unavailable)."""
        self.loop.detach()
        if self._unsubscribe_site is not None:
            self._unsubscribe_site()
            self._unsubscribe_site = None
        await self.client.say_goodbye()

    def entity_ids(self, registry: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
        """Each charger's entity ids as Home Assistant's registry (unique id -> entity id) has them."""
        keys = [*(d.key for d in self.descriptions), EVENT_KEY, *([UPDATE_KEY] if self._firmware else [])]
        return {
            cid: tuple(
                registry[uid]
                for key in (*keys, *self._charger_keys(self._hub.chargers[cid]))
                if (uid := f"{topics.node}_{key}") in registry
            )
            for cid, topics in self.topics.items()
        }

    @staticmethod
    def _charger_keys(charger: ChargerState) -> list[str]:
        """The keys of this charger's controls and per-EVSE sensors now."""
        return [*(c.key for c in charger_controls(charger)), *(d.key for d in evse_entities(charger))]

    # --- state -> broker ---------------------------------------------------------------------------

    def render(self, charger_id: str) -> dict[str, Rendered[str]]:
        """Every retained topic of one charger (or the site) with its payload now: discovery, states, evcc."""
        if charger_id == SITE_KEY and self._site is not None:
            return self._render_site(self._site)
        charger = self._hub.chargers[charger_id]
        topics = self.topics[charger_id]
        descriptions = (*self.descriptions, *evse_entities(charger))
        inputs = (*config_inputs(charger), evse_ids(charger))
        cached = self._configs.get(charger_id)
        if cached is None or cached[0] != inputs:
            config = discovery_config(
                charger, topics, self.slugs[charger_id], configuration_url=self._configuration_url,
                descriptions=descriptions, firmware=self._firmware is not None,
            )  # fmt: skip
            cached = self._configs[charger_id] = (inputs, json.dumps(config, sort_keys=True))
        payloads = {
            topics.config: cached[1],
            **render_states(charger, topics, descriptions),
            **render_evcc(charger, topics),
        }
        if self._firmware is not None:
            payloads.update(render_update(charger, topics, self._firmware.latest()))
        return {topic: Rendered(payload=payload) for topic, payload in payloads.items()}

    def _render_site(self, site: SiteSource) -> dict[str, Rendered[str]]:
        if SITE_KEY not in self._configs:
            config = site_discovery_config(self.site_topics, configuration_url=self._configuration_url)
            self._configs[SITE_KEY] = ((), json.dumps(config, sort_keys=True))
        payloads = {
            self.site_topics.config: self._configs[SITE_KEY][1],
            **render_site_states(site.view(), self.site_topics),
        }
        return {topic: Rendered(payload=payload) for topic, payload in payloads.items()}

    async def _send(self, topic: str, payload: str) -> None:
        try:
            await self.client.publish(topic, payload, qos=1 if topic.endswith("/config") else 0)
        except MqttError as err:
            raise TransportDownError(str(err)) from err

    async def _publish(self) -> None:
        """The publish loop, once ``before_first`` returned (the REST states of the same ids are gone)."""
        if self._before_first is not None:
            await self._before_first()
            self._before_first = None
        await self.loop.run()

    async def _on_connected(self) -> None:
        self.loop.send_all_again()

    def _on_event(self, kind: str, charger_id: str | None, data: dict[str, Any]) -> None:
        if charger_id is None and kind in _SITE_TYPES and self._site is not None:
            topic, event_type = self.site_topics.event, _SITE_TYPES[kind]
            self._tasks.spawn(self.client.publish(topic, event_payload(event_type, data), retain=False), kind)
        elif charger_id in self.topics:
            topic = self.topics[charger_id].event
            self._tasks.spawn(self.client.publish(topic, event_payload(kind, data), retain=False), kind)

    # --- broker -> controller ----------------------------------------------------------------------

    def _on_message(self, topic: str, payload: str, retained: bool) -> None:
        if topic == self._status_topic:
            if payload == ONLINE:
                self._online_log.log(
                    "online announcements of Home Assistant",
                    "Home Assistant is online: publishing the devices and their states again",
                )
                self.loop.send_all_again()
            return
        if topic.endswith("/config"):
            self._check_retained_config(topic, payload)
            return
        for charger_id, topics in self.topics.items():
            evcc = evcc_command(topic, topics)
            key = command_key(topic, topics)
            if evcc is None and key is None:
                continue  # another charger's topic
            charger = self._hub.chargers[charger_id]
            control = next((c for c in charger_controls(charger) if c.key == key), None)
            if evcc is None and control is None and key != UPDATE_KEY:
                continue
            if not payload:  # never a command: what clearing a retained one sends us
                return
            if retained:
                self._clear_retained(topic)
                return
            if key == UPDATE_KEY:
                self._install(charger_id, payload)
            elif evcc is not None:
                source = f"evcc {evcc.name}" if evcc.evse_id is None else f"evcc EVSE {evcc.evse_id} {evcc.name}"
                request = parse_evcc(evcc, payload, charger)
                self._command(charger_id, source, payload, request, evse_id=evcc.evse_id)
            elif control is not None:
                request = self._control_request(control, payload, charger)
                self._command(charger_id, control.key, payload, request, evse_id=control.evse_id)
            return

    def _install(self, charger_id: str, payload: str) -> None:
        """The update entity's install: the newest uploaded firmware file, through the maintenance service."""
        latest = self._firmware.latest() if self._firmware is not None else None
        if self._firmware is None or payload != INSTALL or latest is None:
            _LOGGER.warning("[%s] Ignoring %r on the firmware update's command topic", charger_id, payload[:20])
            return
        _LOGGER.info("[%s] Firmware update to %s requested through MQTT", charger_id, latest)
        self._tasks.spawn(self._run_install(self._firmware, charger_id, latest), f"mqtt install {latest}")

    async def _run_install(self, firmware: FirmwareActions, charger_id: str, name: str) -> None:
        outcome = await firmware.install(charger_id, name)
        _LOGGER.info("[%s] Firmware update to %s: %s", charger_id, name, outcome)

    @staticmethod
    def _control_request(control: ControlDescription, payload: str, charger: ChargerState) -> CommandRequest | None:
        """What a payload on a control's command topic asks for, or None when the control does not take it."""
        if control.platform == "number":
            return control.request(charger, payload)
        inputs = _INPUTS[control.platform]
        return control.request(charger, inputs[payload]) if payload in inputs else None

    def _clear_retained(self, topic: str) -> None:
        """A stored command: never run it; say so once per topic and remove it from the broker."""
        if topic not in self._retained_warned:
            self._retained_warned.add(topic)
            _LOGGER.warning(
                "Ignoring a retained command on %s (it would run again at every connect); clearing it", topic
            )
        self._tasks.spawn(self.client.publish(topic, "", retain=True, qos=1), f"clear {topic}")

    def _command(
        self, charger_id: str, source: str, payload: str, request: CommandRequest | None, *, evse_id: int | None = None
    ) -> None:
        if request is None:
            _LOGGER.warning("[%s] Ignoring %r on MQTT (%s): not a payload it takes", charger_id, payload[:20], source)
            return
        command, amps = request
        _LOGGER.info("[%s] %s requested through MQTT (%s)", charger_id, command, source)
        self._tasks.spawn(self._feed.run(command, charger_id, amps, evse_id=evse_id), f"mqtt {source}")

    def _check_retained_config(self, topic: str, payload: str) -> None:
        """A device config on the broker: remove it when it is ours and its charger is no longer configured."""
        node = topic.removeprefix(f"{self.broker.discovery_prefix}/device/").removesuffix("/config")
        if not payload or not (node.startswith(NODE_PREFIX) or node == SITE_NODE) or node in self._nodes:
            return
        try:
            origin = json.loads(payload).get("o", {})
        except (ValueError, AttributeError):
            return
        if not isinstance(origin, dict) or origin.get("name") != ORIGIN["name"]:
            return
        _LOGGER.info("Removing the Home Assistant device %s: its charger is no longer configured", node)
        self._tasks.spawn(self._remove_device(node), f"remove {node}")

    async def _remove_device(self, node: str) -> None:
        topics = Topics(prefix=self.broker.discovery_prefix, base=self.broker.base_topic, node=node)
        await self.client.publish(topics.config, "", qos=1)
        evse_statuses = (evcc_topic(topics, "status", n) for n in range(1, MAX_EVSES_SHOWN + 1))
        for topic in (topics.availability, evcc_topic(topics, "status"), *evse_statuses):
            await self.client.publish(topic, "")

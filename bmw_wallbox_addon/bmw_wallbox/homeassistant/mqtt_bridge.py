"""Home Assistant through MQTT discovery, and evcc's topics: one device per charger, kept true.

One :class:`MqttBridge` owns the :class:`~bmw_wallbox.homeassistant.mqtt_link.MqttLink`
and follows the state hub and the controller's results:

- every change of a charger is rendered (:mod:`~bmw_wallbox.homeassistant.discovery`,
  :mod:`~bmw_wallbox.homeassistant.evcc`) and only the topics whose payload
  changed are published, at once (no rate limit: a payload is a few bytes);
  every ``refresh_s`` (60 s) each charger is rendered again (``last_seen``);
- the discovery document is published again when it changes (BootNotification
  brought a new firmware), at every (re)connect to the broker, and whenever
  Home Assistant announces ``online`` on ``<prefix>/status``, with every state;
- a retained discovery document of this add-on for a charger that is no longer
  configured is answered with an empty retained one, which removes the device;
- commands from the number, switch and buttons, and evcc's ``enable`` and
  ``maxcurrent``, run through :func:`bmw_wallbox.controller.run`, so they are
  coalesced, bounded by the command deadline and answered honestly; every
  outcome (from anywhere) and every session start and end is an event of the
  charger's event entity.

``ready`` (optional) is awaited, at most ``ready_timeout_s`` (15 s), before the
first discovery is published: the REST states of the same ids must be gone first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from bmw_wallbox.aio import cancel_and_wait, stopping, supervise
from bmw_wallbox.controller import CommandResult, Controller, run
from bmw_wallbox.homeassistant.broker import BrokerSettings
from bmw_wallbox.homeassistant.discovery import (
    NODE_PREFIX,
    ONLINE,
    ORIGIN,
    Topics,
    command_key,
    discovery_config,
    event_payload,
    node_ids,
    render_states,
)
from bmw_wallbox.homeassistant.entities import charger_slugs
from bmw_wallbox.homeassistant.evcc import evcc_command, evcc_topic, parse_evcc, render_evcc
from bmw_wallbox.homeassistant.events import SessionTracker
from bmw_wallbox.homeassistant.mqtt_entities import CONTROLS, CommandRequest
from bmw_wallbox.homeassistant.mqtt_link import MqttError, MqttLink
from bmw_wallbox.hub import StateHub
from bmw_wallbox.state import Save

_LOGGER = logging.getLogger(__name__)

_CONTROLS = {control.key: control for control in CONTROLS}


class MqttBridge:
    """Keeps Home Assistant's MQTT devices and evcc's topics in step with the chargers (see the module docstring)."""

    def __init__(
        self,
        hub: StateHub,
        controller: Controller,
        broker: BrokerSettings,
        *,
        configuration_url: str | None = None,
        ready: asyncio.Event | None = None,
        ready_timeout_s: float = 15.0,
        refresh_s: float = 60.0,
        backoff_max_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hub = hub
        self._controller = controller
        self.broker = broker
        self._configuration_url = configuration_url
        self._ready = ready
        self._ready_timeout_s = ready_timeout_s
        self._refresh_s = refresh_s
        self._clock = clock
        self.nodes = node_ids(hub.chargers)
        self.slugs = charger_slugs(hub.chargers.values())
        self.topics = {
            cid: Topics(prefix=broker.discovery_prefix, base=broker.base_topic, node=node)
            for cid, node in self.nodes.items()
        }
        #: Where Home Assistant says ``online`` after each start.
        self._status_topic = f"{broker.discovery_prefix}/status"
        self.link = MqttLink(
            broker,
            status_topic=f"{broker.base_topic}/status",
            subscriptions=[
                self._status_topic,
                f"{broker.discovery_prefix}/device/+/config",
                f"{broker.base_topic}/+/+/set",
                f"{broker.base_topic}/+/evcc/+/set",
            ],
            on_message=self._on_message,
            on_connected=self._on_connected,
            backoff_max_s=backoff_max_s,
        )
        self._published: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._publishing = asyncio.Lock()
        self._wake = asyncio.Event()
        self._refresh_at = clock() + refresh_s
        self._sessions = SessionTracker()
        self._unsubscribe: list[Callable[[], None]] = []
        #: The two loops and every event or command in flight; all are cancelled by :meth:`stop`.
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self._stopping = False

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Follow the hub and the results, and start the connection (returns at once)."""
        self._sessions.seed(self._hub.chargers)
        self._unsubscribe = [
            self._hub.subscribe(self._on_hub_changed),
            self._controller.subscribe_results(self._on_result),
        ]
        self._started = True
        self._start_task(supervise("MQTT connection", self.link.run, logger=_LOGGER), "mqtt connection")
        self._start_task(supervise("MQTT publisher", self._publish_loop, logger=_LOGGER), "mqtt publisher")

    async def stop(self) -> None:
        """Say ``offline`` (every entity becomes unavailable), stop every task and stop following the state."""
        if not self._started or self._stopping:
            return
        self._stopping = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        await self.link.say_goodbye()
        await cancel_and_wait(*self._tasks)

    def _start_task(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _spawn(self, coroutine: Coroutine[Any, Any, object], name: str) -> None:
        if not self._started or self._stopping:
            coroutine.close()
            return
        self._start_task(self._guard(coroutine, name), name)

    @staticmethod
    async def _guard(coroutine: Coroutine[Any, Any, object], name: str) -> None:
        try:
            await coroutine
        except MqttError as err:
            _LOGGER.debug("MQTT %s not sent: %s", name, err)
        except Exception:
            _LOGGER.exception("The MQTT task %s failed", name)

    # --- state -> broker ---------------------------------------------------------------------------

    def _on_hub_changed(self, charger_id: str, save: Save) -> None:
        charger = self._hub.chargers.get(charger_id)
        if charger is None or charger_id not in self.topics:
            return
        for event_type, data in self._sessions.update(charger):
            self._spawn(self._publish_event(charger_id, event_type.removeprefix("bmw_wallbox_"), data), event_type)
        self._dirty.add(charger_id)
        self._wake.set()

    def _on_result(self, charger_id: str, result: CommandResult) -> None:
        if charger_id in self.topics:
            self._spawn(self._publish_event(charger_id, "command_result", result.to_json()), "command result")

    async def _publish_event(self, charger_id: str, event_type: str, data: Mapping[str, Any]) -> None:
        """One event of the charger's event entity (not retained; lost while the broker is unreachable)."""
        await self.link.publish(self.topics[charger_id].event, event_payload(event_type, data), retain=False)

    def render(self, charger_id: str) -> dict[str, str]:
        """Every retained topic of one charger with its payload now: discovery, states, evcc."""
        charger = self._hub.chargers[charger_id]
        topics = self.topics[charger_id]
        config = discovery_config(charger, topics, self.slugs[charger_id], configuration_url=self._configuration_url)
        return {
            topics.config: json.dumps(config, sort_keys=True),
            **render_states(charger, topics),
            **render_evcc(charger, topics),
        }

    async def _publish_loop(self) -> None:
        while True:
            if stopping():  # Python 3.11's wait_for (inside aiomqtt) can swallow a cancellation
                raise asyncio.CancelledError
            timeout = max(0.0, self._refresh_at - self._clock())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            self._wake.clear()
            if self._clock() >= self._refresh_at:
                self._refresh_at = self._clock() + self._refresh_s
                self._dirty.update(self.topics)
            if self.link.connected.is_set():
                try:
                    await self.publish_dirty()
                except MqttError as err:  # what is left stays dirty; the reconnect publishes everything
                    _LOGGER.debug("Publishing states paused: %s", err)

    async def publish_dirty(self) -> None:
        """Publish what changed for every charger marked dirty (they stay dirty when the broker is gone).

        A charger is taken off the dirty set before it is rendered: a change that
        comes in while its topics are being published marks it again, so it is
        published next (never lost). One publisher at a time, so an older
        rendering can never overtake a newer one on the wire.
        """
        async with self._publishing:
            while self._dirty:
                charger_id = self._dirty.pop()
                try:
                    for topic, payload in self.render(charger_id).items():
                        if self._published.get(topic) != payload:
                            await self.link.publish(topic, payload, qos=1 if topic.endswith("/config") else 0)
                            self._published[topic] = payload
                except BaseException:
                    self._dirty.add(charger_id)
                    raise

    def publish_all(self) -> None:
        """Publish the discovery and every state again, soon (Home Assistant or the broker restarted)."""
        self._published.clear()
        self._dirty.update(self.topics)
        self._wake.set()

    async def _on_connected(self) -> None:
        if self._ready is not None and not self._ready.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._ready_timeout_s):
                    await self._ready.wait()
        self._published.clear()
        self._dirty.update(self.topics)
        await self.publish_dirty()

    # --- broker -> controller ----------------------------------------------------------------------

    def _on_message(self, topic: str, payload: str) -> None:
        if topic == self._status_topic:
            if payload == ONLINE:
                _LOGGER.info("Home Assistant is online: publishing the devices and their states again")
                self.publish_all()
            return
        if topic.endswith("/config"):
            self._check_retained_config(topic, payload)
            return
        for charger_id, topics in self.topics.items():
            key = command_key(topic, topics)
            evcc = evcc_command(topic, topics)
            if evcc is not None:
                charger = self._hub.chargers[charger_id]
                self._command(charger_id, f"evcc {evcc}", payload, parse_evcc(evcc, payload, charger))
                return
            if key is not None and key in _CONTROLS:
                request = _CONTROLS[key].command_fn(self._hub.chargers[charger_id], payload)
                self._command(charger_id, key, payload, request)
                return

    def _command(self, charger_id: str, source: str, payload: str, request: CommandRequest | None) -> None:
        if request is None:
            _LOGGER.warning("[%s] Ignoring %r on MQTT (%s): not a payload it takes", charger_id, payload[:20], source)
            return
        _LOGGER.info("[%s] %s requested through MQTT (%s)", charger_id, request[0], source)
        self._spawn(self._run_command(charger_id, request), f"mqtt {source}")

    async def _run_command(self, charger_id: str, request: CommandRequest) -> None:
        command, amps = request
        await run(self._controller, command, charger_id, amps)  # the controller announces every result

    def _check_retained_config(self, topic: str, payload: str) -> None:
        """A device config on the broker: remove it when it is ours and its charger is no longer configured."""
        node = topic.removeprefix(f"{self.broker.discovery_prefix}/device/").removesuffix("/config")
        if not payload or not node.startswith(NODE_PREFIX) or node in self.nodes.values():
            return
        try:
            origin = json.loads(payload).get("o", {})
        except (ValueError, AttributeError):
            return
        if not isinstance(origin, dict) or origin.get("name") != ORIGIN["name"]:
            return
        _LOGGER.info("Removing the Home Assistant device %s: its charger is no longer configured", node)
        self._spawn(self._remove_device(node), f"remove {node}")

    async def _remove_device(self, node: str) -> None:
        topics = Topics(prefix=self.broker.discovery_prefix, base=self.broker.base_topic, node=node)
        await self.link.publish(topics.config, "", qos=1)
        for topic in (topics.availability, evcc_topic(topics, "status")):
            await self.link.publish(topic, "")

"""The Home Assistant side of the add-on, put together: entities, controls and events.

One :class:`HomeAssistantBridge` owns a Core WebSocket connection, the state
publisher, the helper controls and the event interface, and runs them in one
task group. The composition root builds it with the shared
``aiohttp.ClientSession``, starts it and stops it.

At every (re)connect of the WebSocket: every entity is posted again, the
helpers are found or created, and waiting events are fired. On
``homeassistant_started`` every entity is posted again too (Core forgets
states posted through the REST API when it restarts).

With ``rest_entities=False`` (entities go through MQTT discovery instead) there
is no state publisher and there are no helpers: at the first connect the states
and helpers an earlier REST mode left behind are removed
(:mod:`~bmw_wallbox.homeassistant.cleanup`) and :attr:`HomeAssistantBridge.rest_cleared`
is set; the event interface works as in REST mode.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp

from bmw_wallbox.aio import cancel_and_wait, supervise
from bmw_wallbox.controller import Controller
from bmw_wallbox.homeassistant.cleanup import remove_rest_entities
from bmw_wallbox.homeassistant.controls import HelperControls
from bmw_wallbox.homeassistant.entities import charger_slugs
from bmw_wallbox.homeassistant.events import EventInterface
from bmw_wallbox.homeassistant.publisher import StatePublisher
from bmw_wallbox.homeassistant.registry import RegistryIds
from bmw_wallbox.homeassistant.rest import CoreRestClient, HomeAssistantConnectionError, HomeAssistantError
from bmw_wallbox.homeassistant.websocket import CoreConnection
from bmw_wallbox.hub import StateHub

_LOGGER = logging.getLogger(__name__)


class HomeAssistantBridge:
    """Keeps Home Assistant in step with the chargers and lets it control them.

    ``base_url`` is Core's base (``http://supervisor/core`` in the container);
    ``min_interval_s`` (1 s) is the shortest time between two posts of one
    entity; ``backoff_max_s`` (3 s) the longest pause between reconnects.
    """

    def __init__(
        self,
        hub: StateHub,
        controller: Controller,
        *,
        http: aiohttp.ClientSession,
        base_url: str,
        token: str,
        min_interval_s: float = 1.0,
        backoff_max_s: float = 3.0,
        rest_entities: bool = True,
    ) -> None:
        slugs = charger_slugs(hub.chargers.values())
        self.slugs = slugs
        self._hub = hub
        self.rest = CoreRestClient(http, base_url=base_url, token=token)
        self.connection = CoreConnection(http, base_url=base_url, token=token, backoff_max_s=backoff_max_s)
        self.publisher: StatePublisher | None = None
        self.controls: HelperControls | None = None
        if rest_entities:
            self.publisher = StatePublisher(hub, self.rest, slugs=slugs, min_interval_s=min_interval_s)
            self.controls = HelperControls(hub, controller, self.connection, self.rest, slugs=slugs, spawn=self._spawn)
            self.connection.on_event("homeassistant_started", self._on_started)
        self.events = EventInterface(hub, controller, self.connection, slugs=slugs, spawn=self._spawn)
        if not rest_entities:
            self.connection.on_event("component_loaded", self._on_component_loaded)
        #: The ids of the MQTT entities in Home Assistant's registry (MQTT mode only).
        self.registry: RegistryIds | None = None if rest_entities else RegistryIds(self.connection)
        #: Set once the REST mode's states and helpers are gone (or Core could not be asked); MQTT mode only.
        self.rest_cleared = asyncio.Event()
        #: Whether Home Assistant's MQTT integration is set up and loaded (MQTT mode; None until asked).
        self.mqtt_integration: bool | None = None
        self.connection.on_connected(self._on_connected)
        self._group: asyncio.TaskGroup | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        """Start the background work (returns at once; Home Assistant need not be up)."""
        if self.publisher is not None and self.controls is not None:
            self.publisher.attach()
            self.controls.attach()
        self.events.attach()
        self._task = asyncio.create_task(self._run(), name="home assistant")

    async def stop(self) -> None:
        """Show the entities unavailable (best effort), stop every task and stop following the state."""
        if self._task is None or self._stopping:
            return
        self._stopping = True
        self.events.detach()
        if self.publisher is not None and self.controls is not None:
            self.publisher.detach()
            self.controls.detach()
            await self.publisher.publish_offline()
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as group:
            self._group = group
            group.create_task(self._supervise("connection", self.connection.run))
            if self.publisher is not None and self.controls is not None:
                group.create_task(self._supervise("publisher", self.publisher.run))
                group.create_task(self._supervise("controls", self.controls.run))
            if self.registry is not None:
                group.create_task(self._supervise("registry", self.registry.run))
            group.create_task(self._supervise("events", self.events.run))

    @staticmethod
    def _supervise(name: str, loop: Callable[[], Awaitable[None]]) -> Coroutine[Any, Any, None]:
        """Run a loop forever; a bug in it is logged and the loop started again, the rest keeps running."""
        return supervise(f"Home Assistant {name}", loop, logger=_LOGGER)

    def _spawn(self, coroutine: Coroutine[Any, Any, object], name: str) -> None:
        """Run a command from Home Assistant in the task group, so the WebSocket reader never waits for a charger."""
        if self._group is None or self._stopping:
            coroutine.close()
            return
        self._group.create_task(self._guard(coroutine, name), name=name)

    @staticmethod
    async def _guard(coroutine: Coroutine[Any, Any, object], name: str) -> None:
        try:
            await coroutine
        except Exception:
            _LOGGER.exception("The Home Assistant command %s failed", name)

    async def _on_connected(self) -> None:
        self.events.wake()
        if self.publisher is not None and self.controls is not None:
            self.publisher.repost_all()
            await self.controls.setup()
        elif not self.rest_cleared.is_set():
            try:
                await remove_rest_entities(self._hub.chargers, self.slugs, self.rest, self.connection)
            except HomeAssistantConnectionError:
                raise
            except HomeAssistantError as err:
                _LOGGER.warning("Could not remove the entities of the REST API mode: %s", err)
            self.rest_cleared.set()
        if self.registry is not None:
            await self._check_mqtt_integration()
            self.registry.refresh_soon()

    async def _check_mqtt_integration(self) -> None:
        """Ask Core whether its MQTT integration is loaded; without it the device cannot appear (warned once)."""
        try:
            entries: list[dict[str, Any]] = await self.connection.command(
                {"type": "config_entries/get", "domain": "mqtt"}
            )
        except HomeAssistantConnectionError:
            raise
        except HomeAssistantError as err:
            _LOGGER.debug("Cannot ask Home Assistant for its MQTT integration: %s", err)
            return
        loaded = any(entry.get("state") == "loaded" for entry in entries)
        if not loaded and self.mqtt_integration is not False:
            _LOGGER.warning(
                "Home Assistant's MQTT integration is not set up: the wallbox's device appears once you add it "
                "(Settings > Devices & services > MQTT, usually shown as discovered)"
            )
        elif loaded and self.mqtt_integration is False:
            _LOGGER.info("Home Assistant's MQTT integration is set up now")
        self.mqtt_integration = loaded

    def _on_component_loaded(self, event: dict[str, Any]) -> None:
        if (event.get("data") or {}).get("component") == "mqtt" and self._group is not None:
            self._spawn(self._check_mqtt_integration(), "check mqtt integration")

    def _on_started(self, event: dict[str, Any]) -> None:
        if self.publisher is not None:
            _LOGGER.info("Home Assistant started: posting every entity again")
            self.publisher.repost_all()

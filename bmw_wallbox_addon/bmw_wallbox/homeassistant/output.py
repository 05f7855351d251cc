"""The Home Assistant output, put together: one factory, one transport, one event feed, and its own facts.

:meth:`HomeAssistantOutput.start` is what the composition root calls. It picks
the transport (:func:`~bmw_wallbox.homeassistant.mqtt.broker.find_broker`): MQTT
discovery when a broker accepts us (:mod:`~bmw_wallbox.homeassistant.mqtt`,
imported only then), else states and helpers through the Core REST API when
there is a token (:mod:`~bmw_wallbox.homeassistant.rest`), else nothing. With a
token the Core WebSocket carries the ``bmw_wallbox_*`` events in both modes; in
MQTT mode it also removes, once per start and before the first discovery, what
an earlier REST mode left behind (:attr:`HomeAssistantOutput.rest_cleared`),
follows the entity registry and checks that the MQTT integration is set up.
Every event (session, command outcome, the site budget's limiting) comes from one
:class:`~bmw_wallbox.homeassistant.model.events.EventFeed`. The site budget
(``site``, a :class:`~bmw_wallbox.site.view.SiteSource`, only when configured)
and the firmware actions (``firmware``: the newest uploaded file, an install)
come in through the factory; the output imports neither service.
:meth:`HomeAssistantOutput.facts` reports what the panel shows about all this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

from bmw_wallbox.aio import TaskSet, supervise
from bmw_wallbox.controller import Controller
from bmw_wallbox.errors import StartupError, WallboxError
from bmw_wallbox.homeassistant.core.bus import EventInterface
from bmw_wallbox.homeassistant.core.client import CoreRestClient, HomeAssistantConnectionError, HomeAssistantError
from bmw_wallbox.homeassistant.core.feed import Follow, StateFeed
from bmw_wallbox.homeassistant.core.registry import MqttIntegration, RegistryIds
from bmw_wallbox.homeassistant.core.websocket import CoreConnection
from bmw_wallbox.homeassistant.model.events import EventFeed
from bmw_wallbox.homeassistant.model.firmware import FirmwareActions
from bmw_wallbox.homeassistant.model.site import SiteSource
from bmw_wallbox.homeassistant.model.values import charger_slugs
from bmw_wallbox.homeassistant.mqtt.broker import BrokerSettings, BrokerUrlError, find_broker
from bmw_wallbox.hub import StateHub
from bmw_wallbox.options import Options

if TYPE_CHECKING:
    from bmw_wallbox.homeassistant.mqtt.devices import MqttDevices
    from bmw_wallbox.homeassistant.rest import RestTransport

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class OutputFacts:
    """What the panel's setup checklist shows about the Home Assistant output."""

    mode: str
    """``mqtt`` (discovery), ``rest`` (the REST API) or ``none`` (no token, no broker)."""
    broker: str | None = None
    """The broker in use and where it came from (MQTT only), without credentials."""
    broker_state: str | None = None
    """The broker connection now: ``connected``, ``connecting``, ``unreachable``, ``refused the login``."""
    integration: bool | None = None
    """Whether Home Assistant's MQTT integration is set up (MQTT only; None when not known)."""
    note: str | None = None
    """Why no broker is used, when there is something to say."""
    entity_ids: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(charger id, its entity ids); MQTT: as Home Assistant's registry has them."""


@dataclass(frozen=True, kw_only=True)
class _Core:
    """Home Assistant Core's APIs, when there is a token."""

    rest: CoreRestClient
    connection: CoreConnection
    bus: EventInterface


class HomeAssistantOutput:
    """Everything Home Assistant gets from the add-on (see the module docstring); build it with :meth:`start`."""

    def __init__(
        self,
        hub: StateHub,
        controller: Controller,
        *,
        http: aiohttp.ClientSession | None,
        base_url: str,
        token: str | None,
        broker: BrokerSettings | None,
        note: str | None = None,
        configuration_url: str | None = None,
        ready_timeout_s: float = 15.0,
        follow: Follow | None = None,
        site: SiteSource | None = None,
        firmware: FirmwareActions | None = None,
    ) -> None:
        self._hub = hub
        self.slugs = charger_slugs(hub.chargers.values())
        self.feed = EventFeed(hub, controller, site=site)
        # WallboxError: Home Assistant or the broker could not be reached; expected, logged at DEBUG.
        self._tasks = TaskSet("Home Assistant", logger=_LOGGER, quiet=(WallboxError,))
        self._note = note
        self._ready_timeout_s = ready_timeout_s
        #: Set once the REST mode's states and helpers are gone (or Core could not be asked); MQTT mode only.
        self.rest_cleared = asyncio.Event()
        self.core: _Core | None = None
        if http is not None and token:
            connection = CoreConnection(http, base_url=base_url, token=token)
            bus = EventInterface(self.feed, connection, slugs=self.slugs, spawn=self._tasks.spawn)
            self.core = _Core(rest=CoreRestClient(http, base_url=base_url, token=token), connection=connection, bus=bus)
        self.registry: RegistryIds | None = None
        self.integration: MqttIntegration | None = None
        self.rest: RestTransport | None = None
        self.mqtt: MqttDevices | None = None
        if broker is not None:
            from bmw_wallbox.homeassistant.mqtt.devices import MqttDevices  # aiomqtt only in MQTT mode

            before_first = self._until_rest_cleared if self.core is not None else None
            self.mqtt = MqttDevices(
                hub, self.feed, broker, tasks=self._tasks, configuration_url=configuration_url,
                before_first=before_first, site=site, firmware=firmware,
            )  # fmt: skip
            if self.core is not None:
                self.registry = RegistryIds(self.core.connection)
                self.integration = MqttIntegration(self.core.connection)
                self.core.connection.on_connected(self._leave_rest_behind)
        elif self.core is not None:
            from bmw_wallbox.homeassistant.rest import RestTransport

            self.rest = RestTransport(
                hub,
                self.feed,
                rest=self.core.rest,
                connection=self.core.connection,
                slugs=self.slugs,
                tasks=self._tasks,
                site=site,
            )
        if self.core is not None:
            self.core.connection.on_connected(self._on_core_connected)
        #: The states of other entities the add-on follows (the site budget's grid meter); needs a token.
        self.states: StateFeed | None = None
        if self.core is not None and follow is not None:
            self.states = StateFeed(self.core.connection, self.core.rest, *follow)
        self._started = False

    @classmethod
    async def start(
        cls,
        hub: StateHub,
        controller: Controller,
        *,
        http: aiohttp.ClientSession | None,
        options: Options,
        ha_url: str,
        ha_token: str | None,
        mqtt_url: str | None,
        supervisor_url: str | None,
        probe_timeout_s: float,
        ready_timeout_s: float,
        configuration_url: str | None,
        follow: Follow | None = None,
        site: SiteSource | None = None,
        firmware: FirmwareActions | None = None,
    ) -> HomeAssistantOutput:
        """Pick the transport, build the output and start it (returns once the broker was tried).

        ``supervisor_url`` is given in the container: the Supervisor is asked for its MQTT service.
        ``follow`` (entity ids, observe) passes on the states of those entities (see
        :class:`~bmw_wallbox.homeassistant.core.feed.StateFeed`), in both modes.
        ``site`` (only when the site budget is configured) adds the site device and
        each charger's budget sensors; ``firmware`` the MQTT ``update`` entity.
        Raises :class:`~bmw_wallbox.errors.StartupError` for a bad ``mqtt_url``.
        """
        supervisor = (supervisor_url, ha_token) if supervisor_url and ha_token else None
        try:
            choice = await find_broker(
                http, options=options.mqtt, flag_url=mqtt_url, supervisor=supervisor, probe_timeout_s=probe_timeout_s
            )
        except BrokerUrlError as err:
            raise StartupError(f"--mqtt-url: {err}") from None
        output = cls(
            hub, controller, http=http, base_url=ha_url, token=ha_token, broker=choice.broker, note=choice.note,
            configuration_url=configuration_url, ready_timeout_s=ready_timeout_s, follow=follow, site=site,
            firmware=firmware,
        )  # fmt: skip
        output.run()
        return output

    def run(self) -> None:
        """Start following the state and the background work (returns at once; Home Assistant need not be up)."""
        self._started = True
        self.feed.attach()
        for transport in (self.rest, self.mqtt):
            if transport is not None:
                transport.start()
        if self.core is not None:
            self._loop("connection", self.core.connection.run)
            self._loop("events", self.core.bus.run)
        if self.states is not None:
            self._loop("states", self.states.run)
        if self.registry is not None and self.integration is not None:
            self._loop("registry", self.registry.run)
            self._loop("integration", self.integration.run)

    def _loop(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        self._tasks.start(supervise(f"Home Assistant {name}", loop, logger=_LOGGER), f"home assistant {name}")

    async def stop(self) -> None:
        """Show the entities unavailable (best effort) and stop every task (a second call does nothing)."""
        if not self._started:
            return
        self._started = False
        self.feed.detach()
        if self.core is not None:
            self.core.bus.close()
        for transport in (self.rest, self.mqtt):
            if transport is not None:
                await transport.stop()
        await self._tasks.close()

    @property
    def mode(self) -> str:
        """``mqtt``, ``rest`` or ``none``."""
        return "mqtt" if self.mqtt is not None else "rest" if self.rest is not None else "none"

    def facts(self) -> OutputFacts:
        """What the panel shows: the mode, the broker and its connection, the integration, each charger's entity ids."""
        if self.rest is not None:
            return OutputFacts(mode="rest", note=self._note, entity_ids=tuple(self.rest.entity_ids().items()))
        if self.mqtt is None:
            return OutputFacts(mode="none", note=self._note)
        known = self.registry.entity_ids if self.registry is not None else {}
        return OutputFacts(
            mode="mqtt",
            broker=f"{self.mqtt.broker.url} ({self.mqtt.broker.source})",
            broker_state=self.mqtt.client.state,
            integration=self.integration.loaded if self.integration is not None else None,
            entity_ids=tuple(self.mqtt.entity_ids(known).items()),
        )

    async def _on_core_connected(self) -> None:
        if self.core is not None:
            self.core.bus.wake()
        if self.integration is not None and self.registry is not None:
            await self.integration.check()
            self.registry.refresh_soon()

    async def _until_rest_cleared(self) -> None:
        """Wait until the REST mode's states are gone, at most ``ready_timeout_s`` (Home Assistant may be down)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._ready_timeout_s):
                await self.rest_cleared.wait()

    async def _leave_rest_behind(self) -> None:
        """Once per start, before the first discovery: remove what an earlier REST mode created."""
        if self.rest_cleared.is_set() or self.core is None:
            return
        from bmw_wallbox.homeassistant.rest.cleanup import remove_rest_entities

        try:
            await remove_rest_entities(self._hub.chargers, self.slugs, self.core.rest, self.core.connection)
        except HomeAssistantConnectionError:
            raise
        except HomeAssistantError as err:
            _LOGGER.warning("Could not remove the entities of the REST API mode: %s", err)
        self.rest_cleared.set()

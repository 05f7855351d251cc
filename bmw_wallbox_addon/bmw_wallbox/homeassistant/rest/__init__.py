"""The REST transport: entities as states posted through the Core REST API, controls as input helpers.

:class:`RestTransport` puts together the state publisher
(:mod:`~bmw_wallbox.homeassistant.rest.states`) and the helpers
(:mod:`~bmw_wallbox.homeassistant.rest.helpers`). At every (re)connect of the
Core WebSocket every entity is posted again, the states of earlier versions'
ids are removed, and the helpers are found or created; on
``homeassistant_started`` every entity is posted again too (Core forgets states
posted through the REST API when it restarts).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bmw_wallbox.aio import TaskSet, supervise
from bmw_wallbox.homeassistant.core.client import CoreRestClient
from bmw_wallbox.homeassistant.core.websocket import CoreConnection
from bmw_wallbox.homeassistant.model.events import EventFeed
from bmw_wallbox.homeassistant.model.site import SiteSource
from bmw_wallbox.homeassistant.rest.helpers import HelperControls
from bmw_wallbox.homeassistant.rest.states import RestStates
from bmw_wallbox.hub import StateHub

_LOGGER = logging.getLogger(__name__)


class RestTransport:
    """States and helpers through Core's own APIs (see the module docstring)."""

    mode = "rest"

    def __init__(
        self,
        hub: StateHub,
        feed: EventFeed,
        *,
        rest: CoreRestClient,
        connection: CoreConnection,
        slugs: Mapping[str, str],
        tasks: TaskSet,
        site: SiteSource | None = None,
    ) -> None:
        self.states = RestStates(hub, rest, slugs=slugs, site=site)
        self.controls = HelperControls(hub, feed, connection, rest, slugs=slugs, spawn=tasks.spawn)
        self._tasks = tasks
        connection.on_event("homeassistant_started", self._on_started)
        connection.on_connected(self._on_connected)

    def start(self) -> None:
        """Follow the hub and start posting (returns at once)."""
        self.states.attach()
        self.controls.attach()
        self._tasks.start(supervise("Home Assistant publisher", self.states.loop.run, logger=_LOGGER), "rest states")
        self._tasks.start(supervise("Home Assistant controls", self.controls.run, logger=_LOGGER), "rest controls")

    async def stop(self) -> None:
        """Stop following the hub and show every entity unavailable (best effort)."""
        self.states.detach()
        self.controls.detach()
        await self.states.publish_offline()

    def entity_ids(self) -> dict[str, tuple[str, ...]]:
        """Each charger's entity ids."""
        return self.states.entity_ids()

    def site_entity_ids(self) -> tuple[str, ...]:
        """The site device's entity ids (none without a site budget)."""
        return self.states.site_entity_ids()

    async def _on_connected(self) -> None:
        self.states.loop.send_all_again()
        await self.states.remove_former()
        await self.controls.setup()

    def _on_started(self, event: dict[str, Any]) -> None:
        _LOGGER.info("Home Assistant started: posting every entity again")
        self.states.loop.send_all_again()

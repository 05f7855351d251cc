"""What Home Assistant says about the MQTT entities: their entity ids (entity registry) and the MQTT integration.

:class:`RegistryIds` reads the entity registry at every connect of the Core
WebSocket and again about a second after each ``entity_registry_updated``
event (new entities, renames), so the panel shows the ids a user really has,
also after renaming one. :class:`MqttIntegration` asks whether the MQTT
integration is set up, at every connect and when a component loads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from bmw_wallbox.homeassistant.core.client import HomeAssistantConnectionError, HomeAssistantError
from bmw_wallbox.homeassistant.core.websocket import CoreConnection
from bmw_wallbox.homeassistant.model.values import NODE_PREFIX

_LOGGER = logging.getLogger(__name__)

#: Seconds to wait after a registry event before reading the registry (a discovery adds many entities at once).
SETTLE_S = 1.0


class RegistryIds:
    """Unique id -> entity id of the add-on's MQTT entities (empty until Core was asked)."""

    def __init__(self, connection: CoreConnection, *, settle_s: float = SETTLE_S) -> None:
        self._connection = connection
        self._settle_s = settle_s
        self.entity_ids: dict[str, str] = {}
        self._wanted = asyncio.Event()
        connection.on_event("entity_registry_updated", self._on_updated)

    def _on_updated(self, event: dict[str, Any]) -> None:
        self._wanted.set()

    def refresh_soon(self) -> None:
        """Read the registry again shortly (after a connect)."""
        self._wanted.set()

    async def refresh(self) -> None:
        """Read the registry now; raises :class:`HomeAssistantError` when Core cannot be asked."""
        entries: list[dict[str, Any]] = await self._connection.command({"type": "config/entity_registry/list"})
        self.entity_ids = {
            str(entry["unique_id"]): str(entry["entity_id"])
            for entry in entries
            if entry.get("platform") == "mqtt" and str(entry.get("unique_id", "")).startswith(NODE_PREFIX)
        }

    async def run(self) -> None:
        """Read the registry whenever asked to, until cancelled."""
        while True:
            await self._wanted.wait()
            await asyncio.sleep(self._settle_s)
            self._wanted.clear()
            if not self._connection.connected.is_set():
                continue
            try:
                await self.refresh()
            except HomeAssistantConnectionError:
                continue  # the reconnect asks again
            except HomeAssistantError as err:
                _LOGGER.debug("The entity registry is not readable: %s", err)


class MqttIntegration:
    """Whether Home Assistant's MQTT integration is set up and loaded: asked at every connect and when it loads.

    Without it the device cannot appear: that is warned once (and once more
    after it was set up and went away again). :attr:`loaded` is None until Core was asked.
    """

    def __init__(self, connection: CoreConnection) -> None:
        self._connection = connection
        self.loaded: bool | None = None
        self._wanted = asyncio.Event()
        connection.on_event("component_loaded", self._on_component_loaded)

    def _on_component_loaded(self, event: dict[str, Any]) -> None:
        if (event.get("data") or {}).get("component") == "mqtt":
            self._wanted.set()

    async def check(self) -> None:
        """Ask Core now; raises :class:`HomeAssistantConnectionError` when the connection is lost."""
        try:
            entries: list[dict[str, Any]] = await self._connection.command(
                {"type": "config_entries/get", "domain": "mqtt"}
            )
        except HomeAssistantConnectionError:
            raise
        except HomeAssistantError as err:
            _LOGGER.debug("Cannot ask Home Assistant for its MQTT integration: %s", err)
            return
        loaded = any(entry.get("state") == "loaded" for entry in entries)
        if not loaded and self.loaded is not False:
            _LOGGER.warning(
                "Home Assistant's MQTT integration is not set up: the wallbox's device appears once you add it "
                "(Settings > Devices & services > MQTT, usually shown as discovered)"
            )
        elif loaded and self.loaded is False:
            _LOGGER.info("Home Assistant's MQTT integration is set up now")
        self.loaded = loaded

    async def run(self) -> None:
        """Ask again whenever the MQTT integration was loaded, until cancelled."""
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            if self._connection.connected.is_set():
                with contextlib.suppress(HomeAssistantConnectionError):
                    await self.check()

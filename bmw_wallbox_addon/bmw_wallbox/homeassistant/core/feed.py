"""Home Assistant states of a few entities, as they come (the site budget's grid meter).

Every ``state_changed`` event of these entities is passed on at once (the
event type is subscribed for the whole home, Core cannot filter it by entity;
events of other entities are dropped at once). Besides, the entities are read
every ``poll_s`` (2 s) while connected, and at every (re)connect: a meter that
sends the same value again changes no state, it only moves ``last_reported``
(the ``state_reported`` event), which reaches no WebSocket client: Core refuses
a ``state_reported`` subscription without a filter, and its state documents
(``GET /api/states``, ``get_states``) keep the ``last_reported`` of the last
change (Core 2025.4 caches them). The read is therefore one template rendered by
Core (``POST /api/template``), which sees the live ``last_reported``; the entity
ids in it are checked by the options (``^[a-z0-9_]+\\.[a-z0-9_]+$``), so nothing
else can get into the template. A meter that keeps reporting an unchanged value
is so seen alive within ``poll_s``.

The states are passed on raw: the receiver parses them at its edge
(:func:`bmw_wallbox.site.meter.parse_state`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bmw_wallbox.homeassistant.core.client import CoreRestClient, HomeAssistantConnectionError, HomeAssistantError
from bmw_wallbox.homeassistant.core.websocket import CoreConnection

_LOGGER = logging.getLogger(__name__)

Observe = Callable[[str, Mapping[str, Any] | None], None]
#: What to follow: the entity ids, and who gets their states.
Follow = tuple[Iterable[str], Observe]
#: How often the states are read besides the change events.
POLL_S = 2.0


def states_template(entities: Iterable[str]) -> str:
    """A template that renders the state, unit and live ``last_reported`` of each entity as a JSON list."""
    items = [
        "{%- set s = states." + entity_id + " -%}{{ {'entity_id': '" + entity_id + "', "
        "'state': s.state if s else none, "
        "'attributes': {'unit_of_measurement': s.attributes.get('unit_of_measurement') if s else none}, "
        "'last_reported': s.last_reported.isoformat() if s else none} | tojson }}"
        for entity_id in entities
    ]
    return "[" + ",".join(items) + "]"


class StateFeed:
    """Passes the states of ``entities`` to ``observe(entity_id, state)`` (see the module docstring)."""

    def __init__(
        self,
        connection: CoreConnection,
        rest: CoreRestClient,
        entities: Iterable[str],
        observe: Observe,
        *,
        poll_s: float = POLL_S,
    ) -> None:
        self._connection = connection
        self._rest = rest
        self._entities = frozenset(entities)
        self._observe = observe
        self._poll_s = poll_s
        self._missing: set[str] = set()
        self._failing = False
        self._template = states_template(sorted(self._entities))
        connection.on_event("state_changed", self._on_event)
        connection.on_connected(self.read_all)

    def _on_event(self, event: dict[str, Any]) -> None:
        data = event.get("data")
        entity_id = data.get("entity_id") if isinstance(data, dict) else None
        if entity_id in self._entities:
            new_state = data.get("new_state") if isinstance(data, dict) else None
            self._observe(str(entity_id), new_state if isinstance(new_state, dict) else None)

    async def run(self) -> None:
        """Read every entity's state every ``poll_s`` while Core is connected, until cancelled."""
        while True:
            await self._connection.connected.wait()
            try:
                await self.read_all()
            except HomeAssistantConnectionError as err:
                _LOGGER.debug("Reading the site meter paused: %s", err)
            await asyncio.sleep(self._poll_s)  # the polling period, not synchronisation

    async def read_all(self) -> None:
        """Read every entity's state once and pass it on (a missing entity as None, logged once)."""
        try:
            answer = await self._rest.render_template(self._template)
        except HomeAssistantConnectionError:
            raise
        except HomeAssistantError as err:
            if not self._failing:
                _LOGGER.warning("Cannot read the site meter from Home Assistant: %s", err)
            self._failing = True
            return
        self._failing = False
        states = (
            {item["entity_id"]: item for item in answer if isinstance(item, dict)} if isinstance(answer, list) else {}
        )
        for entity_id in sorted(self._entities):
            found = states.get(entity_id)
            state = None if found is None or found.get("state") is None else found
            if state is None and entity_id not in self._missing:
                self._missing.add(entity_id)
                _LOGGER.warning(
                    "Home Assistant has no entity %s (option site): the site budget stays in failsafe", entity_id
                )
            self._observe(entity_id, state)

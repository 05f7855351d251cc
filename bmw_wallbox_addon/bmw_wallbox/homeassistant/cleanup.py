"""Leaving the REST API behind: remove the states and helpers the add-on put into Home Assistant itself.

When entities go through MQTT discovery, the states the REST API posted
(``sensor.<slug>_power`` ...) would stand beside the MQTT entities, and Home
Assistant would give the new entities ``_2`` ids while the old ids are taken.
So, once per start and before the first discovery, :func:`remove_rest_entities`
deletes those states and the input helpers of :mod:`bmw_wallbox.homeassistant.controls`
(found by their id, else by their name, as the REST mode finds them). A helper
the user made under another name is never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bmw_wallbox.homeassistant.controls import BUTTONS, SLIDER_KEY, button_config, find_item, slider_config
from bmw_wallbox.homeassistant.entities import REST_ENTITIES, entity_id
from bmw_wallbox.homeassistant.rest import CoreRestClient
from bmw_wallbox.homeassistant.websocket import CoreConnection
from bmw_wallbox.state import ChargerState

_LOGGER = logging.getLogger(__name__)


async def remove_rest_entities(
    chargers: Mapping[str, ChargerState], slugs: Mapping[str, str], rest: CoreRestClient, connection: CoreConnection
) -> list[str]:
    """Delete the REST states and our helpers of every charger; returns what was removed (entity and helper ids).

    Raises :class:`~bmw_wallbox.homeassistant.rest.HomeAssistantError` when Core cannot be asked.
    """
    removed: list[str] = []
    for slug in slugs.values():
        for description in REST_ENTITIES:
            eid = entity_id(description, slug)
            if await rest.delete_state(eid):
                removed.append(eid)
    numbers: list[dict[str, Any]] = await connection.command({"type": "input_number/list"})
    buttons: list[dict[str, Any]] = await connection.command({"type": "input_button/list"})
    for charger_id, slug in slugs.items():
        charger = chargers[charger_id]
        wanted = [("input_number", numbers, f"{slug}_{SLIDER_KEY}", slider_config(charger)["name"])]
        wanted += [
            ("input_button", buttons, f"{slug}_{button.key}", button_config(charger, button)["name"])
            for button in BUTTONS
        ]
        for domain, items, item_id, name in wanted:
            found = find_item(items, item_id=item_id, name=name)
            if found is not None:
                await connection.command({"type": f"{domain}/delete", f"{domain}_id": found["id"]})
                removed.append(f"{domain}.{found['id']}")
    if removed:
        _LOGGER.info("Removed what the REST API mode had created in Home Assistant: %s", ", ".join(removed))
    return removed

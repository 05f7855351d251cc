"""Leaving the REST API behind: remove the states and helpers the add-on put into Home Assistant itself.

When entities go through MQTT discovery, the states the REST API posted
(``sensor.<slug>_power`` ...) would stand beside the MQTT entities, and Home
Assistant would give the new entities ``_2`` ids while the old ids are taken.
So, once per start and before the first discovery, :func:`remove_rest_entities`
deletes those states (also under the ids of earlier versions, and each EVSE's of
a charger with several) and the input helpers of
:mod:`bmw_wallbox.homeassistant.rest.helpers` (found as the REST mode finds
them). A helper the user made under another name is never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bmw_wallbox.homeassistant.core.client import CoreRestClient
from bmw_wallbox.homeassistant.core.websocket import CoreConnection
from bmw_wallbox.homeassistant.model.evses import evse_entities, evse_ids
from bmw_wallbox.homeassistant.model.site import SITE_ENTITIES, SITE_SLUG
from bmw_wallbox.homeassistant.rest.helpers import HELPER_DOMAINS, find_helper, rest_controls
from bmw_wallbox.homeassistant.rest.states import former_ids, rest_entities, rest_entity_id
from bmw_wallbox.state import ChargerState

_LOGGER = logging.getLogger(__name__)


async def remove_rest_entities(
    chargers: Mapping[str, ChargerState], slugs: Mapping[str, str], rest: CoreRestClient, connection: CoreConnection
) -> list[str]:
    """Delete the REST states and helpers of every charger and the site's states; returns what was removed.

    Raises :class:`~bmw_wallbox.homeassistant.core.client.HomeAssistantError` when Core cannot be asked.
    """
    removed: list[str] = []
    for charger_id, slug in slugs.items():
        evses = evse_ids(chargers[charger_id])
        descriptions = (*rest_entities(site=True, upstream=True), *evse_entities(chargers[charger_id]))
        for eid in [rest_entity_id(d, slug) for d in descriptions] + former_ids(slug, evses):
            if await rest.delete_state(eid):
                removed.append(eid)
    for eid in [rest_entity_id(d, SITE_SLUG) for d in SITE_ENTITIES]:
        if await rest.delete_state(eid):
            removed.append(eid)
    items: dict[str, list[dict[str, Any]]] = {
        domain: await connection.command({"type": f"{domain}/list"}) for domain in HELPER_DOMAINS.values()
    }
    for charger_id, slug in slugs.items():
        for control in rest_controls(chargers[charger_id]):
            domain = HELPER_DOMAINS[control.platform]
            found = find_helper(items[domain], control, chargers[charger_id], slug)
            if found is not None:
                await connection.command({"type": f"{domain}/delete", f"{domain}_id": found["id"]})
                removed.append(f"{domain}.{found['id']}")
    if removed:
        _LOGGER.info("Removed what the REST API mode had created in Home Assistant: %s", ", ".join(removed))
    return removed

"""Entities as states posted through the Core REST API: which ones, how they look, and the loop that posts them.

The REST mode shows what it always did: every sensor and binary sensor of
:data:`~bmw_wallbox.homeassistant.model.entities.ENTITIES` except those that came
with MQTT (:data:`MQTT_ONLY`: the per-phase sensors, whose values the current
and voltage sensors carry as attributes, and evcc's charge status), the site
budget's entities of a charger only with a site block, and with it the site
device's sensors (:data:`~bmw_wallbox.homeassistant.model.site.SITE_ENTITIES`,
``sensor.bmw_wallbox_site_<name>``). :func:`render` turns a charger into ``{"state": ..., "attributes": ...}``
documents without I/O; :class:`RestStates` posts them with the one
:class:`~bmw_wallbox.homeassistant.model.loop.PublishLoop`, at most once a
second per entity.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bmw_wallbox.homeassistant.core.client import (
    CoreRestClient,
    HomeAssistantAuthError,
    HomeAssistantConnectionError,
    HomeAssistantRequestError,
)
from bmw_wallbox.homeassistant.model.entities import EntityDescription, charger_entities, forwarded
from bmw_wallbox.homeassistant.model.evses import evse_descriptions, evse_entities, evse_ids
from bmw_wallbox.homeassistant.model.loop import (
    PublishLoop,
    PublishRules,
    Rendered,
    TransportDownError,
    TransportRefusedError,
)
from bmw_wallbox.homeassistant.model.site import SITE_ENTITIES, SITE_KEY, SITE_NAME, SITE_SLUG, SiteSource, SiteView
from bmw_wallbox.homeassistant.model.values import REST_WORDS, entity_id, finite, format_value
from bmw_wallbox.hub import StateHub
from bmw_wallbox.state import ChargerState

_LOGGER = logging.getLogger(__name__)

S = TypeVar("S")

UNAVAILABLE = "unavailable"
#: Keys the REST mode leaves out (see the module docstring).
MQTT_ONLY = frozenset({"charge_status", *(f"{m}_{p}" for m in ("current", "voltage") for p in ("l1", "l2", "l3"))})


def rest_entities(*, site: bool, upstream: bool = False) -> tuple[EntityDescription[ChargerState], ...]:
    """A charger's entities posted through the REST API (the site budget's and the upstream's only with them)."""
    return tuple(d for d in charger_entities(site=site, upstream=upstream) if d.key not in MQTT_ONLY)


#: The entities posted through the REST API without a site budget.
REST_ENTITIES = rest_entities(site=False)
RULES = PublishRules(name="Posting states to Home Assistant", min_interval_s=1.0)


@dataclass(frozen=True, kw_only=True)
class EntityState:
    """One entity as Home Assistant gets it: the state string and its attributes."""

    state: str
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The body of ``POST /api/states/<entity_id>``."""
        return {"state": self.state, "attributes": dict(self.attributes)}


def rest_entity_id(description: EntityDescription[Any], slug: str) -> str:
    """The entity id of a description for the charger with this slug."""
    return entity_id(description.domain, slug, description.name)


def former_ids(slug: str, evses: Iterable[int] = ()) -> list[str]:
    """The entity ids that earlier versions posted and this one does not (removed at connect), also of ``evses``."""
    descriptions = (*REST_ENTITIES, *(d for n in evses for d in evse_descriptions(n)))
    return [entity_id(d.domain, slug, name) for d in descriptions for name in d.former_names]


def attributes(description: EntityDescription[S], source: S, device_name: str) -> dict[str, Any]:
    """The attributes Home Assistant needs for units, history, statistics and display (of a charger or the site)."""
    optional = {
        "unit_of_measurement": description.unit,
        "device_class": description.device_class,
        "state_class": description.state_class,
        "options": list(description.options) if description.options is not None else None,
        "icon": description.icon,
    }
    attrs: dict[str, Any] = {"friendly_name": f"{device_name} {description.name}"}
    attrs.update({key: value for key, value in optional.items() if value is not None})
    if description.attributes_fn is not None:
        attrs.update(finite(description.attributes_fn(source)))
    return attrs


def render(
    charger: ChargerState, slug: str, descriptions: Iterable[EntityDescription[ChargerState]] = REST_ENTITIES
) -> dict[str, tuple[EntityDescription[ChargerState], EntityState]]:
    """Every entity of one charger, by entity id, as it should be in Home Assistant now."""
    rendered: dict[str, tuple[EntityDescription[ChargerState], EntityState]] = {}
    for description in descriptions:
        if description.needs_connection and not charger.connected:
            state = UNAVAILABLE
        else:
            state = format_value(description.value_fn(charger), description.precision, REST_WORDS)
        shown = EntityState(state=state, attributes=attributes(description, charger, charger.name))
        rendered[rest_entity_id(description, slug)] = (description, shown)
    return rendered


def render_site(view: SiteView) -> dict[str, tuple[EntityDescription[SiteView], EntityState]]:
    """Every sensor of the site device, by entity id, as it should be in Home Assistant now."""
    return {
        rest_entity_id(d, SITE_SLUG): (
            d,
            EntityState(
                state=format_value(d.value_fn(view), d.precision, REST_WORDS),
                attributes=attributes(d, view, SITE_NAME),
            ),
        )
        for d in SITE_ENTITIES
    }


def render_offline(
    charger: ChargerState, slug: str, descriptions: Iterable[EntityDescription[ChargerState]] = REST_ENTITIES
) -> dict[str, EntityState]:
    """Every entity ``unavailable``: what Home Assistant should show once the add-on has stopped."""
    return {
        rest_entity_id(description, slug): EntityState(
            state=UNAVAILABLE, attributes=attributes(description, charger, charger.name)
        )
        for description in descriptions
    }


class RestStates:
    """Posts every charger's entities through the REST API with the one publish loop."""

    def __init__(
        self,
        hub: StateHub,
        rest: CoreRestClient,
        *,
        slugs: Mapping[str, str],
        rules: PublishRules = RULES,
        site: SiteSource | None = None,
    ):
        self._hub = hub
        self._rest = rest
        self._slugs = dict(slugs)
        self._site = site
        #: A charger's entities: those of the site budget only with one.
        self.descriptions = rest_entities(site=site is not None, upstream=forwarded(hub.chargers.values()))
        keys = [*self._slugs, SITE_KEY] if site is not None else list(self._slugs)
        self.loop: PublishLoop[EntityState] = PublishLoop(
            hub, chargers=keys, render=self._render, send=self._post, rules=rules
        )
        self._unsubscribe_site: Callable[[], None] | None = None

    def attach(self) -> None:
        """Follow the hub (and the site budget's looks) and queue everything once."""
        self.loop.attach()
        if self._site is not None:
            self._unsubscribe_site = self._site.subscribe(lambda kind: self.loop.changed(SITE_KEY))

    def detach(self) -> None:
        """Stop following the hub and the site budget."""
        self.loop.detach()
        if self._unsubscribe_site is not None:
            self._unsubscribe_site()
            self._unsubscribe_site = None

    def _render(self, key: str) -> dict[str, Rendered[EntityState]]:
        if key == SITE_KEY and self._site is not None:
            site = render_site(self._site.view())
            return {eid: Rendered(payload=state, immediate=d.immediate) for eid, (d, state) in site.items()}
        charger = self._hub.chargers[key]
        rendered = render(charger, self._slugs[key], (*self.descriptions, *evse_entities(charger)))
        return {eid: Rendered(payload=state, immediate=d.immediate) for eid, (d, state) in rendered.items()}

    async def _post(self, eid: str, state: EntityState) -> None:
        try:
            await self._rest.post_state(eid, state.to_json())
        except (HomeAssistantConnectionError, HomeAssistantAuthError) as err:
            raise TransportDownError(str(err)) from err
        except HomeAssistantRequestError as err:
            raise TransportRefusedError(str(err)) from err

    async def remove_former(self) -> None:
        """Delete the states that earlier versions posted under other ids (they would stand stale beside the new)."""
        for charger_id, slug in self._slugs.items():
            for eid in former_ids(slug, evse_ids(self._hub.chargers[charger_id])):
                try:
                    await self._rest.delete_state(eid)
                except HomeAssistantRequestError as err:
                    _LOGGER.debug("Could not remove the former state %s: %s", eid, err)

    def entity_ids(self) -> dict[str, tuple[str, ...]]:
        """Each charger's entity ids."""
        return {
            cid: tuple(rest_entity_id(d, slug) for d in (*self.descriptions, *evse_entities(self._hub.chargers[cid])))
            for cid, slug in self._slugs.items()
        }

    def site_entity_ids(self) -> tuple[str, ...]:
        """The site device's entity ids (none without a site budget)."""
        return tuple(rest_entity_id(d, SITE_SLUG) for d in SITE_ENTITIES) if self._site is not None else ()

    async def publish_offline(self, *, timeout_s: float = 3.0) -> None:
        """Best effort at shutdown: show every entity ``unavailable`` (Core otherwise keeps stale values)."""
        try:
            async with asyncio.timeout(timeout_s):
                for charger_id, slug in self._slugs.items():
                    charger = self._hub.chargers[charger_id]
                    offline = render_offline(charger, slug, (*self.descriptions, *evse_entities(charger)))
                    for eid, state in offline.items():
                        await self._rest.post_state(eid, state.to_json())
                if self._site is not None:
                    view = self._site.view()
                    for d in SITE_ENTITIES:
                        offline_site = EntityState(state=UNAVAILABLE, attributes=attributes(d, view, SITE_NAME))
                        await self._rest.post_state(rest_entity_id(d, SITE_SLUG), offline_site.to_json())
        except (TimeoutError, HomeAssistantConnectionError, HomeAssistantAuthError, HomeAssistantRequestError) as err:
            _LOGGER.debug("Could not mark the entities unavailable at shutdown: %s", err)

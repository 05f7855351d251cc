"""The site device: the site budget's state, headroom, household and meter age, and its limiting events.

Shown only while the site budget is configured (``main_fuse_a`` set), in both
transports, from the same descriptions (:data:`SITE_ENTITIES`, read from the
budget's :class:`~bmw_wallbox.site.view.SiteView`). The device is named
:data:`SITE_NAME`; its entity ids are ``sensor.bmw_wallbox_site_<name>``
(``sensor.bmw_wallbox_site_headroom``), its MQTT node :data:`SITE_NODE`. Per
phase values are attributes (``l1_a`` ...); the state is the phase that
limits: the lowest headroom, the highest household draw. Events:
``limiting_started`` and ``limiting_ended`` (the event entity's types; on
Home Assistant's bus ``bmw_wallbox_site_limiting_started`` and ``..._ended``),
with the site's JSON view as data.
"""

from __future__ import annotations

from typing import Any

from bmw_wallbox.homeassistant.model.entities import EntityDescription
from bmw_wallbox.homeassistant.model.values import slugify
from bmw_wallbox.site.budget import SiteState
from bmw_wallbox.site.view import LIMITING_ENDED, LIMITING_STARTED, SiteListener, SiteSource, SiteView

__all__ = ["SITE_ENTITIES", "SITE_EVENTS", "SITE_KEY", "SiteListener", "SiteSource", "SiteView"]

#: The site device's name in Home Assistant.
SITE_NAME = "BMW Wallbox Site"
#: The slug of its entity ids.
SITE_SLUG = slugify(SITE_NAME)
#: Its MQTT node id: every charger's starts with ``bmw_wallbox_`` (:func:`..values.node_id`), this one never.
SITE_NODE = "bmw_wallbox-site"
#: The key of the site in a transport's publish loop (a charger id is never empty).
SITE_KEY = ""
#: The event entity's types.
SITE_EVENT_TYPES = (LIMITING_STARTED, LIMITING_ENDED)
#: A site event's kind in the event feed (and, with ``bmw_wallbox_``, on Home Assistant's bus), by its type.
SITE_EVENTS = {kind: f"site_{kind}" for kind in SITE_EVENT_TYPES}
#: The options of the site state sensor.
SITE_STATES = tuple(state.value for state in SiteState)


def _phases(values: tuple[float, ...] | None) -> dict[str, Any]:
    listed = values or ()
    return {f"l{n}_a": round(value, 1) for n, value in enumerate(listed, start=1)}


SITE_ENTITIES: tuple[EntityDescription[SiteView], ...] = (
    EntityDescription(
        key="state", name="State", device_class="enum", options=SITE_STATES, icon="mdi:transmission-tower",
        needs_connection=False, immediate=True, value_fn=lambda v: v.state,
        attributes_fn=lambda v: {"problem": v.problem, "main_fuse_a": v.main_fuse_a},
    ),
    EntityDescription(
        key="headroom", name="Headroom", unit="A", device_class="current", state_class="measurement",
        icon="mdi:gauge", precision=1, needs_connection=False,
        value_fn=lambda v: min(v.headroom_a) if v.headroom_a else None, attributes_fn=lambda v: _phases(v.headroom_a),
    ),
    EntityDescription(
        key="household", name="Household", unit="A", device_class="current", state_class="measurement",
        icon="mdi:home-lightning-bolt", precision=1, needs_connection=False,
        value_fn=lambda v: max(v.household_a) if v.household_a else None,
        attributes_fn=lambda v: _phases(v.household_a),
    ),
    EntityDescription(
        key="meter_age", name="Meter age", unit="s", device_class="duration", state_class="measurement",
        icon="mdi:timer-sand", precision=0, needs_connection=False, category="diagnostic",
        value_fn=lambda v: v.meter_age_s,
    ),
)  # fmt: skip

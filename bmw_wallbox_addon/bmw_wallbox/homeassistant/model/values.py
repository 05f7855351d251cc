"""How values and names look in Home Assistant, written once for every transport.

:func:`format_value` turns a state value into its text; a transport only
chooses its :class:`Words` for "unknown", on and off (the REST API says
``unknown``/``on``/``off``, MQTT ``None``/``ON``/``OFF``, evcc ``0``/``true``/``false``).

Names: a charger's *slug* comes from its display name (:func:`charger_slugs`,
``BMW Wallbox`` -> ``bmw_wallbox``; a name used twice gets ``_2``, ``_3`` in the
order of the chargers); an entity id is ``<domain>.<slug>_<slug of the entity
name>`` (:func:`entity_id`), in both transports. A charger's *node id*
(:func:`node_id`, MQTT topics and unique ids) comes from its charger id alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bmw_wallbox.state import ChargerState

StateValue = str | int | float | bool | datetime | None

#: Every node id starts with this, so the add-on can tell its own devices among the retained configs.
NODE_PREFIX = "bmw_wallbox_"
#: Characters a charger id keeps in its node id as they are (``*`` becomes ``_``).
_PLAIN = re.compile(r"[A-Za-z0-9*-]*")


@dataclass(frozen=True, kw_only=True)
class Words:
    """A transport's words for a value that is not known, and for true and false."""

    unknown: str
    on: str
    off: str


REST_WORDS = Words(unknown="unknown", on="on", off="off")


def format_value(value: StateValue, precision: int | None, words: Words) -> str:
    """A value as text: ``words`` for None and booleans, ISO time, a number rounded to ``precision`` decimals.

    A float that is not finite (NaN, infinity) is not known: it gives ``words.unknown``,
    never ``nan`` or ``inf``. A whole float without a precision drops its ``.0``.
    """
    if value is None:
        return words.unknown
    if isinstance(value, bool):
        return words.on if value else words.off
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        if not math.isfinite(value):
            return words.unknown
        if precision is not None:
            rounded = round(value, precision)
            return str(int(rounded)) if precision == 0 else str(rounded)
        return str(int(value)) if value.is_integer() else str(value)
    return str(value)


def slugify(text: str) -> str:
    """Make an id part of a display name, as Home Assistant does (``BMW Wallbox`` -> ``bmw_wallbox``)."""
    ascii_text = unicodedata.normalize("NFKD", text.replace("ß", "ss")).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    return slug or "wallbox"


def charger_slugs(chargers: Iterable[ChargerState]) -> dict[str, str]:
    """The slug of each charger id; a name used twice gets ``_2``, ``_3`` ... in configuration order."""
    slugs: dict[str, str] = {}
    taken: set[str] = set()
    for charger in chargers:
        base = slug = slugify(charger.name)
        number = 2
        while slug in taken:
            slug = f"{base}_{number}"
            number += 1
        taken.add(slug)
        slugs[charger.charger_id] = slug
    return slugs


def entity_id(domain: str, slug: str, name: str) -> str:
    """``<domain>.<slug>_<slug of name>``: the id of an entity named ``name`` of the charger with this slug."""
    return f"{domain}.{slug}_{slugify(name)}"


def node_id(charger_id: str) -> str:
    """The node id of a charger, from its id alone (never from the other chargers or their order).

    ``bmw_wallbox_`` and the charger id with ``*`` made ``_`` when the id holds
    only letters, digits, ``-`` and ``*`` (``DE*BMW*E1`` -> ``bmw_wallbox_DE_BMW_E1``).
    Any other id has every character but letters, digits, ``-`` made ``_``, and
    ``_`` plus the first 8 hex digits of the SHA-256 of the id appended, so two
    ids never share a node id (``DE_BMW_E1`` -> ``bmw_wallbox_DE_BMW_E1_`` + 8 hex digits).
    """
    if _PLAIN.fullmatch(charger_id):
        return NODE_PREFIX + charger_id.replace("*", "_")
    digest = hashlib.sha256(charger_id.encode("utf-8")).hexdigest()[:8]
    return f"{NODE_PREFIX}{re.sub(r'[^A-Za-z0-9-]', '_', charger_id)}_{digest}"


def finite(data: Any) -> Any:
    """``data`` with every float that is not finite (in dicts and lists, too) made None: JSON has no NaN or infinity."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [finite(value) for value in data]
    return data


def json_text(data: Any) -> str:
    """``data`` as JSON text, keys sorted, never with NaN or infinity (see :func:`finite`); times as ISO text."""
    return json.dumps(finite(data), default=str, sort_keys=True)

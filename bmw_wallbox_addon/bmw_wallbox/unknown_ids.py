"""The list of charging station ids that tried to connect without being configured.

Anyone who reaches the OCPP port can add to it, and the setup page shows it so
the user can find the wallbox's id, so it is bounded three ways:

- ids longer than ``MAX_ID_CHARS`` are not remembered (the server logs them cut);
- at most ``MAX_IDS`` are kept, and when the list is full the least recently
  seen goes, so the wallbox retrying after a flood of made-up ids is listed;
- entries not seen for ``MAX_AGE`` are dropped, when the list is loaded and
  whenever an id is added.

The list is a plain dict (id -> entry with ``id``, ``attempts``,
``first_seen``, ``last_seen`` and ``remote_address``) held by the state hub and
saved by the store; this module does the bookkeeping and imports nothing else
of the add-on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

MAX_IDS = 50
MAX_ID_CHARS = 64
MAX_AGE = timedelta(days=7)

UnknownIds = dict[str, dict[str, Any]]


def rememberable(charger_id: str) -> bool:
    """Whether an id is short enough to be remembered."""
    return 0 < len(charger_id) <= MAX_ID_CHARS


def note(ids: UnknownIds, charger_id: str, *, remote_address: str | None, at: datetime) -> bool:
    """Count an attempt of ``charger_id`` at ``at``; True when the id was not listed before.

    A too long id is not remembered (False). Expired entries are dropped and,
    past ``MAX_IDS``, the least recently seen.
    """
    if not rememberable(charger_id):
        return False
    _expire(ids, now=at)
    entry = ids.pop(charger_id, None)
    first = entry is None
    if entry is None:
        entry = {"id": charger_id, "attempts": 0, "first_seen": at.isoformat()}
    entry["attempts"] = int(entry.get("attempts") or 0) + 1
    entry["last_seen"] = at.isoformat()
    entry["remote_address"] = remote_address
    ids[charger_id] = entry
    while len(ids) > MAX_IDS:
        del ids[min(ids, key=lambda key: _last_seen(ids[key]) or at)]
    return first


def loaded(saved: object, *, now: datetime) -> UnknownIds:
    """A saved list without the entries not worth listing: malformed, long, older than ``MAX_AGE``, past ``MAX_IDS``."""
    if not isinstance(saved, Mapping):
        return {}
    fresh = [
        (seen, key, value)
        for key, value in saved.items()
        if isinstance(key, str) and rememberable(key) and isinstance(value, dict)
        for seen in [_last_seen(value)]
        if seen is not None and now - seen <= MAX_AGE
    ]
    fresh.sort(key=lambda item: item[0])
    return {key: value for _, key, value in fresh[-MAX_IDS:]}


def _expire(ids: UnknownIds, *, now: datetime) -> None:
    for key in [key for key, value in ids.items() if (seen := _last_seen(value)) is None or now - seen > MAX_AGE]:
        del ids[key]


def _last_seen(entry: Mapping[str, Any]) -> datetime | None:
    """When an entry was last seen (aware datetime), or None if it does not say in ISO form."""
    try:
        seen = datetime.fromisoformat(str(entry.get("last_seen")))
    except ValueError:
        return None
    return seen if seen.tzinfo is not None else None

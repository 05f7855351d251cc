"""The charging station ids that tried to connect without being configured: a model with its own commit.

Anyone who reaches the OCPP port can add to it, and the setup page shows it so
the user can find the wallbox's id, so it is bounded three ways:

- ids longer than ``MAX_ID_CHARS`` are not remembered (the server logs them cut);
- at most ``MAX_IDS`` are kept, and when the list is full the least recently
  seen goes, so the wallbox retrying after a flood of made-up ids is listed;
- entries not seen for ``MAX_AGE`` are dropped, when the list is restored and
  whenever an id is noted.

Part of the state model: imports nothing of ours but the records, does no
I/O. The state hub holds one :class:`UnknownIds`; the OCPP server notes an id
and commits, and the listeners (the store, the panel) are told.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bmw_wallbox.records import Save

MAX_IDS = 50
MAX_ID_CHARS = 64
MAX_AGE = timedelta(days=7)


def rememberable(charger_id: str) -> bool:
    """Whether an id is short enough to be remembered."""
    return 0 < len(charger_id) <= MAX_ID_CHARS


@dataclass(frozen=True, kw_only=True)
class UnknownId:
    """One id that tried to connect: how often, first and last (aware times), and from where."""

    charger_id: str
    attempts: int
    first_seen: datetime
    last_seen: datetime
    remote_address: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The form the JSON API, the panel and the data file show."""
        return {
            "id": self.charger_id,
            "attempts": self.attempts,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "remote_address": self.remote_address,
        }


Listener = Callable[[Save], None]


class UnknownIds:
    """The bounded list of unknown charger ids (see the module docstring), most recently seen last inside."""

    def __init__(self) -> None:
        self._ids: dict[str, UnknownId] = {}
        self._listeners: list[Listener] = []

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, charger_id: object) -> bool:
        return charger_id in self._ids

    def get(self, charger_id: str) -> UnknownId | None:
        """The entry of this id, if it is listed."""
        return self._ids.get(charger_id)

    def entries(self) -> list[UnknownId]:
        """Every listed id, the most recently seen first (the one order every output uses)."""
        return sorted(self._ids.values(), key=lambda entry: entry.last_seen, reverse=True)

    def to_json(self) -> list[dict[str, Any]]:
        """The JSON form of :meth:`entries`."""
        return [entry.to_json() for entry in self.entries()]

    # --- listeners -------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(save)`` after every commit; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def commit(self, save: Save = Save.NOW) -> None:
        """Announce a change, and how durable it must be."""
        for listener in list(self._listeners):
            listener(save)

    # --- changes -----------------------------------------------------------------------------

    def note(self, charger_id: str, *, remote_address: str | None, at: datetime) -> bool:
        """Count an attempt of ``charger_id`` at ``at``; True when the id was not listed before.

        A too long id is not remembered (False). Expired entries are dropped and,
        past ``MAX_IDS``, the least recently seen.
        """
        if not rememberable(charger_id):
            return False
        self._expire(now=at)
        old = self._ids.pop(charger_id, None)
        if old is None:
            entry = UnknownId(charger_id=charger_id, attempts=1, first_seen=at, last_seen=at)
        else:
            entry = replace(old, attempts=old.attempts + 1, last_seen=max(at, old.last_seen))
        self._ids[charger_id] = replace(entry, remote_address=remote_address)
        self._bound()
        return old is None

    def restore(self, entries: Iterable[UnknownId], *, now: datetime) -> None:
        """Put back saved entries (as :meth:`to_json` wrote them): long, expired and surplus ones are left out."""
        for entry in entries:
            if rememberable(entry.charger_id):
                self._ids[entry.charger_id] = entry
        self._expire(now=now)
        self._bound()

    def _expire(self, *, now: datetime) -> None:
        for key in [key for key, entry in self._ids.items() if now - entry.last_seen > MAX_AGE]:
            del self._ids[key]

    def _bound(self) -> None:
        while len(self._ids) > MAX_IDS:
            del self._ids[min(self._ids, key=lambda key: self._ids[key].last_seen)]

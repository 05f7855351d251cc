"""The state hub: the one place the add-on's state lives, and the commit point of each part of it.

It holds three models, each with its own commit and listeners:

- the :class:`~bmw_wallbox.state.ChargerState` of every configured charger
  (:meth:`StateHub.commit` says which charger changed and how durable the change must be);
- the token list, :class:`~bmw_wallbox.tokenbook.TokenBook` (``hub.tokens``);
- the ids that tried to connect without being configured,
  :class:`~bmw_wallbox.unknown_ids.UnknownIds` (``hub.unknown_ids``).

Writers change a model through its methods, then call its ``commit`` once;
listeners (the stores, publishers, the panel, the controller) are told and read.
Part of the state model: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from bmw_wallbox.records import Save
from bmw_wallbox.state import ChargerState
from bmw_wallbox.tokenbook import TokenBook
from bmw_wallbox.unknown_ids import UnknownIds

Listener = Callable[[str, Save], None]


class StateHub:
    """All charger states, the token list and the unknown charger ids (see the module docstring)."""

    def __init__(
        self,
        chargers: Iterable[ChargerState],
        *,
        tokens: TokenBook | None = None,
        unknown_ids: UnknownIds | None = None,
    ) -> None:
        self.chargers: dict[str, ChargerState] = {c.charger_id: c for c in chargers}
        #: The token list (it belongs to no one charger: its own commit and listeners).
        self.tokens = tokens or TokenBook()
        #: The ids that tried to connect without being configured (its own commit and listeners).
        self.unknown_ids = unknown_ids or UnknownIds()
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(charger_id, save)`` after every charger commit; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def commit(self, charger_id: str, save: Save = Save.NO) -> None:
        """Announce that this charger's state changed, and how durable the change must be."""
        for listener in list(self._listeners):
            listener(charger_id, save)

    def note_unknown(self, charger_id: str, *, remote_address: str | None, at: datetime) -> bool:
        """Count an id that is not configured (:meth:`UnknownIds.note`); True when new. The caller commits."""
        return self.unknown_ids.note(charger_id, remote_address=remote_address, at=at)

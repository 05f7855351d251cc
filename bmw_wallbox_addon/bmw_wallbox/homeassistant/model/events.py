"""What happens to a charger, as events: sessions starting, ending, authorized, and every command's outcome.

One :class:`EventFeed` follows the state hub (one :class:`SessionTracker`) and
the controller's results, and hands every event to the transports that listen
(the Home Assistant event bus, the MQTT event entity), in order. Commands from
Home Assistant run through :meth:`EventFeed.run`, so their outcome is announced
the same way wherever they came from. Token ids are never in an event.
With a site budget it also follows the budget's limiting events (charger
None, kinds ``site_limiting_started`` and ``site_limiting_ended``, the site's
view as data: :mod:`~bmw_wallbox.homeassistant.model.site`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bmw_wallbox.controller import Command, CommandResult, Controller, run
from bmw_wallbox.homeassistant.model.site import SITE_EVENTS, SiteSource
from bmw_wallbox.hub import StateHub
from bmw_wallbox.state import ChargerState, Save, SessionRecord, token_label

COMMAND_RESULT = "command_result"
SESSION_STARTED = "session_started"
SESSION_ENDED = "session_ended"
SESSION_AUTHORIZED = "session_authorized"
#: Every kind of event, in the order Home Assistant lists them on the event entity.
EVENT_KINDS = (SESSION_STARTED, SESSION_ENDED, COMMAND_RESULT, SESSION_AUTHORIZED)

#: (kind, charger id, data)
Event = tuple[str, str | None, dict[str, Any]]
Listener = Callable[[str, str | None, dict[str, Any]], None]


class SessionTracker:
    """Turns transactions appearing and disappearing in the state into session events."""

    def __init__(self) -> None:
        self._running: dict[tuple[str, int], str] = {}
        self._tokens: dict[tuple[str, int], bool] = {}

    def seed(self, chargers: Mapping[str, ChargerState]) -> None:
        """Remember the transactions that run now (restored at start: no event for them)."""
        for charger in chargers.values():
            for evse in charger.evses.values():
                if evse.transaction is not None:
                    self._running[(charger.charger_id, evse.evse_id)] = evse.transaction.transaction_id
                    self._tokens[(charger.charger_id, evse.evse_id)] = evse.transaction.token is not None

    def update(self, charger: ChargerState) -> list[tuple[str, dict[str, Any]]]:
        """The session events (kind, data) since the last look at this charger, in order."""
        events: list[tuple[str, dict[str, Any]]] = []
        for evse in charger.evses.values():
            key = (charger.charger_id, evse.evse_id)
            before = self._running.get(key)
            tx = evse.transaction
            now = tx.transaction_id if tx else None
            if before == now:
                if tx is not None and tx.token is not None and not self._tokens.get(key):
                    self._tokens[key] = True
                    events.append((SESSION_AUTHORIZED, self._started(charger, evse.evse_id)))
                continue
            if before is not None:
                events.append((SESSION_ENDED, self._ended(charger, evse.evse_id, before)))
            if tx is not None:
                events.append((SESSION_STARTED, self._started(charger, evse.evse_id)))
                self._running[key] = tx.transaction_id
                self._tokens[key] = tx.token is not None
            else:
                self._running.pop(key, None)
                self._tokens.pop(key, None)
        return events

    @staticmethod
    def _started(charger: ChargerState, evse_id: int) -> dict[str, Any]:
        tx = charger.evse(evse_id).transaction
        assert tx is not None
        return {
            "charger": charger.charger_id,
            "evse_id": evse_id,
            "started_at": tx.started_at.isoformat(),
            "transaction_id": tx.transaction_id,
            "token_name": token_label(tx.token),
        }

    @staticmethod
    def _ended(charger: ChargerState, evse_id: int, transaction_id: str) -> dict[str, Any]:
        record: SessionRecord | None = charger.find_session(transaction_id)
        if record is None:  # gone from the history already: what it was is unknown
            return {
                "charger": charger.charger_id,
                "evse_id": evse_id,
                "transaction_id": transaction_id,
                "energy_kwh": None,
                "duration_s": None,
                "stopped_reason": None,
                "token_name": None,
            }
        return {"charger": charger.charger_id, **record.to_json()}


def result_data(charger_id: str | None, result: CommandResult) -> dict[str, Any]:
    """The data of a ``command_result`` event."""
    return {"charger": charger_id, **result.to_json()}


class EventFeed:
    """Every event of every charger, once, to every listener (see the module docstring)."""

    def __init__(self, hub: StateHub, controller: Controller, *, site: SiteSource | None = None) -> None:
        self._hub = hub
        self._controller = controller
        self._site = site
        self._sessions = SessionTracker()
        self._listeners: list[Listener] = []
        self._unsubscribe: list[Callable[[], None]] = []

    def listen(self, listener: Listener) -> None:
        """Call ``listener(kind, charger_id, data)`` for every event from now on."""
        self._listeners.append(listener)

    def attach(self) -> None:
        """Start following the hub and the controller's results (transactions running now fire nothing)."""
        self._sessions.seed(self._hub.chargers)
        self._unsubscribe = [
            self._hub.subscribe(self._on_hub_changed),
            self._controller.subscribe_results(self._on_result),
        ]
        if self._site is not None:
            self._unsubscribe.append(self._site.subscribe(self._on_site))

    def detach(self) -> None:
        """Stop following the hub and the results."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    def announce(self, kind: str, charger_id: str | None, data: dict[str, Any]) -> None:
        """Hand one event to every listener."""
        for listener in self._listeners:
            listener(kind, charger_id, data)

    def announce_result(self, charger_id: str | None, result: CommandResult) -> None:
        """Announce a command's outcome (``command_result``)."""
        self.announce(COMMAND_RESULT, charger_id, result_data(charger_id, result))

    async def run(
        self, command: Command, charger_id: str, amps: object = None, *, evse_id: object = None
    ) -> CommandResult:
        """Run a command from Home Assistant through the one command table (which announces every outcome)."""
        return await run(self._controller, command, charger_id, amps, evse_id=evse_id)

    def _on_site(self, kind: str | None) -> None:
        if kind is not None and self._site is not None:
            self.announce(SITE_EVENTS[kind], None, self._site.view().to_json())

    def _on_result(self, charger_id: str, result: CommandResult) -> None:
        self.announce_result(charger_id, result)

    def _on_hub_changed(self, charger_id: str, save: Save) -> None:
        charger = self._hub.chargers.get(charger_id)
        if charger is not None:
            for kind, data in self._sessions.update(charger):
                self.announce(kind, charger_id, data)

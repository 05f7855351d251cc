"""The event interface for automations: commands in, results and sessions out.

In: ``bmw_wallbox_command`` with ``{"action": "start|pause|resume|stop|reset|set_current_limit",
"amps": N, "charger": "<id>"}``; ``charger`` may be left out when one charger is
configured, and may also be the charger's slug (``bmw_wallbox``).

Out: ``bmw_wallbox_command_result`` for every command outcome (from Home
Assistant, the panel or the JSON API), ``bmw_wallbox_session_started`` (with
``token_name``: the token's name, ``unknown`` or ``no token``),
``bmw_wallbox_session_authorized`` (the token became known after the session
started: chargers that start a session at plug-in and ask for the card
afterwards) and ``bmw_wallbox_session_ended`` (with ``energy_kwh``,
``duration_s`` and ``token_name``). Token ids are never in an event.
Outgoing events wait in a bounded outbox (the newest :data:`OUTBOX_SIZE`) while
Home Assistant is unreachable.

Parsing and session detection are pure functions of the state; the
:class:`EventInterface` wires them to the connection and the controller.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from bmw_wallbox.controller import Command, CommandResult, Controller, Outcome, parse_command, run
from bmw_wallbox.homeassistant.rest import HomeAssistantConnectionError, HomeAssistantError
from bmw_wallbox.homeassistant.websocket import CoreConnection
from bmw_wallbox.hub import StateHub
from bmw_wallbox.state import ChargerState, Save, SessionRecord, token_label

_LOGGER = logging.getLogger(__name__)

COMMAND_EVENT = "bmw_wallbox_command"
RESULT_EVENT = "bmw_wallbox_command_result"
SESSION_STARTED_EVENT = "bmw_wallbox_session_started"
SESSION_ENDED_EVENT = "bmw_wallbox_session_ended"
SESSION_AUTHORIZED_EVENT = "bmw_wallbox_session_authorized"
ACTIONS = tuple(command.value for command in Command)
#: Outgoing events kept while Home Assistant is unreachable; older ones are dropped.
OUTBOX_SIZE = 100

Spawn = Callable[[Coroutine[Any, Any, object], str], None]
Event = tuple[str, dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class CommandRequest:
    """A ``bmw_wallbox_command`` for a known charger: what to do, and ``amps`` as sent (checked by the command)."""

    charger_id: str
    command: Command
    amps: object = None


def _invalid(detail: str, command: str = "command") -> CommandResult:
    return CommandResult(command=command, outcome=Outcome.INVALID, detail=detail)


def parse_event(data: Mapping[str, Any], slugs: Mapping[str, str]) -> CommandRequest | CommandResult:
    """Find the command and the charger of a command event; an invalid one gives the result to report."""
    command = parse_command(data.get("action"))
    if command is None:
        return _invalid(f"action must be one of {', '.join(ACTIONS)}, not {data.get('action')!r}")
    charger = data.get("charger")
    if charger is None:
        if len(slugs) != 1:
            return _invalid(f"name the charger: one of {', '.join(sorted(slugs))}", command)
        charger_id = next(iter(slugs))
    else:
        by_slug = {slug: cid for cid, slug in slugs.items()}
        found = charger if charger in slugs else by_slug.get(str(charger))
        if found is None:
            return CommandResult(
                command=command, outcome=Outcome.UNKNOWN_CHARGER, detail=f"no charger {charger!r} is configured"
            )
        charger_id = str(found)
    return CommandRequest(charger_id=charger_id, command=command, amps=data.get("amps"))


def result_event(charger_id: str | None, result: CommandResult) -> Event:
    """The ``bmw_wallbox_command_result`` event of one outcome."""
    return RESULT_EVENT, {"charger": charger_id, **result.to_json()}


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

    def update(self, charger: ChargerState) -> list[Event]:
        """The session events since the last look at this charger, in order."""
        events: list[Event] = []
        for evse in charger.evses.values():
            key = (charger.charger_id, evse.evse_id)
            before = self._running.get(key)
            tx = evse.transaction
            now = tx.transaction_id if tx else None
            if before == now:
                if tx is not None and tx.token is not None and not self._tokens.get(key):
                    self._tokens[key] = True
                    events.append((SESSION_AUTHORIZED_EVENT, self._started(charger, evse.evse_id)))
                continue
            if before is not None:
                events.append((SESSION_ENDED_EVENT, self._ended(charger, evse.evse_id, before)))
            if tx is not None:
                events.append((SESSION_STARTED_EVENT, self._started(charger, evse.evse_id)))
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


class EventInterface:
    """Listens for command events and fires result and session events (see the module docstring)."""

    def __init__(
        self,
        hub: StateHub,
        controller: Controller,
        connection: CoreConnection,
        *,
        slugs: Mapping[str, str],
        spawn: Spawn,
    ) -> None:
        self._hub = hub
        self._controller = controller
        self._connection = connection
        self._slugs = dict(slugs)
        self._spawn = spawn
        self._outbox: deque[Event] = deque(maxlen=OUTBOX_SIZE)
        self._has_mail = asyncio.Event()
        self._sessions = SessionTracker()
        self._unsubscribe: Callable[[], None] | None = None
        self._unsubscribe_results: Callable[[], None] | None = None
        connection.on_event(COMMAND_EVENT, self._on_command)

    def attach(self) -> None:
        """Start following the hub and the controller's results."""
        self._sessions.seed(self._hub.chargers)
        self._unsubscribe = self._hub.subscribe(self._on_hub_changed)
        if self._unsubscribe_results is None:
            self._unsubscribe_results = self._controller.subscribe_results(self._on_result)

    def detach(self) -> None:
        """Stop following the hub and the controller's results."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._unsubscribe_results is not None:
            self._unsubscribe_results()
            self._unsubscribe_results = None

    def fire(self, event_type: str, data: dict[str, Any]) -> None:
        """Queue an event for Home Assistant (the oldest is dropped when the outbox is full)."""
        if self._unsubscribe is None:
            return
        self._outbox.append((event_type, data))
        self._has_mail.set()

    @property
    def outbox_size(self) -> int:
        """Events waiting to be fired."""
        return len(self._outbox)

    def _on_result(self, charger_id: str, result: CommandResult) -> None:
        self.fire(*result_event(charger_id, result))

    def _on_hub_changed(self, charger_id: str, save: Save) -> None:
        charger = self._hub.chargers.get(charger_id)
        if charger is not None:
            for event in self._sessions.update(charger):
                self.fire(*event)

    def _on_command(self, event: dict[str, Any]) -> None:
        data = event.get("data") or {}
        parsed = parse_event(data, self._slugs)
        if isinstance(parsed, CommandResult):
            charger = data.get("charger")
            _LOGGER.warning("Ignoring %s event: %s", COMMAND_EVENT, parsed.detail)
            self.fire(*result_event(str(charger) if charger is not None else None, parsed))
            return
        _LOGGER.info("[%s] %s requested by a Home Assistant event", parsed.charger_id, parsed.command)
        self._spawn(self._run(parsed), f"home assistant event {parsed.command}")

    async def _run(self, request: CommandRequest) -> None:
        """Run a command event through the one command table (``amps`` is checked there)."""
        await run(self._controller, request.command, request.charger_id, request.amps)  # it announces the result

    def wake(self) -> None:
        """Try to deliver the outbox now (after a reconnect)."""
        self._has_mail.set()

    async def run(self) -> None:
        """Fire queued events while connected, until cancelled; a failed event is kept for the next try."""
        while True:
            await self._has_mail.wait()
            self._has_mail.clear()
            while self._outbox and self._connection.connected.is_set():
                event_type, data = self._outbox[0]
                try:
                    await self._connection.command({"type": "fire_event", "event_type": event_type, "event_data": data})
                except HomeAssistantConnectionError:
                    break  # kept; the reconnect wakes us
                except HomeAssistantError as err:
                    _LOGGER.warning("Home Assistant refused the %s event: %s", event_type, err)
                if self._outbox and self._outbox[0] == (event_type, data):
                    self._outbox.popleft()

"""Home Assistant's event bus for automations: commands in, results and sessions out.

In: ``bmw_wallbox_command`` with ``{"action": "start|pause|resume|stop|reset|set_current_limit",
"amps": N, "charger": "<id>", "evse_id": N}``; ``charger`` may be left out when one charger is
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

Parsing is a pure function; the events come from the one
:class:`~bmw_wallbox.homeassistant.model.events.EventFeed`; the
:class:`EventInterface` wires both to the Core connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from bmw_wallbox.controller import Command, CommandResult, Outcome, parse_command
from bmw_wallbox.homeassistant.core.client import HomeAssistantConnectionError, HomeAssistantError
from bmw_wallbox.homeassistant.core.websocket import CoreConnection
from bmw_wallbox.homeassistant.model.events import EventFeed

_LOGGER = logging.getLogger(__name__)

COMMAND_EVENT = "bmw_wallbox_command"
#: An event of the feed of kind ``session_started`` is ``bmw_wallbox_session_started`` on the bus.
EVENT_PREFIX = "bmw_wallbox_"
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
    evse_id: object = None


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
    return CommandRequest(charger_id=charger_id, command=command, amps=data.get("amps"), evse_id=data.get("evse_id"))


class EventInterface:
    """Listens for command events and fires result and session events (see the module docstring)."""

    def __init__(self, feed: EventFeed, connection: CoreConnection, *, slugs: Mapping[str, str], spawn: Spawn) -> None:
        self._feed = feed
        self._connection = connection
        self._slugs = dict(slugs)
        self._spawn = spawn
        self._outbox: deque[Event] = deque(maxlen=OUTBOX_SIZE)
        self._has_mail = asyncio.Event()
        self._open = True
        feed.listen(self._on_event)
        connection.on_event(COMMAND_EVENT, self._on_command)

    def close(self) -> None:
        """Fire nothing more (the add-on stops)."""
        self._open = False

    def fire(self, event_type: str, data: dict[str, Any]) -> None:
        """Queue an event for Home Assistant (the oldest is dropped when the outbox is full)."""
        if not self._open:
            return
        self._outbox.append((event_type, data))
        self._has_mail.set()

    @property
    def outbox_size(self) -> int:
        """Events waiting to be fired."""
        return len(self._outbox)

    def _on_event(self, kind: str, charger_id: str | None, data: dict[str, Any]) -> None:
        self.fire(EVENT_PREFIX + kind, data)

    def _on_command(self, event: dict[str, Any]) -> None:
        data = event.get("data") or {}
        parsed = parse_event(data, self._slugs)
        if isinstance(parsed, CommandResult):
            charger = data.get("charger")
            _LOGGER.warning("Ignoring %s event: %s", COMMAND_EVENT, parsed.detail)
            self._feed.announce_result(str(charger) if charger is not None else None, parsed)
            return
        _LOGGER.info("[%s] %s requested by a Home Assistant event", parsed.charger_id, parsed.command)
        self._spawn(
            self._feed.run(parsed.command, parsed.charger_id, parsed.amps, evse_id=parsed.evse_id),
            f"home assistant event {parsed.command}",
        )

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

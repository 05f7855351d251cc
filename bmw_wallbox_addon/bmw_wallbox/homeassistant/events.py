"""The event interface for automations: commands in, results and sessions out.

In: ``bmw_wallbox_command`` with ``{"action": "start|pause|resume|stop|reset|set_current_limit",
"amps": N, "charger": "<id>"}``; ``charger`` may be left out when one charger is
configured, and may also be the charger's slug (``bmw_wallbox``).

Out: ``bmw_wallbox_command_result`` for every command outcome (from Home
Assistant, the panel or the JSON API), ``bmw_wallbox_session_started`` and
``bmw_wallbox_session_ended`` (with ``energy_kwh`` and ``duration_s``).
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

from bmw_wallbox.controller import CommandResult, Controller, Outcome
from bmw_wallbox.homeassistant.rest import HomeAssistantConnectionError, HomeAssistantError
from bmw_wallbox.homeassistant.websocket import CoreConnection
from bmw_wallbox.state import ChargerState, StateHub

_LOGGER = logging.getLogger(__name__)

COMMAND_EVENT = "bmw_wallbox_command"
RESULT_EVENT = "bmw_wallbox_command_result"
SESSION_STARTED_EVENT = "bmw_wallbox_session_started"
SESSION_ENDED_EVENT = "bmw_wallbox_session_ended"
ACTIONS = ("start", "pause", "resume", "stop", "reset", "set_current_limit")
#: Outgoing events kept while Home Assistant is unreachable; older ones are dropped.
OUTBOX_SIZE = 100

Spawn = Callable[[Coroutine[Any, Any, object], str], None]
Event = tuple[str, dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class CommandRequest:
    """A valid ``bmw_wallbox_command``: what to do to which charger."""

    charger_id: str
    action: str
    amps: float | None = None


def _invalid(detail: str, command: str = "command") -> CommandResult:
    return CommandResult(command=command, outcome=Outcome.INVALID, detail=detail)


def parse_command(data: Mapping[str, Any], slugs: Mapping[str, str]) -> CommandRequest | CommandResult:
    """Check a command event's data; an invalid one gives the ``invalid`` result to report."""
    action = data.get("action")
    if action not in ACTIONS:
        return _invalid(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    charger = data.get("charger")
    if charger is None:
        if len(slugs) != 1:
            return _invalid(f"name the charger: one of {', '.join(sorted(slugs))}", action)
        charger_id = next(iter(slugs))
    else:
        by_slug = {slug: cid for cid, slug in slugs.items()}
        found = charger if charger in slugs else by_slug.get(str(charger))
        if found is None:
            return CommandResult(
                command=action, outcome=Outcome.UNKNOWN_CHARGER, detail=f"no charger {charger!r} is configured"
            )
        charger_id = str(found)
    amps = data.get("amps")
    if action == "set_current_limit":
        if isinstance(amps, str):
            try:
                amps = float(amps)  # templates in automations render numbers as text
            except ValueError:
                return _invalid(f"amps must be a number, not {amps!r}", action)
        if isinstance(amps, bool) or not isinstance(amps, (int, float)):
            return _invalid(f"set_current_limit needs amps (0 pauses, else 6 .. max current), not {amps!r}", action)
        return CommandRequest(charger_id=charger_id, action=action, amps=float(amps))
    return CommandRequest(charger_id=charger_id, action=action)


async def run_command(controller: Controller, request: CommandRequest) -> CommandResult:
    """Run a checked command through the controller."""
    if request.action == "set_current_limit":
        amps = request.amps or 0.0
        return await controller.set_current_limit(request.charger_id, int(amps) if amps.is_integer() else amps)
    method = {
        "start": controller.start,
        "pause": controller.pause,
        "resume": controller.resume,
        "stop": controller.stop,
        "reset": controller.reset,
    }[request.action]
    return await method(request.charger_id)


def result_event(charger_id: str | None, result: CommandResult) -> Event:
    """The ``bmw_wallbox_command_result`` event of one outcome."""
    return RESULT_EVENT, {"charger": charger_id, **result.to_json()}


class SessionTracker:
    """Turns transactions appearing and disappearing in the state into session events."""

    def __init__(self) -> None:
        self._running: dict[tuple[str, int], str] = {}

    def seed(self, chargers: Mapping[str, ChargerState]) -> None:
        """Remember the transactions that run now (restored at start: no event for them)."""
        for charger in chargers.values():
            for evse in charger.evses.values():
                if evse.transaction is not None:
                    self._running[(charger.charger_id, evse.evse_id)] = evse.transaction.transaction_id

    def update(self, charger: ChargerState) -> list[Event]:
        """The session events since the last look at this charger, in order."""
        events: list[Event] = []
        for evse in charger.evses.values():
            key = (charger.charger_id, evse.evse_id)
            before = self._running.get(key)
            now = evse.transaction.transaction_id if evse.transaction else None
            if before == now:
                continue
            if before is not None:
                events.append((SESSION_ENDED_EVENT, self._ended(charger, evse.evse_id, before, evse.last_session)))
            if evse.transaction is not None:
                tx = evse.transaction
                started = {"started_at": tx.started_at.isoformat(), "transaction_id": tx.transaction_id}
                events.append(
                    (SESSION_STARTED_EVENT, {"charger": charger.charger_id, "evse_id": evse.evse_id, **started})
                )
                self._running[key] = tx.transaction_id
            else:
                self._running.pop(key, None)
        return events

    @staticmethod
    def _ended(
        charger: ChargerState, evse_id: int, transaction_id: str, last: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"charger": charger.charger_id, "evse_id": evse_id, "transaction_id": transaction_id}
        if last and last.get("transaction_id") == transaction_id:
            for key in ("started_at", "ended_at", "energy_kwh", "duration_s", "stopped_reason"):
                data[key] = last.get(key)
        else:  # replaced without an Ended event: what it was is unknown
            data.update(energy_kwh=None, duration_s=None, stopped_reason=None)
        return data


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

    def _on_hub_changed(self, charger_id: str) -> None:
        charger = self._hub.chargers.get(charger_id)
        if charger is not None:
            for event in self._sessions.update(charger):
                self.fire(*event)

    def _on_command(self, event: dict[str, Any]) -> None:
        data = event.get("data") or {}
        parsed = parse_command(data, self._slugs)
        if isinstance(parsed, CommandResult):
            charger = data.get("charger")
            _LOGGER.warning("Ignoring %s event: %s", COMMAND_EVENT, parsed.detail)
            self.fire(*result_event(str(charger) if charger is not None else None, parsed))
            return
        _LOGGER.info("[%s] %s requested by a Home Assistant event", parsed.charger_id, parsed.action)
        self._spawn(run_command(self._controller, parsed), f"home assistant event {parsed.action}")

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

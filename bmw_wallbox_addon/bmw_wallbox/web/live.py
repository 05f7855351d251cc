"""The panel's one WebSocket (``GET /api/ws``): a full picture on connect, then pushes.

Messages, server to page (the page sends nothing but WebSocket pings):

- ``hello``: ``chargers`` (see :func:`~bmw_wallbox.web.views.charger_detail`), ``unknown``, ``setup``,
  ``trace`` (newest first), ``logs`` (newest first), ``tokens``, ``version``;
- ``charger``: one charger's view after it changed, with the power points
  the page has not seen yet (and its sessions when they changed);
- ``trace`` / ``logs``: the entries recorded since the last message, newest first;
- ``unknown``: the ids that tried to connect without being configured, each with
  the ``option_line`` the setup page shows to add it
  (:func:`~bmw_wallbox.web.checklist.charger_option_line`);
- ``tokens``: the token list and each charger's authorization
  (:func:`~bmw_wallbox.web.token_views.tokens_view`), after the list changed
  or a charger connected, disconnected or changed its authorization settings.

Every message is strict JSON (:func:`~bmw_wallbox.web.views.json_text`: no
NaN or infinity, whatever the state holds). Each client has its own writer task that sleeps until something changed, so
a burst of changes while it is sending is coalesced into one message per
charger. A client that reads too slowly loses its oldest trace and log
entries, never the state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from bmw_wallbox import __version__
from bmw_wallbox.hub import StateHub
from bmw_wallbox.logbuffer import LogBuffer, LogLine
from bmw_wallbox.state import ChargerState, Save
from bmw_wallbox.trace import Trace, TraceEntry
from bmw_wallbox.web.checklist import charger_option_line
from bmw_wallbox.web.history import PowerHistory
from bmw_wallbox.web.token_views import tokens_view
from bmw_wallbox.web.views import charger_detail, json_text

_LOGGER = logging.getLogger(__name__)

#: Trace frames and log lines in the first message (and kept per client between sends).
TRACE_BACKLOG = 300
LOG_BACKLOG = 500
#: Sessions the page lists (the CSV has all of them).
SESSIONS_SHOWN = 50

SetupSource = Callable[[], Awaitable[dict[str, Any]]]


def _sessions_key(state: ChargerState) -> tuple[int, Any]:
    return len(state.sessions), state.sessions[0] if state.sessions else None


@dataclass(eq=False)
class _Client:
    """One open page: what it has not been sent yet."""

    ws: web.WebSocketResponse
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    chargers: set[str] = field(default_factory=set)
    trace: deque[TraceEntry] = field(default_factory=lambda: deque(maxlen=TRACE_BACKLOG))
    logs: deque[LogLine] = field(default_factory=lambda: deque(maxlen=LOG_BACKLOG))
    unknown: bool = False
    tokens: bool = False
    last_point_ms: dict[str, float] = field(default_factory=dict)
    sessions_sent: dict[str, tuple[int, Any]] = field(default_factory=dict)


class LiveFeed:
    """Keeps the power history and pushes state, trace and log changes to every open page."""

    def __init__(
        self, *, hub: StateHub, trace: Trace, logs: LogBuffer, history: PowerHistory, setup: SetupSource
    ) -> None:
        self._hub = hub
        self._trace = trace
        self._logs = logs
        self._history = history
        self._setup = setup
        self._clients: set[_Client] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        #: Per charger, what the tokens view shows of it (pushed again when it changes).
        self._auth_seen: dict[str, tuple[object, ...]] = {}

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe to the hub, the trace and the log buffer (call inside the running loop)."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        for state in self._hub.chargers.values():
            self._history.observe(state)
        self._unsubscribe = [
            self._hub.subscribe(self._on_change),
            self._trace.subscribe(self._on_trace),
            self._logs.subscribe(self._on_log),
            self._hub.tokens.subscribe(self._on_tokens),
            self._hub.unknown_ids.subscribe(lambda save: self.unknown_changed()),
        ]

    async def close(self) -> None:
        """Unsubscribe and close every page's socket (code 1001, going away)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        for client in list(self._clients):
            await client.ws.close(code=1001, message=b"add-on stopping")

    def unknown_changed(self) -> None:
        """Tell the pages that the list of unknown charger ids changed."""
        for client in self._clients:
            client.unknown = True
            client.wake.set()

    # --- the WebSocket ---------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one page: the hello, then pushes until the page goes away."""
        ws = web.WebSocketResponse(heartbeat=30.0)
        await ws.prepare(request)
        try:
            setup = await self._setup()
        except Exception:  # a bug in the checklist must not take the live view down with it
            _LOGGER.exception("Building the setup checklist failed")
            setup = {"items": [], "chargers": []}
        client = _Client(ws)
        hello = self._hello(client, setup)
        self._clients.add(client)  # in the same step as the hello, so no change falls in between
        _LOGGER.debug("Panel connected from %s (%d open)", request.remote, len(self._clients))
        writer = asyncio.create_task(self._write(client, hello), name="panel writer")
        try:
            async for message in ws:
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            self._clients.discard(client)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            _LOGGER.debug("Panel disconnected (%d open)", len(self._clients))
        return ws

    def _hello(self, client: _Client, setup: dict[str, Any]) -> dict[str, Any]:
        chargers = []
        for state in self._hub.chargers.values():
            view = self._view(client, state, sessions=True)
            chargers.append(view)
        return {
            "type": "hello",
            "version": __version__,
            "chargers": chargers,
            "unknown": self._unknown(),
            "setup": setup,
            "trace": [entry.to_json() for entry in self._trace.entries()[:TRACE_BACKLOG]],
            "logs": [line.to_json() for line in self._logs.lines(limit=LOG_BACKLOG)],
            "tokens": tokens_view(self._hub),
        }

    def _view(self, client: _Client, state: ChargerState, *, sessions: bool) -> dict[str, Any]:
        view = charger_detail(state)
        points = self._history.points(state.charger_id, after_ms=client.last_point_ms.get(state.charger_id))
        if points:
            client.last_point_ms[state.charger_id] = points[-1][0]
        view["points"] = points
        key = _sessions_key(state)
        if sessions or client.sessions_sent.get(state.charger_id) != key:
            client.sessions_sent[state.charger_id] = key
            view["sessions"] = [record.to_json() for record in state.sessions[:SESSIONS_SHOWN]]
            view["sessions_total"] = len(state.sessions)
        return view

    def _unknown(self) -> list[dict[str, Any]]:
        """The unknown ids, most recent first, each with the ``option_line`` that adds it (safely quoted)."""
        return [
            {**entry, "option_line": charger_option_line(str(entry["id"]))} for entry in self._hub.unknown_ids.to_json()
        ]

    async def _write(self, client: _Client, hello: dict[str, Any]) -> None:
        """Send the hello, then whatever changed, until the socket closes."""
        ws = client.ws
        try:
            await ws.send_json(hello, dumps=json_text)
            while not ws.closed:
                await client.wake.wait()
                client.wake.clear()
                for message in self._pending(client):
                    await ws.send_json(message, dumps=json_text)
        except (ConnectionResetError, RuntimeError):
            pass  # the page went away while we were sending; the handler cleans up

    def _pending(self, client: _Client) -> list[dict[str, Any]]:
        """Take everything the client has not been sent as messages, and clear it."""
        messages: list[dict[str, Any]] = []
        chargers, client.chargers = client.chargers, set()
        for charger_id in sorted(chargers):
            state = self._hub.chargers.get(charger_id)
            if state is not None:
                messages.append({"type": "charger", "charger": self._view(client, state, sessions=False)})
        if client.trace:
            entries = [entry.to_json() for entry in reversed(client.trace)]
            client.trace.clear()
            messages.append({"type": "trace", "entries": entries})
        if client.logs:
            lines = [line.to_json() for line in reversed(client.logs)]
            client.logs.clear()
            messages.append({"type": "logs", "entries": lines})
        if client.unknown:
            client.unknown = False
            messages.append({"type": "unknown", "unknown": self._unknown()})
        if client.tokens:
            client.tokens = False
            messages.append({"type": "tokens", "tokens": tokens_view(self._hub)})
        return messages

    # --- listeners (called by the hub, the trace and the log handler) ------------------------

    def _on_change(self, charger_id: str, save: Save) -> None:
        state = self._hub.chargers.get(charger_id)
        if state is not None:
            self._history.observe(state)
            caps = state.capabilities
            seen = (
                state.connected,
                caps.auth_enabled,
                caps.auth_writable,
                caps.local_list_available,
                caps.local_list_enabled,
                caps.local_list_max_entries,
            )
            if self._auth_seen.get(charger_id) != seen:
                self._auth_seen[charger_id] = seen
                self._on_tokens(save)
        for client in self._clients:
            client.chargers.add(charger_id)
            client.wake.set()

    def _on_tokens(self, save: Save) -> None:
        for client in self._clients:
            client.tokens = True
            client.wake.set()

    def _on_trace(self, entry: TraceEntry) -> None:
        for client in self._clients:
            client.trace.append(entry)
            client.wake.set()

    def _on_log(self, line: LogLine) -> None:
        if threading.get_ident() == self._loop_thread:
            self._push_log(line)
        elif self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._push_log, line)

    def _push_log(self, line: LogLine) -> None:
        for client in self._clients:
            client.logs.append(line)
            client.wake.set()

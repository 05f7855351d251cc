"""The Home Assistant Core WebSocket API, kept open: auth, commands, event subscriptions, reconnects.

``{base_url}/api/websocket`` (``http://supervisor/core/api/websocket`` in the
container). After ``auth_ok`` every registered event type is subscribed
again and ``on_connected`` runs; when the socket closes, pending commands fail
with :class:`HomeAssistantConnectionError` and the next attempt follows after a
backoff that doubles from ``backoff_min_s`` (0.5 s) to ``backoff_max_s``
(3 s), so Core is found again within seconds of a restart.

Error policy: a closed connection is logged at INFO (Core restarts), a failed
connect at WARNING once per outage and at DEBUG after that, the reconnect at
INFO; a refused token at ERROR once per outage, after which attempts follow
every ``backoff_max_s``. The token never appears in a log line.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bmw_wallbox.aio import Backoff
from bmw_wallbox.homeassistant.core.client import (
    HomeAssistantAuthError,
    HomeAssistantConnectionError,
    HomeAssistantError,
    HomeAssistantRequestError,
)

_LOGGER = logging.getLogger(__name__)

EventHandler = Callable[[dict[str, Any]], None]
ConnectedHook = Callable[[], Awaitable[None]]

#: Largest message accepted from Core (``get_states`` of a big home can be several MB).
MAX_MESSAGE_BYTES = 32 * 1024 * 1024


def websocket_url(base_url: str) -> str:
    """``http://host:8123`` -> ``ws://host:8123/api/websocket`` (https -> wss)."""
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base.removeprefix("https://")
    elif base.startswith("http://"):
        base = "ws://" + base.removeprefix("http://")
    return f"{base}/api/websocket"


class CoreConnection:
    """One WebSocket to Core at a time, reopened for as long as :meth:`run` runs."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        base_url: str,
        token: str,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 3.0,
        command_timeout_s: float = 30.0,
    ) -> None:
        self._http = http
        self._url = websocket_url(base_url)
        self._token = token
        self._backoff = Backoff(min_s=backoff_min_s, max_s=backoff_max_s)
        self._command_timeout_s = command_timeout_s
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._handlers: dict[str, list[EventHandler]] = {}
        self._subscriptions: dict[int, str] = {}
        self._connected_hooks: list[ConnectedHook] = []
        self.connected = asyncio.Event()

    def on_event(self, event_type: str, handler: EventHandler) -> None:
        """Call ``handler(event)`` for every Core event of this type (subscribed at each connect)."""
        self._handlers.setdefault(event_type, []).append(handler)

    def on_connected(self, hook: ConnectedHook) -> None:
        """Run ``hook()`` after each successful (re)connect, once the subscriptions are in place."""
        self._connected_hooks.append(hook)

    async def command(self, payload: dict[str, Any]) -> Any:
        """Send one command and return its ``result``.

        Raises :class:`HomeAssistantConnectionError` when not connected, the
        socket closes or Core does not answer within ``command_timeout_s``,
        and :class:`HomeAssistantRequestError` when Core answers with an error.
        """
        _, result = await self._call(payload)
        return result

    async def _call(self, payload: dict[str, Any]) -> tuple[int, Any]:
        ws = self._ws
        if ws is None or ws.closed:
            raise HomeAssistantConnectionError("not connected to Home Assistant")
        message_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        kind = payload.get("type")
        if kind == "subscribe_events":
            # Mapped before sending: the first event can follow the result before this coroutine resumes.
            self._subscriptions[message_id] = str(payload["event_type"])
        try:
            await ws.send_str(json.dumps({**payload, "id": message_id}))
            async with asyncio.timeout(self._command_timeout_s):
                return message_id, await future
        except TimeoutError as err:
            raise HomeAssistantConnectionError(f"Home Assistant did not answer {kind} in time") from err
        except (aiohttp.ClientError, ConnectionError) as err:
            raise HomeAssistantConnectionError(f"sending {kind} to Home Assistant failed: {err}") from err
        finally:
            self._pending.pop(message_id, None)

    async def run(self) -> None:
        """Connect, serve, reconnect with backoff; returns only by cancellation."""
        failing = False
        while True:
            try:
                async with self._http.ws_connect(self._url, heartbeat=30.0, max_msg_size=MAX_MESSAGE_BYTES) as ws:
                    await self._authenticate(ws)
                    if failing:
                        _LOGGER.info("Connected to Home Assistant again")
                    else:
                        _LOGGER.info("Connected to Home Assistant")
                    failing = False
                    self._backoff.reset()
                    await self._serve(ws)
                if not failing:
                    _LOGGER.info("The connection to Home Assistant closed (restarting?); reconnecting")
                failing = True
            except HomeAssistantAuthError as err:
                if not failing:
                    _LOGGER.error("%s; check the app's access to the Home Assistant API", err)
                failing = True
                self._backoff.longest()
            except (aiohttp.ClientError, HomeAssistantConnectionError, TimeoutError, ConnectionError) as err:
                log = _LOGGER.debug if failing else _LOGGER.warning
                log("Home Assistant is unreachable (%s); retrying", err or type(err).__name__)
                failing = True
            await self._backoff.sleep()

    async def _authenticate(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async with asyncio.timeout(10.0):
                first = await ws.receive_json()
                if first.get("type") != "auth_required":
                    raise HomeAssistantConnectionError(f"unexpected first message {first.get('type')!r}")
                await ws.send_str(json.dumps({"type": "auth", "access_token": self._token}))
                answer = await ws.receive_json()
        except (TypeError, ValueError) as err:  # a close or a non-JSON frame instead of the auth messages
            raise HomeAssistantConnectionError(f"the WebSocket closed during authentication ({err})") from err
        if answer.get("type") == "auth_invalid":
            raise HomeAssistantAuthError("Home Assistant refused the token on its WebSocket API")
        if answer.get("type") != "auth_ok":
            raise HomeAssistantConnectionError(f"unexpected auth answer {answer.get('type')!r}")

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Read messages while subscribing and running the connect hooks; return when the socket closes."""
        self._ws = ws
        reader = asyncio.create_task(self._read(ws), name="home assistant websocket reader")
        try:
            self._subscriptions.clear()
            for event_type in self._handlers:
                await self._call({"type": "subscribe_events", "event_type": event_type})
            self.connected.set()
            for hook in self._connected_hooks:
                await self._run_hook(hook)
            await reader
        except HomeAssistantConnectionError:
            pass  # the socket closed while subscribing or in a hook: reconnect
        finally:
            self.connected.clear()
            self._ws = None
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            self._fail_pending()

    @staticmethod
    async def _run_hook(hook: ConnectedHook) -> None:
        """Run one connect hook; only a lost connection ends the connection, anything else is logged."""
        try:
            await hook()
        except HomeAssistantConnectionError:
            raise
        except HomeAssistantError as err:
            _LOGGER.warning("Setting up Home Assistant after connecting failed: %s", err)
        except Exception:
            _LOGGER.exception("Setting up Home Assistant after connecting failed")

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(message.data)
                except ValueError:
                    _LOGGER.debug("Ignoring a message from Home Assistant that is not JSON")
                    continue
                for item in data if isinstance(data, list) else [data]:
                    self._dispatch(item)
        finally:
            self._fail_pending()

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "result":
            future = self._pending.get(message.get("id", -1))
            if future is None or future.done():
                return
            if message.get("success"):
                future.set_result(message.get("result"))
            else:
                error = message.get("error") or {}
                future.set_exception(
                    HomeAssistantRequestError(f"{error.get('code', 'error')}: {error.get('message', '')}")
                )
        elif kind == "event":
            event_type = self._subscriptions.get(message.get("id", -1))
            event = message.get("event") or {}
            for handler in self._handlers.get(event_type or "", []):
                try:
                    handler(event)
                except Exception:  # one bad handler must not close the connection
                    _LOGGER.exception("Handling the Home Assistant event %s failed", event_type)

    def _fail_pending(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(HomeAssistantConnectionError("the connection to Home Assistant closed"))
        self._pending.clear()

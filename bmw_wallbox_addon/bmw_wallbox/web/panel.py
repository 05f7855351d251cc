"""The ingress panel: the page, its static files, the live WebSocket, and the setup and log endpoints.

Every URL in the page is relative, so it works under the Supervisor's
``/api/hassio_ingress/<token>/`` prefix; nothing is loaded from elsewhere
(the Content-Security-Policy says so to the browser too). Who may connect is
decided by :mod:`bmw_wallbox.web.access`, for the page and the WebSocket alike.

Routes added to the JSON API application:

- ``GET /``: the page; ``GET /static/{name}``: its script, style and icon;
- ``GET /api/ws``: the live feed (:mod:`bmw_wallbox.web.live`);
- ``GET /api/setup``: the setup checklist (:mod:`bmw_wallbox.web.checklist`);
- ``GET /api/logs?level=WARNING&limit=200``: the add-on's recent log lines, newest first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from bmw_wallbox import __version__
from bmw_wallbox.certinfo import read_cert_info
from bmw_wallbox.hub import StateHub
from bmw_wallbox.logbuffer import LogBuffer, level_number
from bmw_wallbox.state import utcnow
from bmw_wallbox.trace import Trace
from bmw_wallbox.web.checklist import SetupFacts, build_setup
from bmw_wallbox.web.history import PowerHistory
from bmw_wallbox.web.live import LiveFeed

_LOGGER = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
#: The files the page may load, with their content types; nothing else is served.
STATIC_FILES: dict[str, str] = {
    "app.js": "text/javascript",
    "authorization.js": "text/javascript",
    "cards.js": "text/javascript",
    "chart.js": "text/javascript",
    "evses.js": "text/javascript",
    "panes.js": "text/javascript",
    "maintenance.js": "text/javascript",
    "site.js": "text/javascript",
    "tokens.js": "text/javascript",
    "util.js": "text/javascript",
    "style.css": "text/css",
    "icon.svg": "image/svg+xml",
}
#: The page loads only from its own origin; it may be framed by Home Assistant (same origin through ingress).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
#: Most log lines one ``GET /api/logs`` returns.
MAX_LOG_LIMIT = 1000


class Panel:
    """The panel's part of the web application: built once, installed into the aiohttp app."""

    def __init__(
        self,
        *,
        hub: StateHub,
        trace: Trace,
        logs: LogBuffer,
        setup: Callable[[], SetupFacts],
        history: PowerHistory | None = None,
    ) -> None:
        self._logs = logs
        self._setup_facts = setup
        self.history = history or PowerHistory()
        self.live = LiveFeed(hub=hub, trace=trace, logs=logs, history=self.history, setup=self.setup_report)
        self._files = {name: (STATIC_DIR / name).read_bytes() for name in (*STATIC_FILES, "index.html")}

    def install(self, app: web.Application) -> None:
        """Add the panel's routes, and start and stop the live feed with the application."""
        app.router.add_get("/", self.index)
        app.router.add_get("/static/{name}", self.static)
        app.router.add_get("/api/ws", self.live.handle)
        app.router.add_get("/api/setup", self.get_setup)
        app.router.add_get("/api/logs", self.get_logs)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)

    async def _on_startup(self, app: web.Application) -> None:
        self.live.start()

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.live.close()

    async def setup_report(self) -> dict[str, Any]:
        """The setup checklist; the certificate is read again each time, so a renewal shows at once."""
        facts = self._setup_facts()
        cert = await asyncio.to_thread(read_cert_info, facts.cert_path, facts.key_path) if facts.ssl else None
        return build_setup(facts, cert, now=utcnow())

    async def index(self, request: web.Request) -> web.Response:
        """The page (``X-Ingress-Path`` is not needed: every URL in it is relative)."""
        body = self._files["index.html"].replace(b"{{version}}", __version__.encode())
        return web.Response(body=body, content_type="text/html", charset="utf-8", headers=_HEADERS)

    async def static(self, request: web.Request) -> web.Response:
        """One of the page's files; any other name is 404."""
        name = request.match_info["name"]
        content_type = STATIC_FILES.get(name)
        if content_type is None:
            raise web.HTTPNotFound(text="no such file")
        return web.Response(body=self._files[name], content_type=content_type, charset="utf-8", headers=_HEADERS)

    async def get_setup(self, request: web.Request) -> web.Response:
        """``GET /api/setup``: the checklist and the URL to enter in the wallbox's installer app."""
        return web.json_response(await self.setup_report())

    async def get_logs(self, request: web.Request) -> web.Response:
        """``GET /api/logs``: recent log lines, newest first; ``level`` is the lowest shown, ``limit`` caps them."""
        try:
            limit = min(int(request.query.get("limit", "200")), MAX_LOG_LIMIT)
        except ValueError:
            raise web.HTTPBadRequest(text="limit must be a whole number") from None
        lines = self._logs.lines(min_level=level_number(request.query.get("level")), limit=max(limit, 0))
        return web.json_response([line.to_json() for line in lines])

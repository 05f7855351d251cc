"""The JSON API on the panel port (used by the panel, Home Assistant and tests)."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bmw_wallbox import __version__
from bmw_wallbox.controller import HTTP_STATUS, CommandResult, Controller
from bmw_wallbox.state import StateHub
from bmw_wallbox.trace import Trace
from bmw_wallbox.web.access import HEALTH_PATH, Handler, access_middleware

HUB_KEY = web.AppKey("hub", StateHub)
TRACE_KEY = web.AppKey("trace", Trace)
CONTROLLER_KEY = web.AppKey("controller", Controller)


async def healthz(request: web.Request) -> web.Response:
    """Liveness for the Docker HEALTHCHECK: 200 while the event loop answers."""
    return web.json_response({"status": "ok", "version": __version__})


async def list_chargers(request: web.Request) -> web.Response:
    """One snapshot per configured charger."""
    hub = request.app[HUB_KEY]
    return web.json_response([charger.snapshot() for charger in hub.chargers.values()])


async def get_charger(request: web.Request) -> web.Response:
    """One charger's snapshot plus its capabilities."""
    hub = request.app[HUB_KEY]
    charger = hub.chargers.get(request.match_info["charger_id"])
    if charger is None:
        raise web.HTTPNotFound(text='{"error": "unknown charger"}', content_type="application/json")
    data: dict[str, Any] = charger.snapshot()
    data["capabilities"] = asdict(charger.capabilities)
    data["evses"] = [
        {
            "evse_id": e.evse_id,
            "status": e.connector_status,
            "transaction_id": e.transaction.transaction_id if e.transaction else None,
        }
        for e in charger.evses.values()
    ]
    return web.json_response(data)


#: Columns of ``sessions.csv``, in order.
SESSION_COLUMNS = ("started_at", "ended_at", "duration_s", "energy_kwh", "stopped_reason", "transaction_id", "evse_id")


def _csv_cell(value: object) -> str:
    """A CSV cell; text a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


async def sessions_csv(request: web.Request) -> web.Response:
    """GET /api/chargers/{id}/sessions.csv: the kept session history, newest first, as a CSV download."""
    hub = request.app[HUB_KEY]
    charger_id = request.match_info["charger_id"]
    charger = hub.chargers.get(charger_id)
    if charger is None:
        raise web.HTTPNotFound(text='{"error": "unknown charger"}', content_type="application/json")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(SESSION_COLUMNS)
    for session in charger.sessions:
        writer.writerow([_csv_cell(session.get(column)) for column in SESSION_COLUMNS])
    filename = "sessions-" + "".join(c if c.isalnum() else "_" for c in charger_id) + ".csv"
    disposition = f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"
    return web.Response(
        text=buffer.getvalue(), content_type="text/csv", charset="utf-8", headers={"Content-Disposition": disposition}
    )


async def list_unknown(request: web.Request) -> web.Response:
    """Charging station ids that tried to connect but are not configured."""
    hub = request.app[HUB_KEY]
    return web.json_response(sorted(hub.unknown_ids.values(), key=lambda e: str(e.get("last_seen")), reverse=True))


async def get_trace(request: web.Request) -> web.Response:
    """The last OCPP frames, newest first; ``?charger=`` and ``?action=`` filter."""
    trace = request.app[TRACE_KEY]
    entries = trace.entries(charger_id=request.query.get("charger"), action=request.query.get("action"))
    return web.json_response([entry.to_json() for entry in entries])


def _answer(result: CommandResult) -> web.Response:
    return web.json_response(result.to_json(), status=HTTP_STATUS[result.outcome])


def _command(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        controller = request.app[CONTROLLER_KEY]
        method: Callable[[str], Awaitable[CommandResult]] = getattr(controller, name)
        return _answer(await method(request.match_info["charger_id"]))

    handler.__doc__ = f"POST /api/chargers/{{id}}/{name}: run the {name} command and answer with its honest outcome."
    return handler


async def put_current_limit(request: web.Request) -> web.Response:
    """PUT /api/chargers/{id}/current_limit with ``{"amps": N}``."""
    try:
        body = await request.json()
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        body = None
    if not isinstance(body, dict) or "amps" not in body:
        return web.json_response(
            {"command": "set_current_limit", "outcome": "invalid", "detail": 'send a JSON object like {"amps": 16}'},
            status=422,
        )
    result = await request.app[CONTROLLER_KEY].set_current_limit(request.match_info["charger_id"], body["amps"])
    return _answer(result)


COMMANDS = ("start", "pause", "resume", "stop", "reset")


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer HTTP errors under ``/api/`` (unknown route, wrong method, body too large) as JSON too."""
    try:
        return await handler(request)
    except web.HTTPException as err:
        if not request.path.startswith("/api/") or err.content_type == "application/json" or err.status < 400:
            raise
        return web.json_response({"error": err.reason, "status": err.status}, status=err.status, headers=_allow(err))


def _allow(err: web.HTTPException) -> dict[str, str]:
    """Keep the Allow header of a 405."""
    allow = err.headers.get("Allow")
    return {"Allow": allow} if allow else {}


def create_app(*, hub: StateHub, trace: Trace, controller: Controller, container: bool) -> web.Application:
    """Build the aiohttp application with the access policy for this environment."""
    app = web.Application(middlewares=[access_middleware(container=container), json_errors])
    app[HUB_KEY] = hub
    app[TRACE_KEY] = trace
    app[CONTROLLER_KEY] = controller
    for name in COMMANDS:
        app.router.add_post(f"/api/chargers/{{charger_id}}/{name}", _command(name))
    app.router.add_put("/api/chargers/{charger_id}/current_limit", put_current_limit)
    app.router.add_get(HEALTH_PATH, healthz)
    app.router.add_get("/api/chargers", list_chargers)
    app.router.add_get("/api/chargers/{charger_id}", get_charger)
    app.router.add_get("/api/chargers/{charger_id}/sessions.csv", sessions_csv)
    app.router.add_get("/api/unknown_chargers", list_unknown)
    app.router.add_get("/api/trace", get_trace)
    return app

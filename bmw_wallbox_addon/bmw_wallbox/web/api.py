"""The JSON API on the panel port (used by the panel, Home Assistant and tests)."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from bmw_wallbox import __version__
from bmw_wallbox.controller import SIMPLE_COMMANDS, Command, CommandResult, Controller, Outcome, run
from bmw_wallbox.hub import StateHub
from bmw_wallbox.trace import Trace
from bmw_wallbox.web.access import HEALTH_PATH, Handler, access_middleware
from bmw_wallbox.web.token_views import session_month, time_zone, valid_month
from bmw_wallbox.web.views import charger_detail, charger_snapshot

HUB_KEY = web.AppKey("hub", StateHub)
TRACE_KEY = web.AppKey("trace", Trace)
CONTROLLER_KEY = web.AppKey("controller", Controller)


async def healthz(request: web.Request) -> web.Response:
    """Liveness for the Docker HEALTHCHECK: 200 while the event loop answers."""
    return web.json_response({"status": "ok", "version": __version__})


async def list_chargers(request: web.Request) -> web.Response:
    """One snapshot per configured charger."""
    hub = request.app[HUB_KEY]
    return web.json_response([charger_snapshot(charger) for charger in hub.chargers.values()])


async def get_charger(request: web.Request) -> web.Response:
    """One charger's snapshot plus its capabilities."""
    hub = request.app[HUB_KEY]
    charger = hub.chargers.get(request.match_info["charger_id"])
    if charger is None:
        raise web.HTTPNotFound(text='{"error": "unknown charger"}', content_type="application/json")
    return web.json_response(charger_detail(charger))


#: Columns of ``sessions.csv``, in order.
SESSION_COLUMNS = (
    "started_at",
    "ended_at",
    "duration_s",
    "energy_kwh",
    "stopped_reason",
    "transaction_id",
    "evse_id",
    "token_name",
)


#: Where a spreadsheet may start a formula: the cell's start, or after a separator (``,``, or ``;`` as German
#: spreadsheets split), before ``= + - @`` (after blanks) or a TAB or CR.
_FORMULA_START = re.compile(r"(^|[;,])(?=[ \t\r\n]*[=+\-@]|[\t\r])")


def _csv_cell(value: object) -> str:
    """A CSV cell; wherever a spreadsheet could start a formula, an apostrophe makes it text (numbers stay)."""
    text = "" if value is None else str(value)
    return text if _is_number(text) else _FORMULA_START.sub(r"\1'", text)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


async def sessions_csv(request: web.Request) -> web.Response:
    """GET /api/chargers/{id}/sessions.csv: the kept session history, newest first, as a CSV download.

    ``?token=`` keeps the sessions of one token (its name, ``unknown`` or
    ``no token``); ``?month=YYYY-MM`` the sessions that started in that month,
    in the time zone ``?tz=`` (an IANA name; UTC by default).
    """
    hub = request.app[HUB_KEY]
    charger_id = request.match_info["charger_id"]
    charger = hub.chargers.get(charger_id)
    if charger is None:
        raise web.HTTPNotFound(text='{"error": "unknown charger"}', content_type="application/json")
    token, month = request.query.get("token"), request.query.get("month") or None
    if month is not None and not valid_month(month):
        return web.json_response({"error": "invalid", "detail": "month must be written YYYY-MM"}, status=422)
    zone = time_zone(request.query.get("tz"))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(SESSION_COLUMNS)
    for record in charger.sessions:
        row = record.to_json()
        if (token is not None and row["token_name"] != token) or (month and session_month(record, zone) != month):
            continue
        writer.writerow([_csv_cell(row.get(column)) for column in SESSION_COLUMNS])
    filename = "sessions-" + "".join(c if c.isalnum() else "_" for c in charger_id)
    filename += "".join(f"-{part}" for part in (month, token) if part)
    filename = "".join(c if c.isalnum() or c in "-_" else "_" for c in filename)[:120] + ".csv"
    disposition = f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"
    return web.Response(
        text=buffer.getvalue(), content_type="text/csv", charset="utf-8", headers={"Content-Disposition": disposition}
    )


async def list_unknown(request: web.Request) -> web.Response:
    """Charging station ids that tried to connect but are not configured."""
    hub = request.app[HUB_KEY]
    return web.json_response(hub.unknown_ids.to_json())


async def get_trace(request: web.Request) -> web.Response:
    """The last OCPP frames, newest first; ``?charger=`` and ``?action=`` filter."""
    trace = request.app[TRACE_KEY]
    entries = trace.entries(charger_id=request.query.get("charger"), action=request.query.get("action"))
    return web.json_response([entry.to_json() for entry in entries])


#: HTTP status of each outcome in the JSON API.
HTTP_STATUS: dict[Outcome, int] = {
    Outcome.ACCEPTED: 200,
    Outcome.REBOOTING: 202,
    Outcome.UNKNOWN_CHARGER: 404,
    Outcome.NOT_APPLICABLE: 409,
    Outcome.INVALID: 422,
    Outcome.NOT_SUPPORTED: 501,
    Outcome.REJECTED: 502,
    Outcome.NOT_CONNECTED: 503,
    Outcome.NOT_READY: 503,
    Outcome.TIMEOUT: 504,
}


def command_answer(result: CommandResult) -> web.Response:
    """A command's outcome as the JSON API answers it (with ``Retry-After`` when asking again later makes sense)."""
    headers = {"Retry-After": str(result.retry_after_s)} if result.retry_after_s is not None else None
    return web.json_response(result.to_json(), status=HTTP_STATUS[result.outcome], headers=headers)


#: The body fields each command takes (a field not listed is refused with 400).
_FIELDS: dict[Command, frozenset[str]] = {
    Command.SET_CURRENT_LIMIT: frozenset({"amps", "evse_id"}),
    Command.RESET: frozenset(),
}
_EVSE_ONLY = frozenset({"evse_id"})


async def _body(request: web.Request) -> object:
    """The request's JSON body; ``{}`` for none; None when it is not JSON."""
    if not request.body_exists:
        return {}
    try:
        text = await request.text()
        return json.loads(text) if text.strip() else {}
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        return None


def _unknown_fields(command: Command, body: dict[str, object]) -> web.Response | None:
    """400 naming the first body field this command does not take, or None."""
    allowed = _FIELDS.get(command, _EVSE_ONLY)
    unknown = sorted(str(key) for key in body if key not in allowed)
    if not unknown:
        return None
    takes = ", ".join(sorted(allowed)) or "no fields"
    detail = f"unknown field {unknown[0][:40]!r} (this command takes: {takes})"
    return web.json_response({"command": command, "outcome": "invalid", "detail": detail}, status=400)


def _command(command: Command) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        body = await _body(request)
        if not isinstance(body, dict):
            detail = 'send no body, or a JSON object like {"evse_id": 2}'
            return web.json_response({"command": command, "outcome": "invalid", "detail": detail}, status=400)
        if (refused := _unknown_fields(command, body)) is not None:
            return refused
        controller, charger_id = request.app[CONTROLLER_KEY], request.match_info["charger_id"]
        return command_answer(await run(controller, command, charger_id, evse_id=body.get("evse_id")))

    handler.__doc__ = (
        f'POST /api/chargers/{{id}}/{command} (optional body ``{{"evse_id": N}}``): run the command and answer'
        " with its honest outcome."
    )
    return handler


async def put_current_limit(request: web.Request) -> web.Response:
    """PUT /api/chargers/{id}/current_limit with ``{"amps": N}`` (a number or numeric text), optional ``evse_id``."""
    body = await _body(request)
    if not isinstance(body, dict) or "amps" not in body:
        return web.json_response(
            {"command": "set_current_limit", "outcome": "invalid", "detail": 'send a JSON object like {"amps": 16}'},
            status=422,
        )
    if (refused := _unknown_fields(Command.SET_CURRENT_LIMIT, body)) is not None:
        return refused
    controller, charger_id = request.app[CONTROLLER_KEY], request.match_info["charger_id"]
    return command_answer(
        await run(controller, Command.SET_CURRENT_LIMIT, charger_id, body["amps"], evse_id=body.get("evse_id"))
    )


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
    for command in SIMPLE_COMMANDS:
        app.router.add_post(f"/api/chargers/{{charger_id}}/{command}", _command(command))
    app.router.add_put("/api/chargers/{charger_id}/current_limit", put_current_limit)
    app.router.add_get(HEALTH_PATH, healthz)
    app.router.add_get("/api/chargers", list_chargers)
    app.router.add_get("/api/chargers/{charger_id}", get_charger)
    app.router.add_get("/api/chargers/{charger_id}/sessions.csv", sessions_csv)
    app.router.add_get("/api/unknown_chargers", list_unknown)
    app.router.add_get("/api/trace", get_trace)
    return app

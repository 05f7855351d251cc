"""The maintenance routes of the JSON API: charger logs, firmware files and updates.

- ``POST /api/chargers/{id}/get_log`` ``{"type": "DiagnosticsLog"|"SecurityLog", "oldest"?: ISO, "latest"?: ISO}``;
- ``GET /api/chargers/{id}/logs``: ``id``, ``name``, ``size``, ``received_at``, ``status`` (and progress) of each log;
- ``GET /api/chargers/{id}/logs/{log_id}``: the file as the charger sent it;
- ``POST /api/firmware`` (multipart form data, field ``file``), ``GET /api/firmware``: ``name``, ``size``, ``sha256``;
- ``POST /api/chargers/{id}/update_firmware`` ``{"name": ..., "install_at"?: ISO}``.

Answers and their statuses are :class:`~bmw_wallbox.maintenance.service.Reply`'s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import BodyPartReader, web

from bmw_wallbox.maintenance.files import CHUNK_BYTES, TooLargeError, safe_name
from bmw_wallbox.maintenance.service import Maintenance, Reply

MAINTENANCE_KEY = web.AppKey("maintenance", Maintenance)


def _json(reply: Reply) -> web.Response:
    return web.json_response(reply.body, status=reply.status)


async def _body(request: web.Request) -> object:
    try:
        return await request.json()
    except (ValueError, RecursionError):
        return None


async def get_log(request: web.Request) -> web.Response:
    """Ask the charger for a log (GetLog with a one-time upload URL)."""
    maintenance = request.app[MAINTENANCE_KEY]
    return _json(await maintenance.request_log(request.match_info["charger_id"], await _body(request)))


async def list_logs(request: web.Request) -> web.Response:
    """The charger's logs, newest first."""
    state = request.app[MAINTENANCE_KEY].charger(request.match_info["charger_id"])
    if state is None:
        return web.json_response({"error": "unknown_charger"}, status=404)
    return web.json_response([entry.to_json() for entry in state.upkeep.logs])


async def download_log(request: web.Request) -> web.StreamResponse:
    """One received log as a download."""
    charger_id, log_id = request.match_info["charger_id"], request.match_info["log_id"]
    path = request.app[MAINTENANCE_KEY].log_path(charger_id, log_id)
    if path is None:
        return web.json_response({"error": "unknown_log"}, status=404)
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{log_id}.log"',
        },
    )


async def list_firmware(request: web.Request) -> web.Response:
    """The uploaded firmware files."""
    return web.json_response(request.app[MAINTENANCE_KEY].firmware.listing())


async def upload_firmware(request: web.Request) -> web.Response:
    """Store the ``file`` field of a multipart form as a firmware file (413 past the cap, 422 without a file)."""
    firmware = request.app[MAINTENANCE_KEY].firmware
    try:
        reader = await request.multipart()
        part = await reader.next()
        while part is not None and not (isinstance(part, BodyPartReader) and part.name == "file"):
            part = await reader.next()
    except (ValueError, AssertionError, KeyError):
        part = None
    if not isinstance(part, BodyPartReader):
        return web.json_response(
            {"error": "invalid", "detail": "send multipart/form-data with a field file"}, status=422
        )
    name = safe_name(part.filename)
    if name is None:
        detail = "the file name may hold letters, digits, '.', '_' and '-' (at most 100, not starting with '.')"
        return web.json_response({"error": "invalid", "detail": detail}, status=422)

    async def chunks() -> AsyncIterator[bytes]:
        assert isinstance(part, BodyPartReader)
        while chunk := await part.read_chunk(CHUNK_BYTES):
            yield chunk

    try:
        stored = await firmware.add(name, chunks())
    except TooLargeError:
        response = web.json_response({"error": "too_large", "detail": f"at most {firmware.cap} bytes"}, status=413)
        response.force_close()
        return response
    return web.json_response(stored, status=201)


async def update_firmware(request: web.Request) -> web.Response:
    """Send UpdateFirmware with a one-time download URL of an uploaded file."""
    maintenance = request.app[MAINTENANCE_KEY]
    return _json(await maintenance.update_firmware(request.match_info["charger_id"], await _body(request)))


def install_maintenance_api(app: web.Application, maintenance: Maintenance) -> None:
    """Add the maintenance routes to the panel's application."""
    app[MAINTENANCE_KEY] = maintenance
    app.router.add_post("/api/chargers/{charger_id}/get_log", get_log)
    app.router.add_get("/api/chargers/{charger_id}/logs", list_logs)
    app.router.add_get("/api/chargers/{charger_id}/logs/{log_id}", download_log)
    app.router.add_post("/api/chargers/{charger_id}/update_firmware", update_firmware)
    app.router.add_get("/api/firmware", list_firmware)
    app.router.add_post("/api/firmware", upload_firmware)

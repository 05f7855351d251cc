"""Charger logs: GetLog with a one-time upload URL, the upload over PUT or POST, its caps and refusals."""

from __future__ import annotations

import asyncio
import os
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from ocpp.routing import after, on
from ocpp.v201 import call, call_result

from bmw_wallbox.app import Application
from bmw_wallbox.upkeep import MAX_LOGS

from conftest import AUTH_CHARGER_ID, CHARGER_ID, StartApp, api_get, api_send, default_options, ocpp_url
from helpers import eventually
from peer import LibraryCharger, library_charger

BASE = f"/api/chargers/{quote(CHARGER_ID, safe='')}"
LOG = os.urandom(300_000) + b"\nend of log\n"


class LoggingCharger(LibraryCharger):
    """A library charger that uploads ``LOG`` to the URL of a GetLog (``method`` PUT or POST), reporting statuses."""

    method = "PUT"
    upload = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ssl_context: ssl.SSLContext | None = None
        self.upload_status: int | None = None

    @on("GetLog")
    def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int, **kwargs: Any) -> call_result.GetLog:
        self._got("GetLog", {"log": log, "log_type": log_type, "request_id": request_id})
        return call_result.GetLog(status="Accepted", filename="diagnostics.log")

    @after("GetLog")
    async def after_get_log(self, log: dict[str, Any], request_id: int, **kwargs: Any) -> None:
        if not self.upload:
            return
        await self.call(call.LogStatusNotification(status="Uploading", request_id=request_id))
        self.upload_status = await upload(log["remote_location"], LOG, method=self.method, ssl_context=self.ssl_context)
        status = "Uploaded" if self.upload_status == 201 else "UploadFailure"
        await self.call(call.LogStatusNotification(status=status, request_id=request_id))


async def upload(url: str, body: bytes, *, method: str, ssl_context: ssl.SSLContext | None) -> int:
    """PUT the raw bytes or POST them as multipart form data; the HTTP status."""
    data: Any = body
    if method == "POST":
        data = aiohttp.FormData()
        data.add_field("file", body, filename="diagnostics.log", content_type="application/octet-stream")
    async with aiohttp.ClientSession() as http, http.request(method, url, data=data, ssl=ssl_context) as response:
        return response.status


async def request_log(app: Application, charger: LoggingCharger) -> tuple[dict[str, Any], str]:
    """Ask for a diagnostics log through the API; the log entry and the upload URL the charger got."""
    status, answer = await api_send(app, "POST", f"{BASE}/get_log", {"type": "DiagnosticsLog"})
    assert status == 200, answer
    request = await charger.next_call("GetLog")
    return answer["log"], request["log"]["remote_location"]


async def received(app: Application, log_id: str) -> dict[str, Any]:
    """The log entry once the whole file arrived and the charger said Uploaded."""
    return await eventually(
        lambda: api_get(app, f"{BASE}/logs"),
        what="the log received and reported Uploaded",
        until=lambda logs: any(e["id"] == log_id and e["status"] == "Uploaded" and e["size"] for e in logs),
    )


@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_log_arrives_byte_for_byte(
    start_app: StartApp, client_ssl: ssl.SSLContext, method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A requested log is uploaded over PUT or POST and downloadable byte for byte, listed with its status."""
    app = await start_app()
    monkeypatch.setattr(LoggingCharger, "method", method)
    async with library_charger(
        ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, charger_class=LoggingCharger
    ) as charger:
        charger.ssl_context = client_ssl
        entry, url = await request_log(app, charger)
        logs = await received(app, entry["id"])
    assert url.startswith(f"https://localhost:{app.maintenance.transfer.port}/transfer/")
    assert len(url.rsplit("/", 1)[-1]) >= 16
    listed = next(e for e in logs if e["id"] == entry["id"])
    assert (listed["name"], listed["size"], listed["type"]) == ("diagnostics.log", len(LOG), "DiagnosticsLog")
    url = f"http://127.0.0.1:{app.panel_port}{BASE}/logs/{entry['id']}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        assert await response.read() == LOG


async def test_used_foreign_and_expired_urls_are_refused(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """An upload URL works once, only for its own charger, and not after it expired."""
    app = await start_app()
    async with library_charger(
        ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, charger_class=LoggingCharger
    ) as charger:
        charger.ssl_context = client_ssl
        entry, url = await request_log(app, charger)
        await received(app, entry["id"])
        reused = await upload(url, b"again", method="PUT", ssl_context=client_ssl)
        charger.upload = False
        _, fresh = await request_log(app, charger)
        foreign = fresh.replace(quote(CHARGER_ID, safe=""), quote(AUTH_CHARGER_ID, safe=""))
        refused_foreign = await upload(foreign, b"x", method="PUT", ssl_context=client_ssl)
        guessed = await upload(fresh[:-4] + "AAAA", b"x", method="PUT", ssl_context=client_ssl)
        app.maintenance.link_ttl_s = 0.0
        _, expired = await request_log(app, charger)
        refused_expired = await upload(expired, b"x", method="PUT", ssl_context=client_ssl)
        accepted_fresh = await upload(fresh, b"fresh", method="PUT", ssl_context=client_ssl)
    assert (reused, refused_foreign, guessed, refused_expired, accepted_fresh) == (410, 404, 404, 410, 201)


def files_in(folder: Path) -> list[str]:
    """Every file under ``folder`` (hidden part files too), but the log list."""
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and p.name != "logs.json")


@pytest.mark.parametrize("method", ["PUT", "PUT-chunked", "POST"])
async def test_upload_over_the_cap_is_cut_and_leaves_nothing(
    start_app: StartApp, client_ssl: ssl.SSLContext, method: str
) -> None:
    """Past the cap the answer is 413 (or the connection is cut) and nothing of the upload stays on disk."""
    app = await start_app()
    app.maintenance.transfer.cap = 100_000
    async with library_charger(
        ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, charger_class=LoggingCharger
    ) as charger:
        charger.upload = False
        _, url = await request_log(app, charger)
        body = os.urandom(300_000)

        async def chunked() -> Any:
            for start in range(0, len(body), 10_000):
                yield body[start : start + 10_000]

        try:
            if method == "PUT-chunked":
                async with aiohttp.ClientSession() as http, http.put(url, data=chunked(), ssl=client_ssl) as response:
                    status = response.status
            else:
                status = await upload(url, body, method=method, ssl_context=client_ssl)
        except aiohttp.ClientError:
            status = 0  # the connection was cut
    assert status in (413, 0)
    folder = app.settings.data_dir / "maintenance"
    assert files_in(folder) == []
    logs = await api_get(app, f"{BASE}/logs")
    assert (logs[0]["size"], logs[0]["bytes_received"]) == (None, 0)


async def test_get_log_refusals(start_app: StartApp) -> None:
    """An unknown charger, a bad log type and a charger that is not connected are refused with their statuses."""
    app = await start_app()
    unknown = await api_send(app, "POST", "/api/chargers/nope/get_log", {"type": "DiagnosticsLog"})
    bad_type = await api_send(app, "POST", f"{BASE}/get_log", {"type": "Everything"})
    offline = await api_send(app, "POST", f"{BASE}/get_log", {"type": "SecurityLog"})
    assert (unknown[0], bad_type[0], offline[0]) == (404, 422, 503)


async def test_received_logs_survive_a_restart(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """A received log is listed and downloadable after the app restarts with the same data dir."""
    app = await start_app()
    async with library_charger(
        ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, charger_class=LoggingCharger
    ) as charger:
        charger.ssl_context = client_ssl
        entry, _ = await request_log(app, charger)
        await received(app, entry["id"])
    await app.stop()
    again = await start_app(data_dir=app.settings.data_dir)
    logs = await api_get(again, f"{BASE}/logs")
    url = f"http://127.0.0.1:{again.panel_port}{BASE}/logs/{entry['id']}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        body = await response.read()
    assert [(e["id"], e["size"], e["status"]) for e in logs] == [(entry["id"], len(LOG), "Uploaded")]
    assert body == LOG


async def test_a_stalled_upload_is_cut_and_leaves_nothing(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """An upload that stops sending is cut after the upload timeout; nothing of it stays on disk."""
    app = await start_app()
    app.maintenance.transfer.upload_timeout_s = 0.3
    stalled = asyncio.Event()
    async with library_charger(
        ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, charger_class=LoggingCharger
    ) as charger:
        charger.upload = False
        _, url = await request_log(app, charger)

        async def stalling() -> Any:
            yield b"x" * 10_000
            await stalled.wait()  # the sender never sends the rest

        try:
            async with aiohttp.ClientSession() as http, http.put(url, data=stalling(), ssl=client_ssl) as response:
                status = response.status
        except aiohttp.ClientError:
            status = 0
    assert status in (408, 0)
    assert files_in(app.settings.data_dir / "maintenance") == []


async def test_without_tls_the_upload_url_is_plain_http(start_app: StartApp) -> None:
    """With option ssl off the charger gets an http:// URL on the transfer port, and its PUT is stored."""
    app = await start_app(options=default_options(ssl=False))
    async with library_charger(ocpp_url(app), CHARGER_ID, charger_class=LoggingCharger) as charger:
        entry, url = await request_log(app, charger)
        await received(app, entry["id"])
    assert url.startswith(f"http://localhost:{app.maintenance.transfer.port}/transfer/")
    assert charger.upload_status == 201


async def test_logs_are_bounded_per_charger(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Past ``MAX_LOGS`` the oldest log is dropped with its file, and its URL no longer takes an upload."""
    app = await start_app()
    async with library_charger(
        ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, charger_class=LoggingCharger
    ) as charger:
        charger.ssl_context = client_ssl
        first, first_url = await request_log(app, charger)
        await received(app, first["id"])
        charger.upload = False
        for _ in range(MAX_LOGS):
            await request_log(app, charger)
        late = await upload(first_url, b"late", method="PUT", ssl_context=client_ssl)
    logs = await api_get(app, f"{BASE}/logs")
    assert len(logs) == MAX_LOGS
    assert first["id"] not in [e["id"] for e in logs]
    assert late == 410
    assert files_in(app.settings.data_dir / "maintenance") == []
    status, _ = await api_send(app, "GET", f"{BASE}/logs/{first['id']}")
    assert status == 404

"""Firmware: uploaded in the panel, served to the charger from a one-time URL, its statuses in the snapshot."""

from __future__ import annotations

import hashlib
import os
import ssl
from typing import Any
from urllib.parse import quote

import aiohttp
from ocpp.routing import after, on
from ocpp.v201 import call, call_result

from bmw_wallbox.app import Application

from conftest import CHARGER_ID, StartApp, api_get, api_send, charger_snapshot, ocpp_url
from helpers import eventually
from peer import LibraryCharger, library_charger

BASE = f"/api/chargers/{quote(CHARGER_ID, safe='')}"
FIRMWARE = os.urandom(700_000)
NAME = "wallbox-01.20.07.00.bin"


class UpdatingCharger(LibraryCharger):
    """A library charger that fetches the firmware of an UpdateFirmware and reports each status."""

    download = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ssl_context: ssl.SSLContext | None = None
        self.fetched: bytes | None = None

    @on("UpdateFirmware")
    def on_update_firmware(self, request_id: int, firmware: dict[str, Any], **kwargs: Any) -> Any:
        self._got("UpdateFirmware", {"request_id": request_id, "firmware": firmware})
        return call_result.UpdateFirmware(status="Accepted")

    @after("UpdateFirmware")
    async def after_update_firmware(self, request_id: int, firmware: dict[str, Any], **kwargs: Any) -> None:
        await self.report("Downloading", request_id)
        if not self.download:
            await self.report("DownloadFailed", request_id)
            return
        self.fetched = await fetch(firmware["location"], self.ssl_context)
        for status in ("Downloaded", "Installing", "Installed"):
            await self.report(status, request_id)

    async def report(self, status: str, request_id: int) -> None:
        """FirmwareStatusNotification."""
        await self.call(call.FirmwareStatusNotification(status=status, request_id=request_id), suppress=False)


async def fetch(url: str, ssl_context: ssl.SSLContext | None) -> bytes | int:
    """GET a URL: its body, or the status when it is not 200."""
    async with aiohttp.ClientSession() as http, http.get(url, ssl=ssl_context) as response:
        return await response.read() if response.status == 200 else response.status


async def upload_firmware(
    app: Application, body: bytes = FIRMWARE, name: str = NAME, *, header: bool = True
) -> tuple[int, Any]:
    """POST /api/firmware with the multipart field ``file`` (and the ``X-Upload`` header the panel sends)."""
    form = aiohttp.FormData()
    form.add_field("file", body, filename=name, content_type="application/octet-stream")
    url = f"http://127.0.0.1:{app.panel_port}/api/firmware"
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=form, headers={"X-Upload": "1"} if header else {}) as response,
    ):
        return response.status, await response.json()


async def firmware_status(app: Application, status: str) -> dict[str, Any]:
    """The snapshot once its ``firmware_update`` has ``status``."""
    return await eventually(
        lambda: charger_snapshot(app),
        what=f"firmware_update {status}",
        until=lambda snap: (snap["firmware_update"] or {}).get("status") == status,
    )


async def test_firmware_is_fetched_byte_for_byte_and_its_statuses_kept(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """The uploaded file is listed with its SHA-256, fetched whole once; the update's statuses reach the snapshot."""
    app = await start_app()
    stored = await upload_firmware(app)
    listed = await api_get(app, "/api/firmware")
    async with library_charger(
        ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, charger_class=UpdatingCharger
    ) as charger:
        charger.ssl_context = client_ssl
        status, answer = await api_send(app, "POST", f"{BASE}/update_firmware", {"name": NAME})
        request = await charger.next_call("UpdateFirmware")
        snapshot = await firmware_status(app, "Installed")
        again = await fetch(request["firmware"]["location"], client_ssl)
    digest = hashlib.sha256(FIRMWARE).hexdigest()
    assert stored == (201, {"name": NAME, "size": len(FIRMWARE), "sha256": digest})
    assert [(f["name"], f["size"], f["sha256"]) for f in listed] == [(NAME, len(FIRMWARE), digest)]
    assert (status, answer["status"]) == (200, "Accepted")
    assert charger.fetched == FIRMWARE
    assert again == 410
    assert snapshot["firmware_update"]["name"] == NAME
    assert snapshot["firmware_update"]["updated_at"]


async def test_a_new_update_after_a_failed_download_is_accepted(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """After DownloadFailed a new update_firmware is sent; while one is under way a second is refused (409)."""
    app = await start_app()
    await upload_firmware(app)
    async with library_charger(
        ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, charger_class=UpdatingCharger
    ) as charger:
        charger.ssl_context = client_ssl
        charger.download = False
        first = await api_send(app, "POST", f"{BASE}/update_firmware", {"name": NAME})
        await firmware_status(app, "DownloadFailed")
        charger.download = True
        second = await api_send(app, "POST", f"{BASE}/update_firmware", {"name": NAME})
        busy = await api_send(app, "POST", f"{BASE}/update_firmware", {"name": NAME})
        await firmware_status(app, "Installed")
    assert (first[0], second[0]) == (200, 200)
    assert busy[0] in (409, 200)  # 200 only if the whole update finished before the third request
    assert charger.fetched == FIRMWARE


async def test_firmware_refusals(start_app: StartApp) -> None:
    """Unknown files, unsafe names, files over the cap and forms without ``X-Upload`` are refused; nothing is kept."""
    app = await start_app()
    app.maintenance.firmware.cap = 1000
    unknown = await api_send(app, "POST", f"{BASE}/update_firmware", {"name": "missing.bin"})
    unsafe = await upload_firmware(app, b"x", name=".hidden")
    too_large = await upload_firmware(app, os.urandom(5000))
    cross_site = await upload_firmware(app, b"x", header=False)
    assert (unknown[0], unsafe[0], too_large[0], cross_site[0]) == (404, 422, 413, 415)
    assert list((app.settings.data_dir / "maintenance").rglob("*.*")) == []

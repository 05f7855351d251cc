"""Logs and firmware in the simulated wallbox: GetLog uploads a generated log, UpdateFirmware downloads a file.

GetLog is answered Accepted with a file name; after the answer the wallbox
reports ``Uploading``, sends a generated log (:func:`generated_log`) to the
URL over HTTP(S), as a PUT of the raw file or a POST of multipart form data
(:attr:`Transfers.upload_method`), and reports ``Uploaded`` or
``UploadFailure``. UpdateFirmware is answered Accepted; the wallbox reports
``Downloading``, fetches the file, and reports ``Downloaded``, ``Installing``
and ``Installed`` (or ``DownloadFailed``). What it sent and fetched is kept
for tests (:attr:`Transfers.uploaded`, :attr:`Transfers.firmware`). The
simulated firmware version does not change.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_lib
from typing import TYPE_CHECKING, Any

import aiohttp

from bmw_wallbox.simulator._lib import call, call_result, enums, on

if TYPE_CHECKING:
    from bmw_wallbox.simulator.station import Station

#: Lines of a generated log.
LOG_LINES = 2000
#: Seconds a transfer may take (real time).
TRANSFER_TIMEOUT_S = 60.0


def generated_log(charger_id: str, log_type: str, at: str) -> bytes:
    """A log the simulator uploads: ``LOG_LINES`` numbered lines, about 100 kB."""
    lines = [f"{at} {charger_id} {log_type} line {n:05d}: simulated wallbox log entry" for n in range(LOG_LINES)]
    return ("\n".join(lines) + "\n").encode()


class Transfers:
    """The wallbox's HTTP transfers: one task each, cancelled with :meth:`close`."""

    def __init__(self, station: Station) -> None:
        self._station = station
        #: TLS context for ``https://`` URLs (the uplink's).
        self.ssl: ssl_lib.SSLContext | None = None
        #: ``PUT`` (raw file) or ``POST`` (multipart form data, field ``file``).
        self.upload_method = "PUT"
        #: The last log uploaded and the last firmware fetched, whole.
        self.uploaded: bytes | None = None
        self.firmware: bytes | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, coroutine: Any) -> None:
        """Run a transfer in its own task."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Cancel the transfers under way."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def upload_log(self, url: str, request_id: int, log_type: str, filename: str) -> None:
        """Report Uploading, upload a generated log, report the outcome."""
        station = self._station
        station.post([call.LogStatusNotification(status="Uploading", request_id=request_id)])
        body = generated_log(station.identity.charger_id, log_type, station.clock.iso())
        data: Any = body
        if self.upload_method == "POST":
            data = aiohttp.FormData()
            data.add_field("file", body, filename=filename, content_type="text/plain")
        status = await self._send(self.upload_method, url, data=data)
        if status in (200, 201, 204):
            self.uploaded = body
        station.log.info("GetLog upload %s %s -> %s", self.upload_method, filename, status)
        outcome = "Uploaded" if self.uploaded is body else "UploadFailure"
        station.post([call.LogStatusNotification(status=outcome, request_id=request_id)])

    async def update_firmware(self, url: str, request_id: int) -> None:
        """Report Downloading, fetch the firmware, then Downloaded, Installing, Installed (or DownloadFailed)."""
        station = self._station
        station.post([call.FirmwareStatusNotification(status="Downloading", request_id=request_id)])
        fetched = await self._fetch(url)
        station.log.info("UpdateFirmware download -> %s", "whole" if fetched is not None else "failed")
        if fetched is None:
            station.post([call.FirmwareStatusNotification(status="DownloadFailed", request_id=request_id)])
            return
        self.firmware = fetched
        for status in ("Downloaded", "Installing", "Installed"):
            station.post([call.FirmwareStatusNotification(status=status, request_id=request_id)])

    async def _send(self, method: str, url: str, *, data: Any) -> int:
        try:
            async with (
                asyncio.timeout(TRANSFER_TIMEOUT_S),
                aiohttp.ClientSession() as http,
                http.request(method, url, data=data, ssl=self.ssl or True) as response,
            ):
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return 0

    async def _fetch(self, url: str) -> bytes | None:
        try:
            async with (
                asyncio.timeout(TRANSFER_TIMEOUT_S),
                aiohttp.ClientSession() as http,
                http.get(url, ssl=self.ssl or True) as response,
            ):
                return await response.read() if response.status == 200 else None
        except (aiohttp.ClientError, TimeoutError):
            return None


class TransferHandlers:
    """The GetLog and UpdateFirmware handlers of the simulated charge point (a mixin)."""

    _station: Station

    @on(enums.Action.get_log)
    def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int, **kwargs: Any) -> Any:
        """Accept, and upload a generated log after the answer."""
        filename = f"{log_type}-{request_id}.log"
        transfers = self._station.transfers
        self._station.after_response(
            then=lambda: transfers.start(transfers.upload_log(log["remote_location"], request_id, log_type, filename))
        )
        return call_result.GetLog(status=enums.LogStatusEnumType.accepted, filename=filename)

    @on(enums.Action.update_firmware)
    def on_update_firmware(self, request_id: int, firmware: dict[str, Any], **kwargs: Any) -> Any:
        """Accept, and fetch the firmware after the answer."""
        transfers = self._station.transfers
        self._station.after_response(
            then=lambda: transfers.start(transfers.update_firmware(firmware["location"], request_id))
        )
        return call_result.UpdateFirmware(status=enums.UpdateFirmwareStatusEnumType.accepted)

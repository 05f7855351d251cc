"""The transfer server: where chargers upload logs and download firmware, over one-time URLs.

It listens on its own port (``--transfer-port``, 9001 in the container, over
TLS with the OCPP server's certificate when option ``ssl`` is on). Paths are
``/transfer/<charger id>/<token>`` (see :mod:`.links`):

==========================  ======================================================
Request                     Answer
==========================  ======================================================
PUT (the raw file)          201 when stored whole; 413 past the cap (Content-Length
POST (multipart form data,  too large, or too many bytes: the connection is cut and
the first file part)        nothing stays on disk); the link is then used up; 408
                            when slower than ``UPLOAD_TIMEOUT_S`` (nothing kept)
GET / HEAD                  200 with the file (a GET that sent it whole uses the link up)
unknown or foreign link     404
expired or used link        410
link in use                 409
==========================  ======================================================

One log line per transfer (its outcome) and per refusal.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from aiohttp import BodyPartReader, web

from bmw_wallbox.errors import StartupError
from bmw_wallbox.logsafe import shown
from bmw_wallbox.maintenance.files import CHUNK_BYTES, MAX_FILE_BYTES, TooLargeError
from bmw_wallbox.maintenance.links import Kind, Link, Links, Refusal

_LOGGER = logging.getLogger(__name__)

#: Bytes a multipart form may carry besides the file (boundaries, headers).
FORM_OVERHEAD_BYTES = 64 * 1024
#: Seconds an upload may take; a slower one is cut (408) and nothing of it is kept.
UPLOAD_TIMEOUT_S = 600.0


class Transfers(Protocol):
    """What the transfer server asks of the maintenance service."""

    async def upload(self, link: Link, chunks: AsyncIterator[bytes], *, name: str | None) -> int:
        """Store an upload (raises :class:`TooLargeError`); its size."""

    def download_path(self, link: Link) -> Path | None:
        """The file a download link serves, None when it is gone."""

    def downloaded(self, link: Link) -> None:
        """A download link's file was sent whole."""


class TransferServer:
    """The HTTP(S) server of the one-time URLs."""

    def __init__(self, links: Links, transfers: Transfers, *, cap: int = MAX_FILE_BYTES) -> None:
        self._links = links
        self._transfers = transfers
        self.cap = cap
        self.upload_timeout_s = UPLOAD_TIMEOUT_S
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self._tls = False

    def base_url(self, host: str) -> str:
        """The start of a one-time URL for a charger that reaches the add-on by ``host``."""
        return f"{'https' if self._tls else 'http'}://{host}:{self.port}"

    def app(self) -> web.Application:
        """The aiohttp application (its body size limit does not apply: bodies are streamed)."""
        app = web.Application()
        path = "/transfer/{charger_id}/{token}"
        app.router.add_put(path, self._put)
        app.router.add_post(path, self._post)
        app.router.add_get(path, self._get)
        return app

    async def start(self, host: str | None, port: int, *, tls: ssl.SSLContext | None) -> int:
        """Listen; the port bound (a :class:`StartupError` when it cannot be opened)."""
        self._tls = tls is not None
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=tls)
        try:
            await site.start()
        except OSError as err:
            raise StartupError(f"Transfer port {port} cannot be opened: {err.strerror}") from None
        sockets = getattr(site._server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else port
        _LOGGER.info("Transfer server (charger logs and firmware) listening on port %s", self.port)
        return self.port

    async def stop(self) -> None:
        """Stop listening (transfers under way are cut)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _link(self, request: web.Request, kind: Kind) -> Link:
        charger_id, token = request.match_info["charger_id"], request.match_info["token"]
        found = self._links.check(token, kind, charger_id)
        if isinstance(found, Refusal):
            _LOGGER.warning(
                "Refused %s %s for %s from %s: %s",
                request.method,
                kind,
                shown(charger_id),
                request.remote,
                found.reason,
            )
            raise _error(found.status, found.reason)
        return found

    async def _put(self, request: web.Request) -> web.StreamResponse:
        link = self._link(request, Kind.UPLOAD)
        return await self._store(request, link, request.content.iter_chunked(CHUNK_BYTES), name=None)

    async def _post(self, request: web.Request) -> web.StreamResponse:
        link = self._link(request, Kind.UPLOAD)
        if request.content_length is not None and request.content_length > self.cap + FORM_OVERHEAD_BYTES:
            return self._too_large(link)
        try:
            reader = await request.multipart()
            part = await reader.next()
            while part is not None and not (isinstance(part, BodyPartReader) and part.filename):
                part = await reader.next()
        except (ValueError, AssertionError, KeyError):
            part = None
        if not isinstance(part, BodyPartReader):
            raise _error(400, "send multipart/form-data with a file part")
        return await self._store(request, link, _part_chunks(part), name=part.filename)

    async def _store(
        self, request: web.Request, link: Link, chunks: AsyncIterator[bytes], *, name: str | None
    ) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > self.cap + FORM_OVERHEAD_BYTES:
            return self._too_large(link)
        self._links.begin(link)
        complete = False
        try:
            async with asyncio.timeout(self.upload_timeout_s):
                size = await self._transfers.upload(link, chunks, name=name)
            complete = True
        except TooLargeError:
            return self._too_large(link)
        except LookupError:  # the log was dropped (a newer one past the limit) while its upload came
            raise _error(410, "log dropped") from None
        except TimeoutError:
            _LOGGER.warning("[%s] Upload cut: slower than %.0f s", shown(link.charger_id), self.upload_timeout_s)
            response = web.Response(status=408, text="upload too slow\n")
            response.force_close()
            return response
        finally:
            self._links.end(link, complete=complete)
        _LOGGER.info("[%s] Upload stored: %s bytes", shown(link.charger_id), size)
        return web.Response(status=201, text="stored\n")

    def _too_large(self, link: Link) -> web.Response:
        self._links.end(link, complete=True)
        _LOGGER.warning("[%s] Upload refused: larger than %s bytes", shown(link.charger_id), self.cap)
        response = web.Response(status=413, text=f"larger than {self.cap} bytes\n")
        response.force_close()
        return response

    async def _get(self, request: web.Request) -> web.StreamResponse:
        link = self._link(request, Kind.DOWNLOAD)
        path = self._transfers.download_path(link)
        if path is None:
            raise _error(404, "file gone")
        size = path.stat().st_size
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        if request.method == "HEAD":
            return web.Response(headers=headers)
        response = web.StreamResponse(headers=headers)
        self._links.begin(link)
        complete = False
        try:
            await response.prepare(request)
            with path.open("rb") as handle:
                while chunk := handle.read(CHUNK_BYTES):
                    await response.write(chunk)
            await response.write_eof()
            complete = True
        finally:
            self._links.end(link, complete=complete)
        self._transfers.downloaded(link)
        _LOGGER.info("[%s] Download sent: %s (%s bytes)", shown(link.charger_id), path.name, size)
        return response


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK_BYTES):
        yield chunk


_ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    410: web.HTTPGone,
}


def _error(status: int, reason: str) -> web.HTTPException:
    """An HTTP error with a one-line text body."""
    return _ERRORS[status](text=reason + "\n")

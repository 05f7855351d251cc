"""A stand-in for the Supervisor's ingress proxy, for the panel's browser tests.

It serves the panel under ``/api/hassio_ingress/<token>/``: strips the prefix,
adds ``X-Ingress-Path``, and proxies plain requests and WebSockets to the
add-on's panel port. Anything outside the prefix is 404, so a page that uses
an absolute URL fails its test.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Self

import aiohttp
from aiohttp import WSMsgType, web

#: Headers that belong to one hop and are not forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-encoding",
    }
)


class IngressProxy:
    """Serves ``http://127.0.0.1:<port>/api/hassio_ingress/<token>/`` from the panel on ``upstream_port``."""

    def __init__(self, upstream_port: int, *, token: str = "tok3n-abc") -> None:  # noqa: S107 (an ingress path, not a secret)
        self.upstream = f"127.0.0.1:{upstream_port}"
        self.prefix = f"/api/hassio_ingress/{token}"
        self.port: int | None = None
        self.forwarded: list[str] = []
        self._sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        """The page's address through the proxy (with the trailing slash, as Home Assistant opens it)."""
        return f"http://127.0.0.1:{self.port}{self.prefix}/"

    async def __aenter__(self) -> Self:
        self._http = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", self.prefix + "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.drop_websockets()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def drop_websockets(self) -> None:
        """Cut every proxied WebSocket, as when Home Assistant or the network goes away for a moment."""
        for ws in list(self._sockets):
            await ws.close(code=1012, message=b"proxy restarting")

    def _headers(self, request: web.Request) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["X-Ingress-Path"] = self.prefix
        headers["X-Forwarded-For"] = request.remote or ""
        return headers

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._http is not None
        tail = "/" + request.match_info["tail"]
        self.forwarded.append(tail)
        query = f"?{request.query_string}" if request.query_string else ""
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request, f"ws://{self.upstream}{tail}{query}")
        async with self._http.request(
            request.method,
            f"http://{self.upstream}{tail}{query}",
            headers=self._headers(request),
            data=await request.read(),
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=upstream.status, body=body, headers=headers)

    async def _websocket(self, request: web.Request, url: str) -> web.WebSocketResponse:
        assert self._http is not None
        downstream = web.WebSocketResponse()
        await downstream.prepare(request)
        self._sockets.add(downstream)
        try:
            headers = {k: v for k, v in self._headers(request).items() if not k.lower().startswith("sec-websocket")}
            async with self._http.ws_connect(url, headers=headers) as upstream:

                async def pump(source: aiohttp.ClientWebSocketResponse | web.WebSocketResponse, sink: object) -> None:
                    async for message in source:
                        if message.type == WSMsgType.TEXT:
                            await sink.send_str(message.data)  # type: ignore[attr-defined]
                        elif message.type == WSMsgType.BINARY:
                            await sink.send_bytes(message.data)  # type: ignore[attr-defined]
                    await sink.close()  # type: ignore[attr-defined]

                tasks = [
                    asyncio.create_task(pump(upstream, downstream)),
                    asyncio.create_task(pump(downstream, upstream)),
                ]
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, ConnectionResetError):
                        await task
        finally:
            self._sockets.discard(downstream)
            await downstream.close()
        return downstream

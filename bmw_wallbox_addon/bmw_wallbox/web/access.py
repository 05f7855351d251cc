"""Who may talk to the panel port.

In the container only the Supervisor's ingress proxy (``172.30.32.2``) is
served, plus loopback for the Docker health check; outside the container
(standalone, tests, demo) loopback only. Everyone else gets 403.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

INGRESS_PROXY = ipaddress.ip_address("172.30.32.2")
HEALTH_PATH = "/healthz"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_allowed(remote: str | None, path: str, *, container: bool) -> bool:
    """Decide whether a request from ``remote`` to ``path`` is served."""
    if remote is None:
        return False
    try:
        address = ipaddress.ip_address(remote.split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if container:
        return address == INGRESS_PROXY or (address.is_loopback and path == HEALTH_PATH)
    return address.is_loopback


def access_middleware(*, container: bool) -> Middleware:
    """An aiohttp middleware that answers 403 to every request :func:`is_allowed` refuses."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_allowed(request.remote, request.path, container=container):
            return web.json_response({"error": "forbidden", "detail": "this address may not use the panel"}, status=403)
        return await handler(request)

    return middleware

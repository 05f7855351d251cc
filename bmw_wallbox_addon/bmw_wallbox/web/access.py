"""Who may talk to the panel port, and which requests a browser page elsewhere cannot make.

The policy, decided by :func:`refusal` without I/O and applied by
:func:`access_middleware` to every request (the page, the JSON API and the
``/api/ws`` WebSocket alike):

==============================================  ======  =========================================
Request                                         Status  Why
==============================================  ======  =========================================
from an address that may not use the panel      403     in the container only the Supervisor's
                                                        ingress proxy (``172.30.32.2``), plus
                                                        loopback for ``/healthz``; outside the
                                                        container (standalone, demo) loopback only
``Host`` that is not this server: a loopback    403     DNS rebinding: a page on
name or address (``localhost``, ``127.0.0.1``,          ``evil.example`` whose name now points
``[::1]``) with the panel port                          at 127.0.0.1 sends ``Host:
                                                        evil.example``
POST/PUT/PATCH/DELETE or a WebSocket upgrade    403     cross-site request: a page elsewhere may
whose ``Origin`` is not this server                     send these (and read the WebSocket); no
                                                        ``Origin`` is a non-browser client
POST/PUT/PATCH/DELETE with a body that is not   415     a plain HTML form posts urlencoded,
``application/json``, or without a body but             multipart or text (old browsers without
with a form or text ``Content-Type``                    an Origin); JSON needs a CORS preflight,
(multipart/form-data passes with an                     which this server never grants (nor for
``X-Upload`` header: the firmware upload)               a request with an ``X-Upload`` header)
==============================================  ======  =========================================

Requests from the ingress proxy in the container are exempt from the Host
and Origin checks: Home Assistant authenticated the user, and the proxy
forwards the browser's Host and Origin, which name Home Assistant. A request
that carries ``X-Ingress-Path`` (an ingress-style proxy on loopback, as in the
tests) is exempt from the Origin check only: a page elsewhere cannot add that
header without a CORS preflight, and a browser WebSocket cannot add it at all;
its Host is still checked.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from bmw_wallbox.logsafe import shown

INGRESS_PROXY = ipaddress.ip_address("172.30.32.2")
HEALTH_PATH = "/healthz"
#: Methods that change nothing; every other method must pass the Origin and media type checks.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Media types a page on another origin may send without a CORS preflight (what an HTML form posts).
CORS_SIMPLE_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, kw_only=True)
class Refusal:
    """Why a request is not served: the HTTP status, the JSON ``error`` and a sentence for ``detail``."""

    status: int
    error: str
    detail: str


def _address(remote: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if remote is None:
        return None
    try:
        address = ipaddress.ip_address(remote.split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_allowed(remote: str | None, path: str, *, container: bool) -> bool:
    """Decide whether a request from ``remote`` to ``path`` is served."""
    address = _address(remote)
    if address is None:
        return False
    if container:
        return address == INGRESS_PROXY or (address.is_loopback and path == HEALTH_PATH)
    return address.is_loopback


def _host_and_port(authority: str, default_port: int) -> tuple[str, int] | None:
    """``(hostname, port)`` of a ``host[:port]`` authority, lowercased; None if it is not one."""
    if not authority or any(c in authority for c in "/?#@\\ "):
        return None
    try:
        parts = urlsplit(f"//{authority}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), port if port is not None else default_port


def host_allowed(host: str | None, *, port: int) -> bool:
    """Whether a ``Host`` header names this server: a loopback name or address with the panel ``port``."""
    parsed = _host_and_port(host or "", 80)
    if parsed is None or parsed[1] != port:
        return False
    name = parsed[0]
    if name == "localhost":
        return True
    address = _address(name)
    return address is not None and address.is_loopback


def origin_allowed(origin: str | None, *, host: str | None) -> bool:
    """Whether a request's ``Origin`` is this server: absent (not a browser), or ``http://`` plus the ``Host``."""
    if origin is None:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme != "http" or parts.path or parts.query or parts.fragment:
        return False
    own = _host_and_port(host or "", 80)
    return own is not None and _host_and_port(parts.netloc, _DEFAULT_PORTS["http"]) == own


def refusal(
    *,
    remote: str | None,
    path: str,
    method: str,
    host: str | None,
    port: int,
    container: bool,
    origin: str | None = None,
    content_type: str | None = None,
    has_body: bool = False,
    websocket: bool = False,
    ingress_path: bool = False,
    upload: bool = False,
) -> Refusal | None:
    """Decide whether a request is served (None) or refused, and why; see the module's table."""
    if not is_allowed(remote, path, container=container):
        return Refusal(status=403, error="forbidden", detail="this address may not use the panel")
    changes = method.upper() not in SAFE_METHODS
    if not (container and _address(remote) == INGRESS_PROXY):
        if not host_allowed(host, port=port):
            return Refusal(status=403, error="forbidden", detail="this server answers to localhost and 127.0.0.1 only")
        if (changes or websocket) and not ingress_path and not origin_allowed(origin, host=host):
            return Refusal(
                status=403,
                error="forbidden",
                detail=f"cross-site request refused: Origin {shown(origin, limit=100)} is not this panel",
            )
    if changes and not _json_or_empty(content_type, has_body=has_body, upload=upload):
        return Refusal(
            status=415, error="unsupported media type", detail="send a JSON body with Content-Type: application/json"
        )
    return None


def _json_or_empty(content_type: str | None, *, has_body: bool, upload: bool = False) -> bool:
    """A body must be JSON (or multipart with ``upload``); an empty request may not claim a simple type."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if has_body:
        return media_type == "application/json" or (upload and media_type == "multipart/form-data")
    return media_type not in CORS_SIMPLE_TYPES


def _served_port(request: web.Request) -> int:
    """The port this request came in on (the panel port, also when it was 0 in the settings)."""
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    return int(sockname[1]) if sockname else 0


def access_middleware(*, container: bool) -> Middleware:
    """An aiohttp middleware that answers every request :func:`refusal` refuses with its status and a JSON error."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        headers = request.headers
        refused = refusal(
            remote=request.remote,
            path=request.path,
            method=request.method,
            host=headers.get("Host"),
            port=_served_port(request),
            container=container,
            origin=headers.get("Origin"),
            content_type=headers.get("Content-Type"),
            has_body=request.body_exists,
            websocket=headers.get("Upgrade", "").lower() == "websocket",
            ingress_path="X-Ingress-Path" in headers,
            upload="X-Upload" in headers,
        )
        if refused is not None:
            return web.json_response({"error": refused.error, "detail": refused.detail}, status=refused.status)
        return await handler(request)

    return middleware

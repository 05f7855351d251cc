"""Cross-site requests and DNS rebinding: the panel port checks Origin, Host and the body's media type."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from bmw_wallbox.app import Application
from bmw_wallbox.web.access import Refusal, host_allowed, origin_allowed, refusal

from conftest import CHARGER_ID, StartApp
from ingress_proxy import IngressProxy

PORT = 8099
INGRESS = "172.30.32.2"
STOP = f"/api/chargers/{quote(CHARGER_ID, safe='')}/stop"
LIMIT = f"/api/chargers/{quote(CHARGER_ID, safe='')}/current_limit"

# --- the decisions, without sockets ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:8099", True),
        ("localhost:8099", True),
        ("LOCALHOST:8099", True),
        ("[::1]:8099", True),
        ("127.0.0.2:8099", True),
        ("127.0.0.1:8100", False),
        ("127.0.0.1", False),
        ("evil.example:8099", False),
        ("localhost.evil.example:8099", False),
        ("192.168.1.10:8099", False),
        ("[::1]", False),
        ("::1:8099", False),
        ("127.0.0.1:99999", False),
        ("127.0.0.1:x", False),
        ("", False),
        (None, False),
    ],
)
def test_host_must_name_this_server_on_loopback(host: str | None, allowed: bool) -> None:
    """Only a loopback name or address with the panel port is a Host this server answers to."""
    assert host_allowed(host, port=PORT) is allowed


def test_host_without_port_is_port_80() -> None:
    """A Host without a port means port 80."""
    assert host_allowed("localhost", port=80) is True


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        (None, "127.0.0.1:8099", True),
        ("http://127.0.0.1:8099", "127.0.0.1:8099", True),
        ("http://LOCALHOST:8099", "localhost:8099", True),
        ("http://[::1]:8099", "[::1]:8099", True),
        ("http://localhost", "localhost:80", True),
        ("http://localhost:8099", "127.0.0.1:8099", False),
        ("http://evil.example", "127.0.0.1:8099", False),
        ("http://127.0.0.1:3000", "127.0.0.1:8099", False),
        ("https://127.0.0.1:8099", "127.0.0.1:8099", False),
        ("null", "127.0.0.1:8099", False),
        ("", "127.0.0.1:8099", False),
        ("http://127.0.0.1:8099", None, False),
    ],
)
def test_origin_must_be_the_host(origin: str | None, host: str | None, allowed: bool) -> None:
    """A browser's Origin must be this very server (scheme, host and port); no Origin is a non-browser client."""
    assert origin_allowed(origin, host=host) is allowed


LOOPBACK = {"remote": "127.0.0.1", "host": "127.0.0.1:8099", "port": PORT, "container": False}


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        pytest.param({"method": "GET", "path": "/api/chargers"}, None, id="plain-get"),
        pytest.param({"method": "POST", "path": STOP}, None, id="post-without-origin"),
        pytest.param({"method": "POST", "path": STOP, "origin": "http://127.0.0.1:8099"}, None, id="same-origin"),
        pytest.param({"method": "POST", "path": STOP, "origin": "http://evil.example"}, 403, id="foreign-origin"),
        pytest.param({"method": "PUT", "path": LIMIT, "origin": "null"}, 403, id="null-origin"),
        pytest.param({"method": "DELETE", "path": STOP, "origin": "http://evil.example"}, 403, id="foreign-delete"),
        pytest.param({"method": "GET", "path": "/api/trace", "origin": "http://evil.example"}, None, id="get-cors"),
        pytest.param(
            {"method": "GET", "path": "/api/ws", "origin": "http://evil.example", "websocket": True}, 403, id="ws"
        ),
        pytest.param(
            {"method": "GET", "path": "/api/ws", "origin": "http://127.0.0.1:8099", "websocket": True},
            None,
            id="ws-same-origin",
        ),
        pytest.param({"method": "GET", "path": "/", "host": "evil.example:8099"}, 403, id="rebinding"),
        pytest.param({"method": "GET", "path": "/api/logs", "host": None}, 403, id="no-host"),
        pytest.param(
            {"method": "POST", "path": STOP, "origin": "http://127.0.0.1:3000", "ingress_path": True},
            None,
            id="ingress-style-proxy",
        ),
        pytest.param(
            {"method": "POST", "path": STOP, "host": "evil.example:8099", "ingress_path": True},
            403,
            id="ingress-header-no-rebinding",
        ),
        pytest.param(
            {"method": "POST", "path": STOP, "content_type": "application/x-www-form-urlencoded"}, 415, id="form"
        ),
        pytest.param({"method": "POST", "path": STOP, "content_type": "text/plain", "has_body": True}, 415, id="text"),
        pytest.param(
            {"method": "POST", "path": STOP, "content_type": "multipart/form-data; boundary=x"}, 415, id="multipart"
        ),
        pytest.param(
            {"method": "POST", "path": STOP, "content_type": "application/octet-stream"}, None, id="empty-body"
        ),
        pytest.param({"method": "PUT", "path": LIMIT, "has_body": True}, 415, id="body-without-type"),
        pytest.param(
            {"method": "PUT", "path": LIMIT, "content_type": "application/json; charset=utf-8", "has_body": True},
            None,
            id="json",
        ),
        pytest.param({"method": "GET", "path": "/", "remote": "192.168.1.10"}, 403, id="lan-address"),
    ],
)
def test_standalone_policy(request_: dict[str, Any], status: int | None) -> None:
    """Outside the container: loopback, Host on loopback, same Origin for changes and the WebSocket, JSON bodies."""
    decided = refusal(**{**LOOPBACK, **request_})
    assert (decided.status if decided else None) == status


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        pytest.param(
            {"remote": INGRESS, "method": "POST", "path": STOP, "host": "homeassistant.local:8123"},
            None,
            id="ingress-host",
        ),
        pytest.param(
            {
                "remote": INGRESS,
                "method": "GET",
                "path": "/api/ws",
                "host": "ha.example.com",
                "origin": "https://ha.example.com",
                "websocket": True,
            },
            None,
            id="ingress-websocket",
        ),
        pytest.param(
            {"remote": INGRESS, "method": "POST", "path": STOP, "content_type": "text/plain"}, 415, id="ingress-form"
        ),
        pytest.param({"remote": "127.0.0.1", "method": "GET", "path": "/healthz"}, None, id="healthcheck"),
        pytest.param(
            {"remote": "127.0.0.1", "method": "GET", "path": "/healthz", "host": "evil.example:8099"},
            403,
            id="healthcheck-rebinding",
        ),
        pytest.param({"remote": "127.0.0.1", "method": "POST", "path": STOP}, 403, id="loopback-api"),
    ],
)
def test_container_policy(request_: dict[str, Any], status: int | None) -> None:
    """In the container the ingress proxy is trusted with any Host and Origin; loopback only for the health check."""
    decided = refusal(**{**LOOPBACK, "container": True, **request_})
    assert (decided.status if decided else None) == status


def test_refusal_says_why() -> None:
    """A refusal carries a JSON error and a sentence that says what was wrong."""
    decided = refusal(**{**LOOPBACK, "method": "POST", "path": STOP, "origin": "http://evil.example"})
    assert decided == Refusal(
        status=403, error="forbidden", detail="cross-site request refused: Origin http://evil.example is not this panel"
    )


# --- the live add-on ----------------------------------------------------------------------------------


def url(app: Application, path: str) -> str:
    """A URL on the panel port."""
    return f"http://127.0.0.1:{app.panel_port}{path}"


async def send(app: Application, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """One request to the panel port; the status and the decoded JSON body (or None)."""
    async with aiohttp.ClientSession() as http, http.request(method, url(app, path), **kwargs) as response:
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body


async def test_foreign_origin_cannot_stop_charging(start_app: StartApp) -> None:
    """A page on another origin that POSTs the stop command gets 403 with a JSON error, and nothing is sent."""
    app = await start_app()
    status, body = await send(app, "POST", STOP, headers={"Origin": "http://evil.example"})
    assert (status, body["error"]) == (403, "forbidden")


async def test_same_origin_page_may_send_commands(start_app: StartApp) -> None:
    """The panel's own page (Origin = the panel) gets the command's honest outcome, not a refusal."""
    app = await start_app()
    status, body = await send(app, "POST", STOP, headers={"Origin": f"http://127.0.0.1:{app.panel_port}"})
    assert status not in (403, 415)
    assert body["command"] == "stop"


async def test_cross_site_form_post_is_415(start_app: StartApp) -> None:
    """A plain HTML form post (urlencoded, no Origin check needed) is refused for its media type."""
    app = await start_app()
    status, body = await send(
        app, "POST", STOP, data=b"x=1", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (status, body["error"]) == (415, "unsupported media type")


@pytest.mark.parametrize("host", ["evil.example", f"evil.example:{PORT}", "attacker.test:1"])
async def test_rebound_host_is_refused(start_app: StartApp, host: str) -> None:
    """A request whose Host is another name (DNS rebinding) gets 403, even for a plain GET of the logs."""
    app = await start_app()
    status, body = await send(app, "GET", "/api/logs", headers={"Host": host})
    assert (status, body["error"]) == (403, "forbidden")


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "[::1]"])
async def test_loopback_hosts_are_served(start_app: StartApp, name: str) -> None:
    """Loopback names with the panel port are served."""
    app = await start_app()
    status, _ = await send(app, "GET", "/api/chargers", headers={"Host": f"{name}:{app.panel_port}"})
    assert status == 200


async def test_foreign_origin_cannot_open_the_live_feed(start_app: StartApp) -> None:
    """The WebSocket that carries state, logs and trace refuses a page on another origin with 403."""
    app = await start_app()
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as error:
            await http.ws_connect(url(app, "/api/ws"), origin="http://evil.example")
    assert error.value.status == 403


async def test_same_origin_live_feed_opens(start_app: StartApp) -> None:
    """The panel's own page opens the live feed and gets its hello."""
    app = await start_app()
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url(app, "/api/ws"), origin=f"http://127.0.0.1:{app.panel_port}") as ws,
    ):
        assert (await ws.receive_json())["type"] == "hello"


async def test_ingress_proxy_keeps_working(start_app: StartApp) -> None:
    """Through an ingress-style proxy, the browser's commands and live feed work with the proxy's Origin."""
    app = await start_app()
    async with IngressProxy(app.panel_port or 0) as proxy, aiohttp.ClientSession() as http:
        origin = f"http://127.0.0.1:{proxy.port}"
        async with http.post(f"{proxy.url}{STOP[1:]}", headers={"Origin": origin}) as response:
            assert (await response.json())["command"] == "stop"
        async with http.put(f"{proxy.url}{LIMIT[1:]}", json={"amps": 10}, headers={"Origin": origin}) as response:
            assert (await response.json())["command"] == "set_current_limit"
        async with http.ws_connect(f"{proxy.url}api/ws", origin=origin) as ws:
            assert (await ws.receive_json())["type"] == "hello"

"""The panel over HTTP and its WebSocket, against the add-on started for real (no browser)."""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import re
import ssl
import tomllib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ocpp.v201 import call

from bmw_wallbox.app import Application
from bmw_wallbox.web.access import is_allowed
from bmw_wallbox.web.panel import STATIC_DIR, STATIC_FILES

from conftest import CHARGER_ID, StartApp, api_get, ocpp_url
from peer import library_charger
from sessions import add_session

Message = dict[str, Any]


def panel_url(app: Application, path: str) -> str:
    """A URL on the panel port of a started app."""
    return f"http://127.0.0.1:{app.panel_port}{path}"


async def get(app: Application, path: str) -> tuple[int, dict[str, str], str]:
    """GET a path; return status, headers and text."""
    async with aiohttp.ClientSession() as http, http.get(panel_url(app, path)) as response:
        return response.status, dict(response.headers), await response.text()


@asynccontextmanager
async def live(app: Application) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """An open panel WebSocket."""
    async with aiohttp.ClientSession() as http, http.ws_connect(panel_url(app, "/api/ws")) as ws:
        yield ws


async def receive_until(
    ws: aiohttp.ClientWebSocketResponse, match: Callable[[Message], bool], timeout: float = 5.0
) -> Message:
    """Read messages until one matches; fail after ``timeout`` seconds, naming the message types seen."""
    seen: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                message: Message = await ws.receive_json()
                seen.append(str(message.get("type")))
                if match(message):
                    return message
    except TimeoutError:
        raise AssertionError(f"no matching panel message within {timeout:g} s; types seen: {seen}") from None


# --- page and static files -------------------------------------------------------------------


async def test_page_uses_only_relative_urls(start_app: StartApp) -> None:
    """The page is served at / and every src and href in it is relative."""
    app = await start_app()
    status, headers, html = await get(app, "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    urls = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert urls
    assert [u for u in urls if u.startswith("/") or "://" in u] == []


async def test_page_forbids_loading_from_elsewhere(start_app: StartApp) -> None:
    """The Content-Security-Policy allows the page's own origin only."""
    app = await start_app()
    _, headers, _ = await get(app, "/")
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "http" not in policy


@pytest.mark.parametrize("name", sorted(STATIC_FILES))
def test_scripts_use_relative_urls(name: str) -> None:
    """No static file names an absolute path or another host."""
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    assert not re.search(r"""(?:fetch|import|URL)\(\s*["'`]/""", text)
    assert not re.search(r"""from\s+["'](?!\./)""", text)
    assert "//" not in re.sub(r"https?://www\.w3\.org/2000/svg|//[^\n]*", "", text.replace("://", ""))


def test_static_files_ship_with_the_package() -> None:
    """The package data of pyproject.toml covers every file the panel serves, so the image has them."""
    pyproject = tomllib.loads((STATIC_DIR.parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["bmw_wallbox.web"]
    served = [*STATIC_FILES, "index.html"]
    assert [n for n in served if not any(fnmatch.fnmatch(f"static/{n}", p) for p in patterns)] == []
    assert sorted(p.name for p in STATIC_DIR.iterdir()) == sorted(served)


@pytest.mark.parametrize(("name", "content_type"), sorted(STATIC_FILES.items()))
async def test_static_files_are_served(start_app: StartApp, name: str, content_type: str) -> None:
    """Each static file is served with its content type."""
    app = await start_app()
    status, headers, _ = await get(app, f"/static/{name}")
    assert (status, headers["Content-Type"].split(";")[0]) == (200, content_type)


@pytest.mark.parametrize("path", ["/static/index.html.bak", "/static/..%2Fpanel.py", "/static/%2e%2e/api.py"])
async def test_other_static_paths_are_404(start_app: StartApp, path: str) -> None:
    """Only the listed files are served; nothing else under /static."""
    app = await start_app()
    status, _, _ = await get(app, path)
    assert status == 404


# --- access ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "path", "container", "allowed"),
    [
        ("172.30.32.2", "/", True, True),
        ("172.30.32.2", "/api/ws", True, True),
        ("::ffff:172.30.32.2", "/static/app.js", True, True),
        ("172.30.32.1", "/", True, False),
        ("192.168.1.10", "/api/ws", True, False),
        ("127.0.0.1", "/", True, False),
        ("127.0.0.1", "/api/ws", True, False),
        ("127.0.0.1", "/healthz", True, True),
        ("127.0.0.1", "/", False, True),
        ("::1", "/api/ws", False, True),
        ("172.30.32.2", "/", False, False),
        (None, "/", True, False),
    ],
)
def test_who_may_use_the_panel(remote: str | None, path: str, container: bool, allowed: bool) -> None:
    """Container mode serves the ingress proxy (and loopback for /healthz); standalone serves loopback."""
    assert is_allowed(remote, path, container=container) is allowed


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/api/ws", "/api/setup", "/api/logs"])
async def test_container_mode_refuses_loopback(start_app: StartApp, path: str) -> None:
    """In container mode a request from 127.0.0.1 to the panel gets 403."""
    app = await start_app(container=True)
    status, _, _ = await get(app, path)
    assert status == 403


async def test_container_mode_refuses_the_websocket_upgrade(start_app: StartApp) -> None:
    """In container mode the WebSocket handshake from 127.0.0.1 is refused with 403."""
    app = await start_app(container=True)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as error:
            await http.ws_connect(panel_url(app, "/api/ws"))
    assert error.value.status == 403


# --- the live WebSocket -------------------------------------------------------------------------


async def test_hello_has_the_whole_picture(start_app: StartApp) -> None:
    """The first message holds every charger, the setup checklist, trace, logs and unknown ids."""
    app = await start_app()
    async with live(app) as ws:
        hello = await ws.receive_json()
    assert hello["type"] == "hello"
    assert [c["id"] for c in hello["chargers"]] == [CHARGER_ID, "DE*BMW*EAUTH0002"]
    assert {"capabilities", "points", "sessions", "evses"} <= set(hello["chargers"][0])
    assert hello["setup"]["chargers"][0]["url"] == f"wss://localhost:{app.ocpp_port}/{CHARGER_ID}"
    assert (hello["unknown"], hello["trace"]) == ([], [])


async def test_changes_trace_and_logs_are_pushed(
    start_app: StartApp, client_ssl: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    """A charger connecting is pushed as a charger change, its frames as trace and its log line as logs."""
    caplog.set_level(logging.INFO)
    app = await start_app()
    async with live(app) as ws:
        await ws.receive_json()
        async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl):
            seen: list[Message] = []

            def everything_seen(message: Message) -> bool:
                seen.append(message)
                return all(any(wanted(m) for m in seen) for wanted in (connected, booted, logged))

            def connected(m: Message) -> bool:
                return m["type"] == "charger" and m["charger"]["connected"] is True

            def booted(m: Message) -> bool:
                return m["type"] == "trace" and any(e["action"] == "BootNotification" for e in m["entries"])

            def logged(m: Message) -> bool:
                return m["type"] == "logs" and any("Connected from" in e["message"] for e in m["entries"])

            await receive_until(ws, everything_seen)
    change = next(m for m in seen if connected(m))
    trace = next(m for m in seen if booted(m))
    logs = next(m for m in seen if logged(m))
    assert change["charger"]["id"] == CHARGER_ID
    assert all(e["charger"] == CHARGER_ID for e in trace["entries"])
    assert logs["entries"][0]["level"] in {"INFO", "WARNING", "DEBUG"}


async def test_unknown_ids_are_pushed(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """An id that is not configured shows up at once as an ``unknown`` message."""
    app = await start_app()
    async with live(app) as ws:
        await ws.receive_json()
        with pytest.raises(Exception, match=r"401|403|404"):
            async with library_charger(ocpp_url(app), "DE*BMW*ESTRANGER", ssl_context=client_ssl):
                pass
        message = await receive_until(ws, lambda m: m["type"] == "unknown")
    assert [u["id"] for u in message["unknown"]] == ["DE*BMW*ESTRANGER"]


async def test_fresh_page_gets_the_power_history(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Readings taken while no page is open are in the next page's hello."""
    app = await start_app()
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        for watts in (1000.0, 7400.0):
            await charger.call(
                call.MeterValues(
                    evse_id=1,
                    meter_value=[
                        {
                            "timestamp": "2026-11-26T01:00:00Z",
                            "sampled_value": [{"value": watts, "measurand": "Power.Active.Import"}],
                        }
                    ],
                ),
                suppress=False,
            )
        async with live(app) as ws:
            hello = await ws.receive_json()
    points = hello["chargers"][0]["points"]
    assert [w for _, w in points][-2:] == [1000.0, 7400.0]


async def test_stopping_closes_open_pages(start_app: StartApp) -> None:
    """Stopping the add-on closes every panel socket with 1001 (going away) at once."""
    app = await start_app()
    async with live(app) as ws:
        await ws.receive_json()
        async with asyncio.timeout(5):
            await app.stop()
            message = await ws.receive()
    assert message.type == aiohttp.WSMsgType.CLOSE
    assert message.data == 1001


# --- JSON endpoints ------------------------------------------------------------------------------


async def test_sessions_csv(start_app: StartApp) -> None:
    """The session history downloads as CSV, newest first, with a file name and formula-safe cells."""
    app = await start_app()
    state = app.hub.chargers[CHARGER_ID]
    register_wh = 0.0
    for number, reason in ((1, "EVDisconnected"), (2, "=HYPERLINK(1)")):
        start = datetime.fromisoformat(f"2026-11-2{number}T10:00:00+00:00")
        end_wh = register_wh + 10_500.0 * number
        add_session(
            state,
            f"tx-{number}",
            start=start,
            end=start + timedelta(hours=2),
            start_wh=register_wh,
            end_wh=end_wh,
            reason=reason,
        )
        register_wh = end_wh
    status, headers, text = await get(app, "/api/chargers/DE*BMW*ETEST0001/sessions.csv")
    assert status == 200
    assert headers["Content-Type"].startswith("text/csv")
    assert 'filename="sessions-DE_BMW_ETEST0001.csv"' in headers["Content-Disposition"]
    assert text.splitlines() == [
        "started_at,ended_at,duration_s,energy_kwh,stopped_reason,transaction_id,evse_id,token_name",
        "2026-11-22T10:00:00+00:00,2026-11-22T12:00:00+00:00,7200,21.0,'=HYPERLINK(1),tx-2,1,no token",
        "2026-11-21T10:00:00+00:00,2026-11-21T12:00:00+00:00,7200,10.5,EVDisconnected,tx-1,1,no token",
    ]


async def test_sessions_csv_of_unknown_charger_is_404(start_app: StartApp) -> None:
    """An unknown charger id gives 404."""
    app = await start_app()
    status, _, _ = await get(app, "/api/chargers/nope/sessions.csv")
    assert status == 404


async def test_logs_endpoint_filters_by_level(start_app: StartApp, caplog: pytest.LogCaptureFixture) -> None:
    """GET /api/logs returns the add-on's lines newest first, at the asked level and above."""
    caplog.set_level(logging.DEBUG)
    app = await start_app()
    logger = logging.getLogger("bmw_wallbox.test")
    logger.info("an info line")
    logger.warning("a warning with password=topsecret")
    lines = await api_get(app, "/api/logs?level=warning")
    assert [line["message"] for line in lines] == ["a warning with password=***"]
    everything = await api_get(app, "/api/logs?limit=2")
    assert [line["message"] for line in everything] == ["a warning with password=***", "an info line"]


async def test_logs_endpoint_rejects_a_bad_limit(start_app: StartApp) -> None:
    """A limit that is not a number is 400."""
    app = await start_app()
    status, _, _ = await get(app, "/api/logs?limit=lots")
    assert status == 400


async def test_setup_endpoint(start_app: StartApp, ssl_dir: Path) -> None:
    """GET /api/setup names the certificate files, the port and the URL per charger."""
    app = await start_app()
    setup = await api_get(app, "/api/setup")
    assert setup["certificate"]["cert_path"] == str(ssl_dir / "fullchain.pem")
    assert setup["certificate"]["hostnames"] == ["localhost"]
    assert setup["ocpp_port"] == app.ocpp_port
    assert [(c["id"], c["password"]) for c in setup["chargers"]] == [(CHARGER_ID, False), ("DE*BMW*EAUTH0002", True)]
    assert {item["key"] for item in setup["items"]} >= {"tls", "cert_file", "key_file", "expiry", "port"}

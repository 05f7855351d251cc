"""Shared fixtures: a test CA, the add-on started for real on free ports, and the hostile-frame arena.

Waiting and free ports are in ``helpers``; the Home Assistant fixtures are in
``ha_fixtures`` (loaded by the modules that need them).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from bmw_wallbox.app import Application, Settings
from bmw_wallbox.csms.server import CsmsServer
from bmw_wallbox.hub import StateHub
from bmw_wallbox.options import Options
from bmw_wallbox.simulator import WallboxSimulator
from bmw_wallbox.state import ChargerState
from bmw_wallbox.trace import Trace

from arena import Arena, open_arena

#: The real MQTT broker harness: its ``mosquitto`` fixture starts only when a test asks for it.
pytest_plugins = ["mosquitto"]

CHARGER_ID = "DE*BMW*ETEST0001"
AUTH_CHARGER_ID = "DE*BMW*EAUTH0002"
PASSWORD = "s3cret-pass-123"

StartApp = Callable[..., Awaitable[Application]]

#: The benchmarks are scripts run with ``python``, not tests (their files do not start with ``test_`` either).
collect_ignore_glob = ["benchmarks/*"]


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A throw-away certificate authority."""
    return trustme.CA()


@pytest.fixture
def ssl_dir(ca: trustme.CA, tmp_path: Path) -> Path:
    """An ssl folder with fullchain.pem and privkey.pem for ``localhost``, as the add-on expects in /ssl."""
    folder = tmp_path / "ssl"
    folder.mkdir()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert.private_key_pem.write_to_path(str(folder / "privkey.pem"))
    (folder / "fullchain.pem").write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    return folder


@pytest.fixture
def client_ssl(ca: trustme.CA) -> ssl.SSLContext:
    """A client TLS context that trusts only the test CA."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def default_options(**overrides: Any) -> Options:
    """Options with one open charger and one that needs a password."""
    raw: dict[str, Any] = {
        "chargers": [{"id": CHARGER_ID}, {"id": AUTH_CHARGER_ID, "name": "Garage", "password": PASSWORD}],
        "meter_interval": 10,
    }
    raw.update(overrides)
    return Options.model_validate(raw)


@pytest.fixture
async def start_app(tmp_path: Path, ssl_dir: Path) -> AsyncIterator[StartApp]:
    """Start the add-on on free loopback ports; every app started is stopped after the test."""
    started: list[Application] = []

    async def start(
        *, options: Options | None = None, data_dir: Path | None = None, container: bool = False, **settings_kwargs: Any
    ) -> Application:
        settings = Settings(
            options=options or default_options(),
            data_dir=data_dir or tmp_path / "data",
            ssl_dir=ssl_dir,
            host="127.0.0.1",
            container=container,
            **{"ocpp_port": 0, "panel_port": 0, "transfer_port": 0, "min_apply_interval_s": 0.0, **settings_kwargs},
        )
        app = Application(settings)
        await app.start()
        started.append(app)
        return app

    yield start
    for app in started:
        await app.stop()


@pytest.fixture
async def arena(start_app: StartApp, client_ssl: ssl.SSLContext) -> AsyncIterator[Arena]:
    """The add-on with a bystander charger (with password) provisioned and an attacker's raw socket open."""
    app = await start_app()
    async with open_arena(
        app, ocpp_url(app), attacker=CHARGER_ID, bystander=AUTH_CHARGER_ID, password=PASSWORD, client_ssl=client_ssl
    ) as opened:
        yield opened


def bare_csms(options: Options, **kwargs: Any) -> CsmsServer:
    """The OCPP server alone, for the chargers in ``options``; a connection does nothing but stay open."""
    hub = StateHub([ChargerState(charger_id=c.id, name=c.display_name, max_current_a=32) for c in options.chargers])

    async def no_work(link: object) -> None:
        await asyncio.Event().wait()

    return CsmsServer(options=options, hub=hub, trace=Trace(), run_connection=no_work, **kwargs)


def ocpp_url(app: Application) -> str:
    """The wss:// base URL of a started app."""
    scheme = "wss" if app.settings.options.ssl else "ws"
    return f"{scheme}://localhost:{app.ocpp_port}"


async def api_get(app: Application, path: str) -> Any:
    """GET a JSON API path of a started app and return the decoded body (asserting 200)."""
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{app.panel_port}{path}") as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def charger_snapshot(app: Application, charger_id: str = CHARGER_ID) -> dict[str, Any]:
    """The ``/api/chargers`` entry of one charger."""
    chargers = await api_get(app, "/api/chargers")
    return next(c for c in chargers if c["id"] == charger_id)


async def api_send(app: Application, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """Send a JSON API request; return the status and the decoded body."""
    url = f"http://127.0.0.1:{app.panel_port}{path}"
    async with aiohttp.ClientSession() as http, http.request(method, url, json=body) as response:
        return response.status, await response.json()


@contextlib.asynccontextmanager
async def running(sim: WallboxSimulator) -> AsyncIterator[WallboxSimulator]:
    """Run ``sim`` until the block ends; wait until it is connected and provisioned (TriggerMessage came)."""
    task = asyncio.create_task(sim.run())
    try:
        await sim.wait_connected(10.0)
        await sim.wait_for_call("TriggerMessage", 10.0)
        yield sim
    finally:
        await sim.stop()
        await task

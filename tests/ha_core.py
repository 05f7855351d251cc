# ruff: noqa: S310, S607 - a test harness: runs local programs, talks HTTP to 127.0.0.1 only
"""A real Home Assistant Core for tests: installed once into a cached venv, started on loopback.

``ensure_installed()`` builds ``~/.cache/bmw-wallbox/ha-<version>/venv`` with the
Python 3.13.0 that pyenv has on these machines (``$BMW_WALLBOX_HA_PYTHON``
overrides it), installs Home Assistant Core and the requirements of every
integration the test configuration loads, starts it once so that anything
still missing is installed then, and only after all that writes the marker
file. A file lock keeps parallel runs from building the same venv twice. The
first build takes about five minutes and 800 MB; later runs reuse it.

:class:`HomeAssistantCore` runs ``hass -c <fresh config dir>`` on 127.0.0.1 and a
free port, creates the owner through the onboarding flow and gets a long-lived
access token, and can restart Core (same config dir, same token). It is
synchronous so a session-scoped pytest fixture can own it.

:class:`HaClient` is what a test does to Core (states, services, events,
WebSocket commands). The fixtures at the end (``home_assistant`` for the
session, ``scenario`` per module: the add-on, a simulated wallbox charging a
car, and a client) are loaded by test modules with ``pytest_plugins = ["ha_core"]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from websockets.sync.client import connect as ws_connect

from bmw_wallbox.app import Application, Settings
from bmw_wallbox.options import Options
from bmw_wallbox.simulator import WallboxSimulator

HA_VERSION = "2025.4.4"
CACHE_ROOT = Path(os.environ.get("BMW_WALLBOX_CACHE", Path.home() / ".cache" / "bmw-wallbox"))
HA_DIR = CACHE_ROOT / f"ha-{HA_VERSION}"
VENV = HA_DIR / "venv"
MARKER = HA_DIR / "installed"
LOCK = CACHE_ROOT / f"ha-{HA_VERSION}.lock"

#: Integrations the test configuration names (besides the ones Core always loads).
CONFIGURED = ("http", "recorder", "history", "api", "websocket_api", "onboarding", "auth", "sensor", "binary_sensor")
#: What HA 2025.4 sets up even with a minimal configuration (``bootstrap.DEFAULT_INTEGRATIONS`` and stage 0).
ALWAYS = (
    "homeassistant", "persistent_notification", "isal", "logger", "network", "system_log", "frontend",
    "analytics", "application_credentials", "backup", "hardware", "system_health", "automation", "person",
    "scene", "script", "tag", "zone", "counter", "input_boolean", "input_button", "input_datetime",
    "input_number", "input_select", "input_text", "schedule", "timer",
)  # fmt: skip

#: Collects the pip requirements of the integrations above and their dependencies, run inside the HA venv.
_REQUIREMENTS_SCRIPT = """
import json, pathlib, sys
import homeassistant.components as components
root = pathlib.Path(components.__path__[0])
todo, seen, reqs = list(sys.argv[1:]), set(), []
while todo:
    domain = todo.pop()
    if domain in seen or not (root / domain / "manifest.json").exists():
        continue
    seen.add(domain)
    manifest = json.loads((root / domain / "manifest.json").read_text())
    reqs += manifest.get("requirements", [])
    todo += manifest.get("dependencies", [])
print("\\n".join(sorted(set(reqs))))
"""


class HomeAssistantStartError(RuntimeError):
    """Home Assistant Core did not come up; the message ends with the tail of its log."""


def base_python() -> Path:
    """The interpreter for the HA venv: ``$BMW_WALLBOX_HA_PYTHON``, pyenv's 3.13.0, or this one if it is 3.13."""
    if override := os.environ.get("BMW_WALLBOX_HA_PYTHON"):
        return Path(override)
    pyenv_root = os.environ.get("PYENV_ROOT")
    if not pyenv_root and shutil.which("pyenv"):
        pyenv_root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
    candidate = Path(pyenv_root or Path.home() / ".pyenv") / "versions" / "3.13.0" / "bin" / "python3"
    if candidate.exists():
        return candidate
    if sys.version_info[:2] == (3, 13):
        return Path(sys.executable)
    raise HomeAssistantStartError(f"no Python 3.13 for Home Assistant {HA_VERSION}: {candidate} is missing")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def clean_env() -> dict[str, str]:
    """This process's environment without what would point Core's Python at ours (or hand it a token)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "SUPERVISOR_TOKEN"):
        env.pop(name, None)
    return env


def _pip(*args: str) -> None:
    subprocess.run(
        [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
        check=True,
        env=clean_env(),
    )


def ensure_installed() -> Path:
    """Install Home Assistant Core into the cached venv unless the marker says it is there; return ``hass``."""
    hass = VENV / "bin" / "hass"
    if MARKER.exists():
        return hass
    with _file_lock(LOCK):
        if MARKER.exists():
            return hass
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([str(base_python()), "-m", "venv", str(VENV)], check=True, env=clean_env())
        _pip(f"homeassistant=={HA_VERSION}")
        found = subprocess.run(
            [str(VENV / "bin" / "python"), "-c", _REQUIREMENTS_SCRIPT, *CONFIGURED, *ALWAYS],
            capture_output=True, text=True, check=True, env=clean_env(),
        )  # fmt: skip
        requirements = found.stdout.split()
        constraints = next(VENV.glob("lib/python3*/site-packages/homeassistant/package_constraints.txt"))
        _pip("-c", str(constraints), *requirements)
        # One start installs whatever the manifests did not name, so test runs never reach for PyPI.
        with HomeAssistantCore(hass, HA_DIR / "warmup").running():
            pass
        shutil.rmtree(HA_DIR / "warmup", ignore_errors=True)
        MARKER.write_text(f"Home Assistant {HA_VERSION}\n")
    return hass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CONFIGURATION = """\
homeassistant:
  name: Test home
  latitude: 52.52
  longitude: 13.40
  elevation: 34
  unit_system: metric
  time_zone: UTC
  country: DE
  currency: EUR
http:
  server_host: 127.0.0.1
  server_port: {port}
recorder:
  commit_interval: 1
history:
api:
websocket_api:
sensor:
binary_sensor:
automation: !include automations.yaml
"""


class HomeAssistantCore:
    """One Home Assistant Core process with its own config dir (see the module docstring)."""

    def __init__(self, hass: Path, config_dir: Path, *, port: int | None = None) -> None:
        self.hass = hass
        self.config_dir = config_dir
        self.port = port or free_port()
        self.token: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL (REST under ``/api/``, WebSocket at ``/api/websocket``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """Core's log file."""
        return self.config_dir / "home-assistant.log"

    def write_config(self) -> None:
        """Write a minimal ``configuration.yaml`` (and an empty automations file) unless one exists."""
        self.config_dir.mkdir(parents=True, exist_ok=True)
        config = self.config_dir / "configuration.yaml"
        if not config.exists():
            config.write_text(CONFIGURATION.format(port=self.port))
            (self.config_dir / "automations.yaml").write_text("[]\n")

    def start(self, *, timeout_s: float = 120.0) -> None:
        """Start Core and wait until ``/api/`` answers (401 before onboarding is an answer)."""
        self.write_config()
        self._process = subprocess.Popen(
            [str(self.hass), "-c", str(self.config_dir), "--log-file", str(self.log_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env(), start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise HomeAssistantStartError(f"hass exited with {self._process.returncode}\n{self.log_tail()}")
            if self._api_answers():
                return
            time.sleep(0.2)
        self.stop()
        raise HomeAssistantStartError(f"hass did not answer on {self.url} within {timeout_s:.0f} s\n{self.log_tail()}")

    def _api_answers(self) -> bool:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(f"{self.url}/api/", headers=headers), timeout=2):
                return True
        except urllib.error.HTTPError as err:
            return err.code in (200, 401)
        except OSError:
            return False

    def stop(self, *, timeout_s: float = 30.0) -> None:
        """Stop Core (SIGTERM, then SIGKILL) and wait for the port to be free."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def restart(self) -> None:
        """Stop and start Core again with the same config dir, port and token."""
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of Core's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @contextlib.contextmanager
    def running(self) -> Iterator[HomeAssistantCore]:
        """Start, yield, stop."""
        self.start()
        try:
            yield self
        finally:
            self.stop()

    # --- onboarding and tokens ---------------------------------------------------------------

    def onboard(self) -> str:
        """Create the owner, exchange the auth code for an access token, then make a long-lived token."""
        client_id = f"{self.url}/"
        user = {
            "client_id": client_id,
            "name": "Test Owner",
            "username": "owner",
            "password": "test-pass-1234",
            "language": "en",
        }
        auth_code = self._post_json("/api/onboarding/users", user)["auth_code"]
        form = {"grant_type": "authorization_code", "code": auth_code, "client_id": client_id}
        request = urllib.request.Request(
            f"{self.url}/auth/token", data=urllib.parse.urlencode(form).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            access_token = json.load(response)["access_token"]
        with ws_connect(f"ws://127.0.0.1:{self.port}/api/websocket", open_timeout=10) as ws:
            assert json.loads(ws.recv(10))["type"] == "auth_required"
            ws.send(json.dumps({"type": "auth", "access_token": access_token}))
            assert json.loads(ws.recv(10))["type"] == "auth_ok"
            ws.send(
                json.dumps(
                    {
                        "id": 1,
                        "type": "auth/long_lived_access_token",
                        "client_name": "bmw-wallbox tests",
                        "lifespan": 30,
                    }
                )
            )
            answer = json.loads(ws.recv(10))
        assert answer["success"], answer
        self.token = str(answer["result"])
        return self.token

    def _post_json(self, path: str, body: dict[str, Any], *, token: str | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(
            f"{self.url}{path}", data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)


class HaClient:
    """What a test does to Home Assistant: read states, call services, fire and follow events, WS commands."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self._session = session
        self.url = url
        self._token = token
        self._headers = {"Authorization": f"Bearer {token}"}

    async def state(self, entity_id: str) -> dict[str, Any] | None:
        """The state document of an entity, or None when Core has none."""
        async with self._session.get(f"{self.url}/api/states/{entity_id}", headers=self._headers) as response:
            if response.status == 404:
                return None
            response.raise_for_status()
            return dict(await response.json())

    async def wait_state(
        self, entity_id: str, check: Callable[[dict[str, Any]], bool] = lambda s: True, *, timeout_s: float = 10.0
    ) -> dict[str, Any]:
        """Poll until the entity exists and ``check(state)`` holds; the last state is in the timeout message."""
        last: dict[str, Any] | None = None
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    with contextlib.suppress(aiohttp.ClientError):
                        last = await self.state(entity_id)
                        if last is not None and check(last):
                            return last
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(
                f"{entity_id} did not reach the expected state in {timeout_s} s; last: {last}"
            ) from None

    async def call_service(self, domain: str, service: str, data: dict[str, Any]) -> None:
        """``POST /api/services/<domain>/<service>``."""
        url = f"{self.url}/api/services/{domain}/{service}"
        async with self._session.post(url, json=data, headers=self._headers) as response:
            assert response.status == 200, await response.text()

    async def post_state(self, entity_id: str, state: str, attributes: dict[str, Any] | None = None) -> None:
        """Set a state as a device or another integration would (``POST /api/states/<entity_id>``)."""
        body = {"state": state, "attributes": attributes or {}}
        async with self._session.post(
            f"{self.url}/api/states/{entity_id}", json=body, headers=self._headers
        ) as response:
            assert response.status in (200, 201), await response.text()

    async def fire_event(self, event_type: str, data: dict[str, Any]) -> None:
        """``POST /api/events/<event_type>``."""
        async with self._session.post(
            f"{self.url}/api/events/{event_type}", json=data, headers=self._headers
        ) as response:
            assert response.status == 200, await response.text()

    @contextlib.asynccontextmanager
    async def websocket(self) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
        """An authenticated WebSocket to Core."""
        async with self._session.ws_connect(f"{self.url}/api/websocket") as ws:
            assert (await ws.receive_json())["type"] == "auth_required"
            await ws.send_json({"type": "auth", "access_token": self._token})
            assert (await ws.receive_json())["type"] == "auth_ok"
            yield ws

    async def ws_command(self, payload: dict[str, Any]) -> Any:
        """Run one WebSocket command on a fresh connection and return its result (asserting success)."""
        async with self.websocket() as ws:
            await ws.send_json({"id": 1, **payload})
            while True:
                answer = await ws.receive_json(timeout=10)
                if answer.get("id") == 1 and answer.get("type") == "result":
                    assert answer["success"], answer
                    return answer["result"]

    @contextlib.asynccontextmanager
    async def events(self, event_type: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """Collect the events of one type into a queue while the block runs."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        async with self.websocket() as ws:
            await ws.send_json({"id": 1, "type": "subscribe_events", "event_type": event_type})
            assert (await ws.receive_json(timeout=10))["success"]

            async def pump() -> None:
                async for message in ws:
                    if message.type is aiohttp.WSMsgType.TEXT:
                        data = json.loads(message.data)
                        if data.get("type") == "event":
                            queue.put_nowait(data["event"])

            task = asyncio.create_task(pump())
            try:
                yield queue
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


# --- pytest fixtures -------------------------------------------------------------------------------
# Test modules load them with ``pytest_plugins = ["ha_core"]`` (and import nothing else from here at
# run time, so pytest can still rewrite the asserts in this module).

CHARGER_ID = "DE*BMW*EHA00001"
MAX_CURRENT_A = 32
#: Simulated seconds per real second: the 10 s meter interval gives a meter value every real second.
TIME_SCALE = 10.0


@pytest.fixture(scope="session")
def home_assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HomeAssistantCore]:
    """Home Assistant Core on 127.0.0.1, onboarded, with a long-lived token (installed on first use)."""
    core = HomeAssistantCore(ensure_installed(), tmp_path_factory.mktemp("home-assistant"))
    core.start()
    core.onboard()
    yield core
    core.stop()


@dataclass
class Scenario:
    """The add-on (one charger, default name, so entity ids start with ``bmw_wallbox``), its wallbox, and HA."""

    core: HomeAssistantCore
    app: Application
    wallbox: WallboxSimulator
    ha: HaClient
    http: aiohttp.ClientSession
    charger_id: str = CHARGER_ID
    max_current_a: int = MAX_CURRENT_A
    time_scale: float = TIME_SCALE

    async def ready(self) -> None:
        """Wait until the wallbox charges at the full limit and the add-on is connected to Home Assistant."""
        bridge = self.app.home_assistant
        assert bridge is not None
        async with asyncio.timeout(20):
            await bridge.connection.connected.wait()
        state = self.app.hub.chargers[CHARGER_ID]
        if state.desired.paused or state.desired.limit_a != MAX_CURRENT_A:
            await self.app.controller.set_current_limit(CHARGER_ID, MAX_CURRENT_A)
        await self.ha.wait_state("input_button.bmw_wallbox_pause", timeout_s=20)

    async def profile_with(self, limit_a: float, after: int, *, timeout_s: float = 10.0) -> None:
        """Wait until the wallbox received a SetChargingProfile of ``limit_a`` A after ``received[after]``."""
        seen: list[float] = []
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    seen = [profile_limit(p) for a, p in self.wallbox.received[after:] if a == "SetChargingProfile"]
                    if limit_a in seen:
                        return
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"no {limit_a} A profile within {timeout_s} s; got {seen}") from None

    async def api_put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT to the add-on's JSON API."""
        url = f"http://127.0.0.1:{self.app.panel_port}{path}"
        async with self.http.put(url, json=body) as response:
            result: dict[str, Any] = await response.json()
            assert response.status == 200, result
            return result


def profile_limit(payload: dict[str, Any]) -> float:
    """The limit of a SetChargingProfile payload (camelCase, as the simulator keeps it)."""
    return float(payload["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scenario(
    home_assistant: HomeAssistantCore, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Scenario]:
    """The add-on connected to Home Assistant and a simulated wallbox charging a car."""
    assert home_assistant.token is not None
    options = Options.model_validate({"ssl": False, "chargers": [{"id": CHARGER_ID, "max_current": MAX_CURRENT_A}]})
    settings = Settings(
        options=options,
        data_dir=tmp_path_factory.mktemp("addon-data"),
        host="127.0.0.1",
        ocpp_port=0,
        panel_port=0,
        ha_url=home_assistant.url,
        ha_token=home_assistant.token,
        min_apply_interval_s=0.0,
    )
    app = Application(settings)
    await app.start()
    wallbox = WallboxSimulator(f"ws://127.0.0.1:{app.ocpp_port}", CHARGER_ID, time_scale=TIME_SCALE, reboot_s=5.0)
    task = asyncio.create_task(wallbox.run())
    async with aiohttp.ClientSession() as http:
        try:
            await wallbox.wait_connected(10)
            await wallbox.plug_in()
            await app.controller.set_current_limit(CHARGER_ID, MAX_CURRENT_A)  # a last command to show
            scenario = Scenario(
                core=home_assistant,
                app=app,
                wallbox=wallbox,
                ha=HaClient(http, home_assistant.url, home_assistant.token),
                http=http,
            )
            await scenario.ready()
            yield scenario
        finally:
            await wallbox.stop()
            await task
            await app.stop()

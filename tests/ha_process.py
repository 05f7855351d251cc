"""One Home Assistant Core process for tests: a fresh config dir, 127.0.0.1, a free port.

:class:`HomeAssistantCore` writes a minimal ``configuration.yaml``, runs
``hass -c <config dir>`` from the cached install (see ``ha_install``), waits
until its API answers, and stops or restarts it (same config dir, port and
token). When Core does not come up, the error ends with the tail of its log.

Its methods are coroutines, so a test can restart Core on its own event loop;
:func:`run_sync` runs one from synchronous code (the session fixture, the
installer) on a private loop in a worker thread, leaving the caller's loop alone.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from helpers import eventually, free_port

T = TypeVar("T")

#: Real seconds Core may take to answer after it was started.
START_TIMEOUT_S = 120.0
#: Real seconds Core may take to stop after SIGTERM before it gets SIGKILL.
STOP_TIMEOUT_S = 30.0

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


class HomeAssistantStartError(RuntimeError):
    """Home Assistant Core did not come up; the message ends with the tail of its log."""


def clean_env() -> dict[str, str]:
    """This process's environment without what would point Core's Python at ours (or hand it a token)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "SUPERVISOR_TOKEN"):
        env.pop(name, None)
    return env


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion on a private event loop in a worker thread; return its result."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ha-harness") as pool:
        return pool.submit(asyncio.run, coroutine).result()


class HomeAssistantCore:
    """One Core process with its own config dir; ``token`` is set once a test harness has onboarded it."""

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

    @property
    def automations_path(self) -> Path:
        """The ``automations.yaml`` the configuration includes."""
        return self.config_dir / "automations.yaml"

    def write_config(self) -> None:
        """Write a minimal ``configuration.yaml`` (and an empty automations file) unless one exists."""
        self.config_dir.mkdir(parents=True, exist_ok=True)
        config = self.config_dir / "configuration.yaml"
        if not config.exists():
            config.write_text(CONFIGURATION.format(port=self.port))
            self.automations_path.write_text("[]\n")

    async def start(self, *, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start Core and wait until ``/api/`` answers (401 before onboarding is an answer)."""
        self.write_config()
        # A plain Popen, not an asyncio subprocess: the process outlives the event loop that started it.
        self._process = subprocess.Popen(  # noqa: ASYNC220
            [str(self.hass), "-c", str(self.config_dir), "--log-file", str(self.log_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env(), start_new_session=True,
        )  # fmt: skip
        async with aiohttp.ClientSession() as http:
            try:
                await eventually(
                    lambda: self._api_status(http),
                    until=lambda status: status in (200, 401),
                    what=f"Home Assistant Core to answer on {self.url}/api/",
                    timeout=timeout_s,
                    interval=0.2,
                    ignore=(aiohttp.ClientError, TimeoutError),
                )
            except (AssertionError, HomeAssistantStartError) as err:
                await self.stop()
                raise HomeAssistantStartError(f"{err}\n{self.log_tail()}") from None

    async def _api_status(self, http: aiohttp.ClientSession) -> int:
        """The HTTP status of ``GET /api/``; raises when the process has exited."""
        assert self._process is not None
        if self._process.poll() is not None:
            raise HomeAssistantStartError(f"hass exited with {self._process.returncode}")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with http.get(f"{self.url}/api/", headers=headers, timeout=aiohttp.ClientTimeout(total=2)) as response:
            return response.status

    async def stop(self, *, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop Core (SIGTERM, then SIGKILL to its process group) and wait until it has exited."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            await asyncio.to_thread(process.wait, 10)

    async def restart(self) -> None:
        """Stop and start Core again with the same config dir, port and token."""
        await self.stop()
        await self.start()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of Core's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[HomeAssistantCore]:
        """Start, yield, stop."""
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

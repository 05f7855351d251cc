"""Pytest fixtures for tests against a real Home Assistant Core.

Test modules load them with ``pytest_plugins = ["ha_fixtures"]`` and import
nothing else from here at run time (only types, under ``TYPE_CHECKING``), so
pytest can still rewrite the asserts in this module.

- ``home_assistant`` (session): Core installed on first use, started on
  127.0.0.1 with a fresh config dir, onboarded; it remembers which states Core
  had right after onboarding (the baseline).
- ``charging`` (per test): Core taken back to that baseline (no automations,
  no helpers, no states a test or an earlier add-on posted), then a fresh
  add-on (own data dir, one charger with the default name, so entity ids start
  with ``bmw_wallbox``) connected to Core, and a simulated wallbox charging a
  car at the full limit. Nothing a test changes reaches the next test.
- ``look_at_charging`` (per module): runs a coroutine against such a scenario of
  its own and returns what it collected, for module-scoped fixtures whose tests
  only read (the scenario is gone before the first of them runs).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import pytest

from bmw_wallbox.app import Application, Settings
from bmw_wallbox.options import Options
from bmw_wallbox.simulator import WallboxSimulator

from ha_client import HaClient, onboard
from ha_install import ensure_installed
from ha_process import HomeAssistantCore, run_sync
from helpers import eventually, profile_limits

T = TypeVar("T")

CHARGER_ID = "DE*BMW*EHA00001"
SLUG = "bmw_wallbox"
MAX_CURRENT_A = 32
#: Simulated seconds per real second: the 10 s meter interval gives a meter value every half real second.
TIME_SCALE = 20.0
#: What an empty ``automations.yaml`` holds.
NO_AUTOMATIONS = "[]\n"


@dataclass(frozen=True)
class OnboardedCore:
    """A running, onboarded Core and the entity ids it had right after onboarding."""

    core: HomeAssistantCore
    token: str
    baseline: frozenset[str]


async def start_and_onboard(core: HomeAssistantCore) -> OnboardedCore:
    """Start Core, onboard it (its token set), and note the entity ids it has then."""
    await core.start()
    async with aiohttp.ClientSession() as http:
        core.token = await onboard(http, core.url)
        baseline = await HaClient(http, core.url, core.token).entity_ids()
    return OnboardedCore(core=core, token=core.token, baseline=frozenset(baseline))


@pytest.fixture(scope="session")
def home_assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OnboardedCore]:
    """Home Assistant Core on 127.0.0.1, onboarded, with a long-lived token (installed on first use)."""
    core = HomeAssistantCore(ensure_installed(), tmp_path_factory.mktemp("home-assistant"))
    onboarded = run_sync(start_and_onboard(core))
    try:
        yield onboarded
    finally:
        run_sync(core.stop())


async def reset_core(ha: HaClient, onboarded: OnboardedCore) -> None:
    """Take Core back to its state after onboarding: no automations, no helpers, only the baseline states."""
    automations = onboarded.core.automations_path
    if automations.read_text(encoding="utf-8") != NO_AUTOMATIONS:
        automations.write_text(NO_AUTOMATIONS, encoding="utf-8")
        await ha.call_service("automation", "reload", {})
    await ha.clear_leftovers(set(onboarded.baseline))


@dataclass
class Scenario:
    """One test's add-on (one charger, default name), its simulated wallbox charging a car, and Core."""

    core: HomeAssistantCore
    app: Application
    wallbox: WallboxSimulator
    ha: HaClient
    http: aiohttp.ClientSession
    charger_id: str = CHARGER_ID
    max_current_a: int = MAX_CURRENT_A
    time_scale: float = TIME_SCALE

    @property
    def api(self) -> str:
        """The add-on's JSON API base URL for this charger."""
        return f"http://127.0.0.1:{self.app.panel_port}/api/chargers/{quote(CHARGER_ID, safe='')}"

    def mark(self) -> int:
        """Index of the next call the wallbox receives; pass it to :meth:`next_profile_limit`."""
        return len(self.wallbox.received)

    def profile_limits(self, after: int = 0) -> list[float]:
        """The limits of the SetChargingProfile calls the wallbox received from index ``after`` on."""
        return profile_limits(self.wallbox.received, after)

    async def next_profile_limit(self, after: int, *, timeout_s: float = 10.0) -> float:
        """The limit of the first SetChargingProfile the wallbox received from index ``after`` on (waits for one)."""
        limits = await eventually(
            lambda: self.profile_limits(after),
            what=f"a SetChargingProfile after call {after}",
            timeout=timeout_s,
        )
        return limits[0]

    async def snapshot(self) -> dict[str, Any]:
        """The charger's entry in the add-on's ``GET /api/chargers/{id}``."""
        async with self.http.get(self.api) as response:
            body: dict[str, Any] = await response.json()
            assert response.status == 200, body
            return body

    async def api_put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT to the add-on's JSON API below this charger (``path`` like ``/current_limit``); asserts 200."""
        async with self.http.put(self.api + path, json=body) as response:
            result: dict[str, Any] = await response.json()
            assert response.status == 200, result
            return result

    async def api_post(self, path: str) -> dict[str, Any]:
        """POST a command to the add-on's JSON API below this charger (``path`` like ``/pause``); asserts 200."""
        async with self.http.post(self.api + path) as response:
            result: dict[str, Any] = await response.json()
            assert response.status == 200, result
            return result


@contextlib.asynccontextmanager
async def charging_scenario(onboarded: OnboardedCore, data_dir: Path) -> AsyncIterator[Scenario]:
    """Core back at its baseline, a fresh add-on connected to it, and its wallbox charging a car at the full limit."""
    core = onboarded.core
    options = Options.model_validate({"ssl": False, "chargers": [{"id": CHARGER_ID, "max_current": MAX_CURRENT_A}]})
    settings = Settings(
        options=options,
        data_dir=data_dir,
        host="127.0.0.1",
        ocpp_port=0,
        panel_port=0,
        transfer_port=0,
        ha_url=core.url,
        ha_token=onboarded.token,
        min_apply_interval_s=0.0,
    )
    async with aiohttp.ClientSession() as http:
        ha = HaClient(http, core.url, onboarded.token)
        await reset_core(ha, onboarded)
        app = Application(settings)
        await app.start()
        wallbox = WallboxSimulator(f"ws://127.0.0.1:{app.ocpp_port}", CHARGER_ID, time_scale=TIME_SCALE, reboot_s=5.0)
        task = asyncio.create_task(wallbox.run())
        try:
            await wallbox.wait_connected(10)
            await wallbox.plug_in()
            scenario = Scenario(core=core, app=app, wallbox=wallbox, ha=ha, http=http)
            await scenario.api_put("/current_limit", {"amps": MAX_CURRENT_A})  # a last command to show
            # The add-on moves the new slider to the limit once its helpers are set up, so this is "controls ready".
            await ha.wait_state(
                f"input_number.{SLUG}_current_limit",
                lambda state: state["state"] == f"{MAX_CURRENT_A:.1f}",
                what=f"to show {MAX_CURRENT_A} A (the add-on's controls set up)",
                timeout_s=20,
            )
            # Charging changes an entity that goes out at once with all the others of the charger.
            await ha.wait_state(f"binary_sensor.{SLUG}_charging", lambda state: state["state"] == "on", what="on")
            yield scenario
        finally:
            await wallbox.stop()
            await task
            await app.stop()


@pytest.fixture
async def charging(home_assistant: OnboardedCore, tmp_path: Path) -> AsyncIterator[Scenario]:
    """This test's own charging scenario (see :func:`charging_scenario`)."""
    async with charging_scenario(home_assistant, tmp_path / "addon-data") as scenario:
        yield scenario


LookAt = Callable[[Scenario], Awaitable[T]]


@pytest.fixture(scope="module")
def look_at_charging(
    home_assistant: OnboardedCore, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[LookAt[T]], T]:
    """Runs ``look(scenario)`` in a charging scenario of its own and returns what it found.

    For module-scoped fixtures that collect once what several tests only read: the
    scenario runs on a private event loop and is gone when ``look`` returns, so no
    test can change what another one sees.
    """

    def run(look: LookAt[T]) -> T:
        async def once() -> T:
            async with charging_scenario(home_assistant, tmp_path_factory.mktemp("addon-data")) as scenario:
                return await look(scenario)

        return run_sync(once())

    return run

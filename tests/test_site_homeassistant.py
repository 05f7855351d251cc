"""The site budget against a real Home Assistant Core: meter entities set through its REST API, both transports.

A simulated wallbox charges a car at 16 A per phase behind a 25 A main fuse with a
1 A margin; the grid meter is three sensor entities (L1..L3) that the test sets the
way a meter integration would, through Core's REST API. What is checked is what
reaches the wallbox: the SetChargingProfile limits and when they arrive.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from bmw_wallbox.app import Application, Settings
from bmw_wallbox.options import Options
from bmw_wallbox.simulator import WallboxSimulator

from ha_client import HaClient
from helpers import eventually, free_port

if TYPE_CHECKING:
    from ha_fixtures import OnboardedCore

pytest_plugins = ["ha_fixtures"]

CHARGERS = ("DE*BMW*ESITE0001", "DE*BMW*ESITE0002")
PHASES = ("sensor.grid_l1", "sensor.grid_l2", "sensor.grid_l3")
CAR_A = 16.0
STALE_AFTER_S = 5
RESUME_AFTER_S = 3
TIME_SCALE = 20.0
#: The household at the start, by number of chargers, and the limit each charger then settles at.
HOUSEHOLD_A = {1: 8.0, 2: 0.0}
STEADY_A = {1: 16.0, 2: 12.0}


@dataclass
class Site:
    """The add-on with a site budget, its wallboxes (each charging a car), Core, and a meter that keeps reporting."""

    app: Application
    wallboxes: dict[str, WallboxSimulator]
    ha: HaClient
    http: aiohttp.ClientSession
    household_a: float | None = None
    reporting: asyncio.Event = field(default_factory=asyncio.Event)

    def cars_a(self) -> float:
        """What the chargers draw on L1 as the add-on knows it (it subtracts exactly this from the grid)."""
        return sum(c.main_evse.meter.current_phases_a.get("L1", 0.0) for c in self.app.hub.chargers.values())

    async def report(self) -> None:
        """Post the grid current on every phase as a meter measures it: the household plus what the cars draw now."""
        assert self.household_a is not None
        grid_a = self.household_a + sum(wallbox.current_a for wallbox in self.wallboxes.values())
        for entity in PHASES:
            if not self.reporting.is_set():
                return  # silenced half-way: a meter that stops sends nothing more
            await self.ha.post_state(entity, f"{grid_a:.1f}", {"unit_of_measurement": "A", "device_class": "current"})

    async def household(self, amps: float) -> float:
        """The house draws ``amps`` per phase from now on; the meter reports it at once. Returns when."""
        self.household_a = amps
        self.reporting.set()
        await self.report()
        return time.monotonic()

    async def keep_reporting(self) -> None:
        """Report the meter every second while ``reporting`` is set (a meter that is alive)."""
        while True:
            await self.reporting.wait()
            await self.report()
            await asyncio.sleep(1.0)  # a meter's own period, not synchronisation

    def silence(self) -> float:
        """The meter stops reporting; returns when."""
        self.reporting.clear()
        return time.monotonic()

    def limits(self, charger_id: str = CHARGERS[0]) -> list[float]:
        """The limit of every SetChargingProfile this wallbox received, in order."""
        return [
            float(p["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"])
            for action, p in self.wallboxes[charger_id].received
            if action == "SetChargingProfile"
        ]

    async def limit_reaches(self, value: float, *, since: float, charger_id: str = CHARGERS[0]) -> float:
        """Wait until the last limit sent is ``value``; the seconds it took from ``since``."""
        await eventually(
            lambda: self.limits(charger_id), what=f"{value} A on the wire", until=lambda sent: sent[-1:] == [value]
        )
        return time.monotonic() - since

    async def site(self) -> dict[str, Any]:
        async with self.http.get(f"http://127.0.0.1:{self.app.panel_port}/api/site") as response:
            body: dict[str, Any] = await response.json()
            return body


def site_options(chargers: int) -> Options:
    return Options.model_validate(
        {
            "ssl": False,
            "chargers": [{"id": cid, "name": f"Wallbox {n}"} for n, cid in enumerate(CHARGERS[:chargers], start=1)],
            "site": {
                "main_fuse_a": 25, "safety_margin_a": 1, "failsafe_a": 6, "phase_current_entities": list(PHASES),
                "stale_after_s": STALE_AFTER_S, "resume_after_s": RESUME_AFTER_S,
            },
        }
    )  # fmt: skip


async def start_site(
    onboarded: OnboardedCore, http: aiohttp.ClientSession, data_dir: Path, *, chargers: int, mqtt_url: str | None
) -> Site:
    ha = HaClient(http, onboarded.core.url, onboarded.token)
    settings = Settings(
        options=site_options(chargers), data_dir=data_dir, host="127.0.0.1", ocpp_port=free_port(), panel_port=0,
        transfer_port=0, ha_url=onboarded.core.url, ha_token=onboarded.token, min_apply_interval_s=0.0,
        mqtt_url=mqtt_url,
    )  # fmt: skip
    app = Application(settings)
    await app.start()
    wallboxes = {
        cid: WallboxSimulator(f"ws://127.0.0.1:{app.ocpp_port}", cid, time_scale=TIME_SCALE, reboot_s=5.0)
        for cid in CHARGERS[:chargers]
    }
    return Site(app=app, wallboxes=wallboxes, ha=ha, http=http)


@pytest.fixture(params=["rest", "mqtt"])
async def site(request: pytest.FixtureRequest, home_assistant: OnboardedCore, tmp_path: Path) -> AsyncIterator[Site]:
    """One wallbox charging at 16 A with 8 A of household on a live meter, steady (REST or MQTT transport)."""
    mqtt_url = request.getfixturevalue("mosquitto").url if request.param == "mqtt" else None
    async with running_site(home_assistant, tmp_path, chargers=1, mqtt_url=mqtt_url) as site:
        yield site


class running_site:  # noqa: N801 (an async context manager used like a function)
    """Start the site, set the meter, plug in every car and wait until they charge at 16 A; stop it all after."""

    def __init__(self, onboarded: OnboardedCore, tmp_path: Path, *, chargers: int, mqtt_url: str | None) -> None:
        self._args = (onboarded, tmp_path, chargers, mqtt_url)
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Site:
        onboarded, tmp_path, chargers, mqtt_url = self._args
        self._http = aiohttp.ClientSession()
        self._site = site = await start_site(
            onboarded, self._http, tmp_path / "data", chargers=chargers, mqtt_url=mqtt_url
        )
        self._tasks.append(asyncio.create_task(site.keep_reporting()))
        await site.household(HOUSEHOLD_A[chargers])
        for wallbox in site.wallboxes.values():
            self._tasks.append(asyncio.create_task(wallbox.run()))
            await wallbox.wait_connected(10)
            await wallbox.plug_in()
        steady = STEADY_A[chargers]
        for cid in site.wallboxes:
            await site.limit_reaches(steady, since=time.monotonic(), charger_id=cid)
        await eventually(
            site.cars_a,
            what=f"the chargers to report {steady} A each",
            until=lambda a: a == steady * chargers,
            timeout=20,
        )
        return site

    async def __aexit__(self, *exc: object) -> None:
        for wallbox in self._site.wallboxes.values():
            await wallbox.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._site.app.stop()
        await self._http.close()


async def test_a_household_jump_puts_the_headroom_on_the_wire_within_2_s(site: Site) -> None:
    """Household 17 A beside 16 A charging on a 25 A fuse (1 A margin): 7 A on the wire within 2 s."""
    since = await site.household(17.0)
    took = await site.limit_reaches(7.0, since=since)
    assert took < 2.0
    view = await eventually(
        site.site, what="the car at 7 A in the meter", until=lambda v: v["household_a"] == [17.0] * 3
    )
    assert (view["state"], view["headroom_a"]) == ("limited", [7.0] * 3)
    charger = site.app.hub.chargers[CHARGERS[0]]
    assert (charger.budget.limit_a, charger.budget.limited_by, charger.desired.limit_a) == (7.0, "budget", 32.0)


async def test_too_little_headroom_pauses_and_the_limit_comes_back_after_resume_after_s(site: Site) -> None:
    """Household 19 A: 0 A within 2 s, the session kept; household 8 A again: 16 A after resume_after_s."""
    wallbox = site.wallboxes[CHARGERS[0]]
    transaction = wallbox.transaction_id
    since = await site.household(19.0)
    assert await site.limit_reaches(0.0, since=since) < 2.0
    await eventually(lambda: wallbox.power_w, what="the car to stop drawing", until=lambda w: w == 0)
    charger = site.app.hub.chargers[CHARGERS[0]]
    assert (charger.budget.limited_by, charger.desired.paused, charger.desired.limit_a) == ("budget", False, 32.0)
    await eventually(site.cars_a, what="the charger to report 0 A", until=lambda a: a == 0)
    since = await site.household(8.0)
    took = await site.limit_reaches(16.0, since=since)
    assert took >= RESUME_AFTER_S - 0.5
    assert wallbox.transaction_id == transaction


async def test_a_meter_that_stops_or_turns_unavailable_brings_the_failsafe(site: Site) -> None:
    """No report for stale_after_s: 6 A within stale_after_s + 2 s; an unavailable phase: 6 A within 2 s."""
    await asyncio.sleep(1.5)  # let the meter report once more on its own period
    since = site.silence()
    took = await site.limit_reaches(6.0, since=since)
    assert took < STALE_AFTER_S + 2.0
    assert (await site.site())["state"] == "failsafe"
    await eventually(site.cars_a, what="the charger to report 6 A", until=lambda a: a == 6.0)
    since = await site.household(8.0)
    await site.limit_reaches(16.0, since=since)
    since = site.silence()  # the meter integration loses its device: L2 turns unavailable
    await site.ha.post_state(PHASES[1], "unavailable", {})
    assert await site.limit_reaches(6.0, since=since) < 2.0
    assert (await site.site())["problem"] == f"{PHASES[1]}: unavailable"


async def test_an_app_restart_starts_in_failsafe_until_the_meter_has_shown_headroom(site: Site) -> None:
    """After a restart the reconnecting wallbox gets at most failsafe_a, its 16 A only after resume_after_s."""
    wallbox = site.wallboxes[CHARGERS[0]]
    transaction = wallbox.transaction_id
    settings = site.app.settings
    await site.app.stop()
    mark = len(site.limits())
    site.app = Application(settings)
    await site.app.start()
    since = time.monotonic()
    await eventually(lambda: site.limits()[mark:], what="the limit after the restart", until=lambda sent: sent)
    assert site.limits()[mark] <= 6.0  # failsafe, or less while the charger's own draw is not known yet
    took = await site.limit_reaches(16.0, since=since)
    assert took >= RESUME_AFTER_S - 0.5
    assert wallbox.transaction_id == transaction
    charger = site.app.hub.chargers[CHARGERS[0]]
    assert (charger.desired.paused, charger.desired.limit_a) == (False, 32.0)


async def test_two_chargers_share_the_headroom(home_assistant: OnboardedCore, tmp_path: Path) -> None:
    """Household 8 A beside two wallboxes at 12 A each: 16 A of headroom, 8 A each within 2 s."""
    async with running_site(home_assistant, tmp_path, chargers=2, mqtt_url=None) as site:
        since = await site.household(8.0)
        for cid in CHARGERS:
            assert await site.limit_reaches(8.0, since=since, charger_id=cid) < 2.0
        view = await site.site()
        assert view["allocations"] == {CHARGERS[0]: 8.0, CHARGERS[1]: 8.0}


# --- what Home Assistant shows of the budget ---------------------------------------------------------
# The checks run here in REST mode (this module's Core has no MQTT integration) and in
# test_mqtt_homeassistant.py in MQTT mode, with that module's Core; the entity ids are the same.

#: The charger's budget sensors (the charger is named "Wallbox 1").
BUDGET_LIMIT, LIMITED_BY = "sensor.wallbox_1_budget_limit", "sensor.wallbox_1_limited_by"
SITE_EVENTS = "event.bmw_wallbox_site_events"


def phases(state: dict[str, Any]) -> list[float]:
    return [state["attributes"].get(f"l{n}_a") for n in (1, 2, 3)]


def steady(amps: float) -> Any:
    """A state check: ``amps`` as the state and on every phase (the meter posts its phases one after the other)."""
    return lambda state: (state["state"], phases(state)) == (f"{amps:.1f}", [amps] * 3)


async def set_limit(site: Site, amps: float) -> None:
    """The user asks for ``amps`` through the JSON API."""
    url = f"http://127.0.0.1:{site.app.panel_port}/api/chargers/{CHARGERS[0]}/current_limit"
    async with site.http.put(url, json={"amps": amps}) as response:
        assert response.status == 200, await response.text()


async def check_site_entities(site: Site) -> None:
    """The site's state, headroom (lowest phase), household and meter age, and the charger's budget sensors."""
    ha = site.ha
    headroom = await ha.wait_state("sensor.bmw_wallbox_site_headroom", steady(16.0), timeout_s=30)
    attributes = {k: headroom["attributes"].get(k) for k in ("unit_of_measurement", "device_class", "state_class")}
    assert attributes == {"unit_of_measurement": "A", "device_class": "current", "state_class": "measurement"}
    await ha.wait_state("sensor.bmw_wallbox_site_household", steady(8.0))
    state = await ha.wait_state("sensor.bmw_wallbox_site_state", lambda s: s["state"] == "limited")
    assert state["attributes"]["options"] == ["off", "ok", "limited", "failsafe"]
    age = await ha.wait_state("sensor.bmw_wallbox_site_meter_age", lambda s: s["state"] not in ("unknown", ""))
    assert 0 <= float(age["state"]) <= STALE_AFTER_S
    assert age["attributes"]["unit_of_measurement"] == "s"
    limit = await ha.wait_state(BUDGET_LIMIT, lambda s: s["state"] == "16.0")
    assert limit["attributes"]["unit_of_measurement"] == "A"
    await ha.wait_state(LIMITED_BY, lambda s: s["state"] == "budget")
    since = await site.household(19.0)  # under 6 A of headroom: the budget pauses the charger
    await site.limit_reaches(0.0, since=since)
    await ha.wait_state(BUDGET_LIMIT, lambda s: s["state"] == "0.0")
    await ha.wait_state("sensor.bmw_wallbox_site_headroom", lambda s: s["state"] == "5.0", timeout_s=20)


async def check_limiting_events(site: Site, *, event_entity: bool) -> None:
    """A limit below the share ends limiting, the full limit starts it again: one bus event each (and on the entity)."""
    async with (
        site.ha.events("bmw_wallbox_site_limiting_ended") as ended,
        site.ha.events("bmw_wallbox_site_limiting_started") as started,
    ):
        await set_limit(site, 10)
        data = (await asyncio.wait_for(ended.get(), 10))["data"]
        assert (data["state"], data["main_fuse_a"]) == ("ok", 25)
        await site.ha.wait_state(LIMITED_BY, lambda s: s["state"] == "user")
        if event_entity:
            await site.ha.wait_state(SITE_EVENTS, lambda s: s["attributes"].get("event_type") == "limiting_ended")
        await set_limit(site, 32)
        data = (await asyncio.wait_for(started.get(), 10))["data"]
        assert (data["state"], len(data["headroom_a"])) == ("limited", 3)
        if event_entity:
            await site.ha.wait_state(SITE_EVENTS, lambda s: s["attributes"].get("event_type") == "limiting_started")


@pytest.fixture
async def rest_site(home_assistant: OnboardedCore, tmp_path: Path) -> AsyncIterator[Site]:
    """The ``site`` scenario with the REST transport."""
    async with running_site(home_assistant, tmp_path, chargers=1, mqtt_url=None) as site:
        yield site


async def test_rest_shows_the_site_device_and_each_chargers_budget(rest_site: Site) -> None:
    """REST: sensor.bmw_wallbox_site_state, _headroom, _household, _meter_age and the budget limit and cap."""
    await check_site_entities(rest_site)


async def test_rest_fires_limiting_ended_and_started_on_the_bus(rest_site: Site) -> None:
    """REST: bmw_wallbox_site_limiting_ended and _started on the bus as the budget stops and starts capping."""
    await check_limiting_events(rest_site, event_entity=False)

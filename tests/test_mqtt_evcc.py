"""evcc's custom charger driving the add-on through plain MQTT topics, as evcc's MQTT plugins do.

An evcc-like client reads ``<base>/<node>/evcc/{status,enabled,power,energy,currents}``
and writes ``.../evcc/enable/set`` and ``.../evcc/maxcurrent/set`` on a real
broker, with the add-on and a simulated wallbox charging a car; with a wallbox
of two EVSEs (the simulator's ``dual-evse``), one evcc charger per EVSE under
``.../evcc/evse<n>/``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bmw_wallbox.app import Application
from bmw_wallbox.options import Options
from bmw_wallbox.simulator import DUAL_EVSE, Personality, WallboxSimulator

from conftest import StartApp, running
from helpers import eventually, profile_limit, profile_limits
from mosquitto import Mosquitto, Watcher, watching

CHARGER_ID = "DE*BMW*EEVCC0001"
NODE = "bmw_wallbox_DE_BMW_EEVCC0001"
MAX_CURRENT_A = 16
TIME_SCALE = 10.0


@dataclass
class Evcc:
    """What evcc sees and sends: the topics under ``<base>/<node>/evcc/``."""

    watcher: Watcher
    base: str
    sim: WallboxSimulator
    app: Application

    def topic(self, name: str, evse_id: int | None = None) -> str:
        scope = "" if evse_id is None else f"evse{evse_id}/"
        return f"{self.base}/{NODE}/evcc/{scope}{name}"

    async def read(self, name: str, check: object = lambda p: True, evse_id: int | None = None) -> str:
        return await self.watcher.wait_for(self.topic(name, evse_id), check)

    async def enable(self, on: bool, evse_id: int | None = None) -> None:
        await self.watcher.publish(self.topic("enable/set", evse_id), "true" if on else "false")

    async def max_current(self, amps: int, evse_id: int | None = None) -> None:
        await self.watcher.publish(self.topic("maxcurrent/set", evse_id), str(amps))

    def limits(self, after: int = 0) -> list[float]:
        """The limits of the SetChargingProfile frames the wallbox received after ``received[after]``."""
        return profile_limits(self.sim.received, after)


async def evcc_client(
    start_app: StartApp,
    mosquitto: Mosquitto,
    personality: Personality | None = None,
    max_current_a: int = MAX_CURRENT_A,
    **settings: object,
) -> AsyncIterator[Evcc]:
    base = f"evcc{uuid.uuid4().hex[:8]}"
    options = Options.model_validate(
        {
            "ssl": False,
            "chargers": [{"id": CHARGER_ID, "max_current": max_current_a}],
            "mqtt": {"base_topic": base, "discovery_prefix": f"{base}_ha"},
        }
    )
    app = await start_app(options=options, mqtt_url=mosquitto.url, **settings)
    chosen = {} if personality is None else {"personality": personality}
    sim = WallboxSimulator(f"ws://127.0.0.1:{app.ocpp_port}", CHARGER_ID, time_scale=TIME_SCALE, **chosen)
    async with watching(mosquitto, f"{base}/{NODE}/evcc/#") as watcher, running(sim):
        evcc = Evcc(watcher, base, sim, app)
        for evse_id in range(1, sim.personality.evses + 1):
            await sim.plug_in(evse_id)
            await evcc.read("status", lambda p: p == "C", evse_id if sim.personality.evses > 1 else None)
        yield evcc


@pytest.fixture
async def evcc(start_app: StartApp, mosquitto: Mosquitto) -> AsyncIterator[Evcc]:
    """An evcc-like client, the add-on (limits applied at once) and a wallbox charging a car."""
    async for client in evcc_client(start_app, mosquitto):
        yield client


@pytest.fixture
async def coalescing_evcc(start_app: StartApp, mosquitto: Mosquitto) -> AsyncIterator[Evcc]:
    """The same, with the add-on's default spacing of at most one limit every 2 s."""
    async for client in evcc_client(start_app, mosquitto, min_apply_interval_s=2.0):
        yield client


async def test_status_power_energy_and_currents_read_back(evcc: Evcc) -> None:
    """While the car charges evcc reads status C, enabled, the power in W, the energy in kWh and three currents."""
    power = await evcc.read("power", lambda p: float(p) > 0)
    energy = await evcc.read("energy", lambda p: float(p) > 0)
    currents = json.loads(await evcc.read("currents", lambda p: json.loads(p)[0] > 0))
    assert (await evcc.read("status"), await evcc.read("enabled")) == ("C", "true")
    assert (10_000 < float(power) < 12_000, float(energy) >= 1234.5, currents) == (True, True, [16.0, 16.0, 16.0])


async def test_disable_pauses_and_enable_resumes_in_the_same_session(evcc: Evcc) -> None:
    """Disable sends 0 A (status B, enabled false); enable sends the limit again (status C); the session stays."""
    session = evcc.sim.transaction_id
    after = len(evcc.sim.received)
    await evcc.enable(False)
    await evcc.read("enabled", lambda p: p == "false")
    await evcc.read("status", lambda p: p == "B")
    await evcc.enable(True)
    await evcc.read("enabled", lambda p: p == "true")
    await evcc.read("status", lambda p: p == "C")
    limits = evcc.limits(after)  # back to Charging, the add-on sends the limit once more, by design
    assert (limits[0], set(limits[1:]), evcc.sim.transaction_id) == (0.0, {float(MAX_CURRENT_A)}, session)


async def test_maxcurrent_sets_the_limit(evcc: Evcc) -> None:
    """maxcurrent/set reaches the wallbox as that limit, and the power follows it."""
    after = len(evcc.sim.received)
    await evcc.max_current(8)
    await eventually(lambda: evcc.limits(after)[-1:] == [8.0], what="an 8 A profile at the charger")
    power = await evcc.read("power", lambda p: 5000 < float(p) < 6000)
    assert (evcc.limits(after)[-1], 5000 < float(power) < 6000) == (8.0, True)


async def test_maxcurrent_while_disabled_does_not_resume(evcc: Evcc) -> None:
    """A new maxcurrent while evcc keeps charging disabled stays paused; enable then charges at that current."""
    await evcc.enable(False)
    await evcc.read("status", lambda p: p == "B")
    after = len(evcc.sim.received)
    await evcc.max_current(10)
    await eventually(
        lambda: evcc.app.hub.chargers[CHARGER_ID].desired.limit_a, until=lambda a: a == 10.0, what="the 10 A limit"
    )
    assert (await evcc.read("enabled"), evcc.sim.offered_current_a, set(evcc.limits(after))) == ("false", 0.0, {0.0})
    await evcc.enable(True)
    await eventually(lambda: evcc.sim.current_a == 10.0, what="the car charging at 10 A")
    assert evcc.limits(after)[-1] == 10.0


async def test_enable_disable_maxcurrent_cycles(evcc: Evcc) -> None:
    """Three solar-surplus cycles (current, enable, disable) each end in the state evcc asked for."""
    for amps in (6, 10, 13):
        after = len(evcc.sim.received)
        await evcc.max_current(amps)
        await evcc.enable(True)
        await evcc.read("status", lambda p: p == "C")
        await eventually(
            lambda amps=amps, after=after: evcc.limits(after)[-1:] == [float(amps)], what="the new limit at the charger"
        )
        await evcc.enable(False)
        await evcc.read("status", lambda p: p == "B")
        await eventually(lambda after=after: evcc.limits(after)[-1:] == [0.0], what="a 0 A profile at the charger")
    assert evcc.sim.received_count("RequestStopTransaction") == 0


async def test_quick_toggles_are_coalesced(coalescing_evcc: Evcc) -> None:
    """Ten quick enable/disable toggles reach the wallbox as far fewer profiles, and the last one wins."""
    evcc = coalescing_evcc
    after = len(evcc.sim.received)
    for number in range(10):
        await evcc.enable(number % 2 == 1)
    await evcc.read("enabled", lambda p: p == "true")
    await eventually(
        lambda: evcc.limits(after)[-1:] == [float(MAX_CURRENT_A)],
        timeout=15,
        what="the last toggle's limit at the charger",
    )
    assert len(evcc.limits(after)) <= 3


async def test_payload_evcc_cannot_mean_is_ignored(evcc: Evcc) -> None:
    """An enable payload that is neither true nor false changes nothing."""
    after = len(evcc.sim.received)
    await evcc.watcher.publish(evcc.topic("enable/set"), "maybe")
    await evcc.max_current(12)  # a marker: once it arrived, the payload before it was handled too
    await eventually(lambda: evcc.limits(after)[-1:] == [12.0], what="a 12 A profile at the charger")
    assert (evcc.limits(after), await evcc.read("enabled")) == ([12.0], "true")


@pytest.fixture
async def dual_evcc(start_app: StartApp, mosquitto: Mosquitto) -> AsyncIterator[Evcc]:
    """An evcc-like client, the add-on and a wallbox with two EVSEs, a 16 A car charging on each (32 A in all)."""
    async for client in evcc_client(start_app, mosquitto, DUAL_EVSE, max_current_a=2 * MAX_CURRENT_A):
        yield client


def evse_limits(evcc: Evcc, evse_id: int, after: int = 0) -> list[float]:
    """The limits of the profiles EVSE ``evse_id`` received (TxDefault or TxProfile on it) after ``received[after]``."""
    return [
        profile_limit(payload)
        for action, payload in evcc.sim.received[after:]
        if action == "SetChargingProfile" and payload.get("evseId") == evse_id
    ]


async def test_each_evse_is_one_evcc_charger(dual_evcc: Evcc) -> None:
    """Both EVSEs charge: each has status C, its own power and register; the charger's energy is their sum."""
    evcc = dual_evcc
    powers = [float(await evcc.read("power", lambda p: float(p) > 0, evse_id)) for evse_id in (1, 2)]
    charger = evcc.app.hub.chargers[CHARGER_ID]

    def registers() -> tuple[str, str, str]:
        return tuple(evcc.watcher.latest[evcc.topic("energy", n)] for n in (None, 1, 2))  # type: ignore[return-value]

    await eventually(
        registers,
        until=lambda r: float(r[0]) > 0 and round(float(r[1]) + float(r[2]), 3) == float(r[0]),
        what="the charger's energy to be the sum of both EVSEs'",
    )
    statuses = [await evcc.read("status", evse_id=n) for n in (None, 1, 2)]
    assert (statuses, all(p > 1000 for p in powers), sorted(charger.evses)) == (["C", "C", "C"], True, [1, 2])


async def test_disabling_one_evse_pauses_it_alone(dual_evcc: Evcc) -> None:
    """EVSE 2's disable sends 0 A to EVSE 2 only (EVSE 1 keeps 32 A, charging); enable resumes it, same session."""
    evcc = dual_evcc
    session = evcc.sim.evse(2).transaction
    after = len(evcc.sim.received)
    await evcc.enable(False, evse_id=2)
    await evcc.read("enabled", lambda p: p == "false", evse_id=2)
    await evcc.read("status", lambda p: p == "B", evse_id=2)
    assert (evse_limits(evcc, 2, after)[-1], set(evse_limits(evcc, 1, after)) <= {32.0}) == (0.0, True)
    assert (await evcc.read("enabled", evse_id=1), await evcc.read("status", evse_id=1)) == ("true", "C")
    assert await evcc.read("enabled") == "true"
    await evcc.enable(True, evse_id=2)
    await evcc.read("status", lambda p: p == "C", evse_id=2)
    await evcc.read("enabled", lambda p: p == "true", evse_id=2)
    assert evcc.sim.evse(2).transaction == session


async def test_maxcurrent_of_one_evse_limits_that_evse(dual_evcc: Evcc) -> None:
    """EVSE 2's maxcurrent 8 reaches EVSE 2 as 8 A and its power follows; EVSE 1 keeps its 32 A."""
    evcc = dual_evcc
    after = len(evcc.sim.received)
    await evcc.max_current(8, evse_id=2)
    await eventually(lambda: evse_limits(evcc, 2, after)[-1:] == [8.0], what="an 8 A profile on EVSE 2")
    await evcc.read("power", lambda p: 5000 < float(p) < 6000, evse_id=2)
    assert (set(evse_limits(evcc, 1, after)) <= {32.0}, evcc.sim.evse(1).offered_current_a() > 8) == (True, True)


async def test_a_command_for_an_evse_the_charger_lacks_is_refused_and_said(dual_evcc: Evcc) -> None:
    """EVSE 3's disable on a two-EVSE charger pauses nothing and ends as an invalid command."""
    evcc = dual_evcc
    after = len(evcc.sim.received)
    await evcc.enable(False, evse_id=3)
    charger = evcc.app.hub.chargers[CHARGER_ID]
    record = await eventually(
        lambda: charger.last_command, until=lambda r: r is not None and "no EVSE 3" in r.detail, what="the refusal"
    )
    assert (record.outcome, 0.0 in profile_limits(evcc.sim.received, after)) == ("invalid", False)
    assert [await evcc.read("enabled", evse_id=n) for n in (None, 1, 2)] == ["true"] * 3

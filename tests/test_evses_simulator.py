"""Chargers with several EVSEs against the simulator's dual-evse personality (two EVSEs, a meter each, one
station maximum), also combined with the Delta's quirks: start, own limits, pause and resume, the energy sum."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from bmw_wallbox.app import Application
from bmw_wallbox.cli import build_parser
from bmw_wallbox.simulator import DELTA, DUAL_EVSE, Personality, WallboxSimulator, combine, preset

from conftest import CHARGER_ID, StartApp, api_send, charger_snapshot, running
from helpers import eventually, free_port

BASE = f"/api/chargers/{quote(CHARGER_ID, safe='')}"
TIME_SCALE = 10.0
PERSONALITIES = [DUAL_EVSE, combine(DELTA, DUAL_EVSE)]


@asynccontextmanager
async def simulator(
    app: Application, client_ssl: ssl.SSLContext, personality: Personality, **kwargs: Any
) -> AsyncIterator[WallboxSimulator]:
    """A two-EVSE simulator connected to the app, once both EVSEs are known to it."""
    sim = WallboxSimulator(
        f"wss://localhost:{app.ocpp_port}",
        CHARGER_ID,
        ssl=client_ssl,
        personality=personality,
        time_scale=TIME_SCALE,
        reboot_s=5.0,
        **kwargs,
    )
    async with running(sim):
        await eventually(
            lambda: sorted(app.hub.chargers[CHARGER_ID].evses), until=lambda ids: ids == [1, 2], what="both EVSEs"
        )
        yield sim


async def energy_kwh(app: Application) -> float:
    """The charger's lifetime energy as the JSON API shows it."""
    value = (await charger_snapshot(app))["energy_kwh"]
    assert isinstance(value, float)
    return value


def test_the_dual_evse_preset_combines_with_the_others() -> None:
    """preset("delta+dual-evse") is the Delta with two EVSEs; dual-evse alone is a plain charger with two."""
    combined = preset("delta+dual-evse")
    assert (combined.evses, combined.quirks, combined.vendor_name) == (2, True, "Delta Electronics")
    assert (DUAL_EVSE.evses, DUAL_EVSE.quirks) == (2, False)


async def test_start_reaches_the_evse_with_the_car(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """A car on EVSE 2 without a session (its session was stopped): Start without evse_id starts EVSE 2."""
    app = await start_app()
    async with simulator(app, client_ssl, DUAL_EVSE) as sim:
        await sim.plug_in(2)
        status, body = await api_send(app, "POST", f"{BASE}/stop")  # the only session: EVSE 2's
        assert (status, body["outcome"]) == (200, "accepted"), body
        await eventually(lambda: sim.evse(2).transaction, until=lambda tx: tx is None, what="EVSE 2's session to end")
        await eventually(
            lambda: charger_snapshot(app), until=lambda snap: snap["transaction_id"] is None, what="the session ended"
        )
        status, body = await api_send(app, "POST", f"{BASE}/start")
        assert (status, body["outcome"]) == (200, "accepted"), body
        assert (await sim.wait_for_call("RequestStartTransaction"))["evseId"] == 2
        await eventually(lambda: sim.evse(2).meter.current_a, until=lambda a: a > 0, what="EVSE 2 to charge")


def test_the_demo_takes_combined_personalities() -> None:
    """--demo-personality delta+dual-evse is accepted; a name that is no preset is refused."""
    assert build_parser().parse_args(["--demo", "--demo-personality", "delta+dual-evse"]).demo_personality == (
        "delta+dual-evse"
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--demo-personality", "delta+tesla"])


@pytest.mark.parametrize("personality", PERSONALITIES, ids=lambda p: p.name)
async def test_both_evses_charge_at_once_with_their_own_limits(
    start_app: StartApp, client_ssl: ssl.SSLContext, personality: Personality
) -> None:
    """Cars on both EVSEs: each EVSE follows its own limit, set with evse_id; each reads back in sync."""
    app = await start_app()
    async with simulator(app, client_ssl, personality, car_max_current_a=32.0) as sim:
        await sim.plug_in(1)
        await sim.plug_in(2)
        for evse_id, amps in ((1, 10), (2, 8)):
            status, body = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": amps, "evse_id": evse_id})
            assert (status, body["outcome"], body["limit_in_sync"]) == (200, "accepted", True), body
        await eventually(
            lambda: (sim.evse(1).meter.current_a, sim.evse(2).meter.current_a),
            until=lambda currents: currents == (10.0, 8.0),
            what="EVSE 1 at 10 A and EVSE 2 at 8 A",
        )


@pytest.mark.parametrize("personality", PERSONALITIES, ids=lambda p: p.name)
async def test_the_chargers_limit_caps_the_sum_of_both_evses(
    start_app: StartApp, client_ssl: ssl.SSLContext, personality: Personality
) -> None:
    """Both EVSEs charge; the charger's limit of 20 A (no evse_id) keeps their sum at or under 20 A."""
    app = await start_app()
    async with simulator(app, client_ssl, personality, car_max_current_a=16.0) as sim:
        await sim.plug_in(1)
        await sim.plug_in(2)
        status, body = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 20})
        assert (status, body["outcome"]) == (200, "accepted"), body
        total = await eventually(
            lambda: sim.evse(1).meter.current_a + sim.evse(2).meter.current_a,
            until=lambda amps: 0 < amps <= 20.0,
            what="the sum of both EVSEs under 20 A",
        )
        assert total <= 20.0


@pytest.mark.parametrize("personality", PERSONALITIES, ids=lambda p: p.name)
async def test_pause_and_resume_one_evse_while_the_other_charges(
    start_app: StartApp, client_ssl: ssl.SSLContext, personality: Personality
) -> None:
    """Pause EVSE 2: it draws nothing, EVSE 1 keeps charging, both sessions stay; resume EVSE 2: it charges again."""
    app = await start_app()
    async with simulator(app, client_ssl, personality) as sim:
        await sim.plug_in(1)
        await sim.plug_in(2)
        sessions = (sim.evse(1).transaction, sim.evse(2).transaction)
        status, body = await api_send(app, "POST", f"{BASE}/pause", {"evse_id": 2})
        assert (status, body["outcome"]) == (200, "accepted"), body
        await eventually(
            lambda: (sim.evse(1).meter.current_a > 0, sim.evse(2).meter.current_a),
            until=lambda seen: seen == (True, 0.0),
            what="EVSE 2 paused, EVSE 1 charging",
        )
        status, body = await api_send(app, "POST", f"{BASE}/resume")
        assert (status, body["outcome"]) == (200, "accepted"), body
        await eventually(lambda: sim.evse(2).meter.current_a, until=lambda a: a > 0, what="EVSE 2 to charge again")
        assert (sim.evse(1).transaction, sim.evse(2).transaction) == sessions


@pytest.mark.parametrize("personality", PERSONALITIES, ids=lambda p: p.name)
async def test_lifetime_energy_is_the_sum_of_both_meters_and_never_goes_down_across_a_restart(
    start_app: StartApp, client_ssl: ssl.SSLContext, tmp_path: Path, personality: Personality
) -> None:
    """Both EVSEs charge: energy_kwh equals the sum of both registers, rises, and stays after the app restarts."""
    port, data_dir = free_port(), tmp_path / "data"
    app = await start_app(data_dir=data_dir, ocpp_port=port)
    async with simulator(app, client_ssl, personality, energy_wh=10_000.0) as sim:
        await sim.plug_in(1)
        await sim.plug_in(2)
        seen = [await energy_kwh(app)]
        for _ in range(3):
            await api_send(app, "POST", f"{BASE}/pause", {"evse_id": 1})  # each change brings readings
            seen.append(await energy_kwh(app))
            await api_send(app, "POST", f"{BASE}/resume", {"evse_id": 1})
            seen.append(await energy_kwh(app))
        assert seen == sorted(seen)
        await sim.unplug(1)
        await sim.unplug(2)
        now = sim.clock.now_s()
        registers_kwh = (sim.evse(1).meter.energy_wh(now) + sim.evse(2).meter.energy_wh(now)) / 1000
        assert await energy_kwh(app) == pytest.approx(registers_kwh, abs=0.001)
        before = await energy_kwh(app)
        await app.stop()
        again = await start_app(data_dir=data_dir, ocpp_port=port)
        assert (await charger_snapshot(again))["last_reading"]["energy_kwh"] == before
        await sim.wait_connected(15.0)
        assert (
            await eventually(lambda: energy_kwh(again), until=lambda kwh: kwh >= before, what="live energy") >= before
        )

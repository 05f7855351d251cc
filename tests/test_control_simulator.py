"""Charging control through the JSON API against the quirky wallbox simulator (real sockets, TLS)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bmw_wallbox.app import Application
from bmw_wallbox.simulator import WallboxSimulator

from conftest import CHARGER_ID, StartApp, api_send, charger_snapshot, default_options, running
from helpers import eventually, free_port, profile_limits

BASE = "/api/chargers/DE*BMW*ETEST0001"
TIME_SCALE = 10.0


@asynccontextmanager
async def simulator(app: Application, client_ssl: ssl.SSLContext, **kwargs: Any) -> AsyncIterator[WallboxSimulator]:
    """Run a quirky simulator against the app until the block ends; wait for the connect-time limit."""
    sim = WallboxSimulator(
        f"wss://localhost:{app.ocpp_port}", CHARGER_ID, ssl=client_ssl, time_scale=TIME_SCALE, reboot_s=5.0, **kwargs
    )
    async with running(sim):
        yield sim


def phase_currents_sent(sim: WallboxSimulator) -> list[float]:
    """Every per-phase Current.Import value the simulator reported."""
    values = []
    for action, payload in sim.sent:
        for meter_value in payload.get("meterValue", []) if action in ("TransactionEvent", "MeterValues") else []:
            for sample in meter_value["sampledValue"]:
                if sample.get("measurand") == "Current.Import" and sample.get("phase"):
                    values.append(float(sample["value"]))
    return values


async def test_pause_resume_cycles_without_rejection(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Pause stops the power with the transaction kept; resume brings it back; five cycles, no rejection."""
    app = await start_app()
    async with simulator(app, client_ssl) as sim:
        await sim.plug_in()
        await eventually(lambda: sim.power_w > 0, what="the car to draw power")
        transaction = sim.transaction_id
        for _ in range(5):
            status, body = await api_send(app, "POST", f"{BASE}/pause")
            assert (status, body["outcome"], body["limit_in_sync"]) == (200, "accepted", True), body
            assert sim.power_w == 0.0
            status, body = await api_send(app, "POST", f"{BASE}/resume")
            assert status == 200, body
            await eventually(lambda: sim.power_w > 0, what="the car to draw power after resume")
        assert sim.transaction_id == transaction
        assert (await charger_snapshot(app))["last_rejection"] is None


async def test_limit_sequence_reaches_the_car(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """32 -> 10 -> 6 -> 0 -> 16 A: the car's current follows each step, mid-session."""
    app = await start_app()
    async with simulator(app, client_ssl, car_max_current_a=32.0) as sim:
        await sim.plug_in()
        for amps in (32, 10, 6, 0, 16):
            status, body = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": amps})
            assert status == 200, body
            assert sim.offered_current_a == float(amps)
            await eventually(lambda amps=amps: sim.current_a == float(amps), what=f"the car to draw {amps} A")
        assert sim.charging_state == "Charging"


async def test_session_after_plug_in_never_exceeds_limit(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """With a 10 A limit set before the car arrives, no meter value of the session is ever above 10 A."""
    app = await start_app(options=default_options(meter_interval=1))
    await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 10})
    async with simulator(app, client_ssl, car_max_current_a=32.0) as sim:
        assert profile_limits(sim.received)[0] == 10.0
        await sim.plug_in()
        await eventually(lambda: len(phase_currents_sent(sim)) >= 9, what="three meter values with phase currents")
    currents = phase_currents_sent(sim)
    assert max(currents) <= 10.0
    assert 10.0 in currents


async def test_car_suspended_session_stays_paused(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Pause sent while the car itself has suspended holds when the car wants to charge again."""
    app = await start_app()
    async with simulator(app, client_ssl) as sim:
        await sim.plug_in()
        await sim.car_suspend()
        await eventually(lambda: sim.charging_state == "SuspendedEV", what="the car to suspend")
        status, body = await api_send(app, "POST", f"{BASE}/pause")
        assert (status, body["strategy"]) == (200, "tx_default"), body
        await sim.car_resume()
        assert sim.offered_current_a == 0.0
        assert sim.power_w == 0.0
        assert (await charger_snapshot(app))["paused"] is True


async def test_rejected_default_profile_falls_back(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """When the wallbox rejects TxDefaultProfile, the limit goes as a TxProfile for the session and works."""
    app = await start_app()
    async with simulator(app, client_ssl) as sim:
        await sim.plug_in()
        await eventually(lambda: sim.charging_state == "Charging", what="the car to charge")
        sim.reject_profiles = {"TxDefaultProfile"}
        status, body = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 8})
        assert (status, body["strategy"]) == (200, "tx_profile"), body
        assert sim.offered_current_a == 8.0
        assert (await charger_snapshot(app))["profile_strategy"] == "tx_profile"


async def test_wallbox_reboot_mid_session_gets_limit_back(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """After a reboot the wallbox starts a new session by itself; it gets the 9 A limit again at once."""
    app = await start_app()
    async with simulator(app, client_ssl, car_max_current_a=32.0) as sim:
        await sim.plug_in()
        await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 9})
        before = sim.transaction_id
        boots = sim.boot_count
        rebooted_at = len(sim.received)
        await sim.reboot()
        await eventually(
            lambda: sim.boot_count > boots and sim.transaction_id not in (None, before),
            what="the rebooted wallbox to start a new session",
            timeout=15,
        )
        limits = await eventually(
            lambda: profile_limits(sim.received, rebooted_at), what="a charging profile after the reboot", timeout=15
        )
        drawn_a = await eventually(lambda: sim.current_a, what="the car to draw current again", timeout=15)
    assert (limits[0], drawn_a) == (9.0, 9.0)


async def _snapshot_has(app: Application, **expected: Any) -> bool:
    snapshot = await charger_snapshot(app)
    return all(snapshot[key] == value for key, value in expected.items())


async def test_addon_restart_mid_session_keeps_limit_and_session(
    start_app: StartApp, client_ssl: ssl.SSLContext, tmp_path: Path
) -> None:
    """The add-on restarts while the car charges at 7 A: the session and the limit carry on."""
    port = free_port()
    data_dir = tmp_path / "data"
    app = await start_app(data_dir=data_dir, ocpp_port=port)
    async with simulator(app, client_ssl, car_max_current_a=32.0) as sim:
        await sim.plug_in()
        await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 7})
        transaction = sim.transaction_id
        energy_before = (await charger_snapshot(app))["energy_kwh"]
        await app.stop()
        await eventually(lambda: not sim.connected, what="the wallbox to notice the add-on is gone")
        received_before = len(sim.received)
        again = await start_app(data_dir=data_dir, ocpp_port=port)
        snapshot = await charger_snapshot(again)
        assert (snapshot["transaction_id"], snapshot["desired_limit_a"]) == (transaction, 7.0)
        assert snapshot["last_reading"]["energy_kwh"] >= energy_before
        await sim.wait_connected(15.0)
        limits = await eventually(
            lambda: profile_limits(sim.received, received_before),
            what="a charging profile from the restarted add-on",
            timeout=15,
        )
        assert limits[-1] == 7.0
        assert sim.transaction_id == transaction
        assert sim.current_a == 7.0


async def test_remote_stop_then_start_is_rejected_with_hint(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """After Stop, this wallbox refuses Start until the car is unplugged; the answer says so and nothing reboots."""
    app = await start_app()
    async with simulator(app, client_ssl) as sim:
        await sim.plug_in()
        status, _ = await api_send(app, "POST", f"{BASE}/stop")
        assert status == 200
        await eventually(lambda: sim.transaction_id is None, what="the wallbox to end the session")
        await eventually(lambda: _snapshot_has(app, transaction_id=None), what="the add-on to see the session end")
        status, body = await api_send(app, "POST", f"{BASE}/start")
        assert (status, body["outcome"]) == (502, "rejected"), body
        assert "unplugged" in body["detail"]
        assert not any(action == "Reset" for action, _ in sim.received)


async def test_start_with_car_sends_limit_right_after(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """A remote start on this wallbox delivers power only once the limit arrives right after it."""
    app = await start_app()
    async with simulator(app, client_ssl) as sim:
        await sim.plug_in()
        await api_send(app, "POST", f"{BASE}/stop")
        await sim.unplug()
        await sim.plug_in()
        await api_send(app, "POST", f"{BASE}/pause")
        started_at = len(sim.received)
        status, body = await api_send(app, "POST", f"{BASE}/start")
        assert (status, body["outcome"]) == (200, "accepted"), body
        await eventually(lambda: sim.power_w > 0, what="the car to draw power after the start")
    assert profile_limits(sim.received, started_at)[:1] == [32.0]


async def test_command_while_disconnected_is_503(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """While the wallbox is offline a pause answers 503; it is applied when the wallbox is back."""
    app = await start_app()
    async with simulator(app, client_ssl) as sim:
        await sim.plug_in()
        await sim.drop_connection(offline_s=20.0)
        await eventually(lambda: _snapshot_has(app, connected=False), what="the add-on to see the wallbox offline")
        status, body = await api_send(app, "POST", f"{BASE}/pause")
        assert (status, body["outcome"]) == (503, "not_connected")
        offline_at = len(sim.received)
        await sim.wait_connected(15.0)
        limits = await eventually(
            lambda: profile_limits(sim.received, offline_at), what="a charging profile after the reconnect", timeout=15
        )
    assert limits[0] == 0.0


@pytest.mark.parametrize("recovers", [True, False])
async def test_automatic_reset_is_reported_after_reconnect(
    start_app: StartApp, client_ssl: ssl.SSLContext, recovers: bool
) -> None:
    """Every way rejected with a car connected: 202 rebooting, and the real outcome is recorded after reconnect."""
    app = await start_app()
    async with simulator(app, client_ssl) as sim:
        await sim.plug_in()
        sim.reject_profiles = {"TxDefaultProfile", "TxProfile", "ChargingStationMaxProfile"}
        boots = sim.boot_count
        status, body = await api_send(app, "POST", f"{BASE}/pause")
        assert (status, body["outcome"]) == (202, "rebooting"), body
        assert (await charger_snapshot(app))["last_command"]["outcome"] == "rebooting"
        if recovers:
            sim.reject_profiles = set()
        await eventually(lambda: sim.boot_count > boots, what="the wallbox to reboot", timeout=15)
        last = await eventually(
            lambda: _last_command(app),
            until=lambda last: last is not None and last["command"] == "pause (after automatic reboot)",
            what="the outcome of the pause after the reboot",
            timeout=15,
        )
        resets = [action for action, _ in sim.received].count("Reset")
    assert (last["outcome"], resets) == ("accepted" if recovers else "rejected", 1)


async def _last_command(app: Application) -> dict[str, Any] | None:
    last: dict[str, Any] | None = (await charger_snapshot(app))["last_command"]
    return last

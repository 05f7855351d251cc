"""Faults: the network drops mid-session, the add-on is killed with SIGKILL, the charger stops answering.

Against the quirky wallbox simulator over real sockets. The energy the add-on
reports must equal the simulator's own register to the watt-hour: nothing lost,
nothing counted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from bmw_wallbox.app import Application
from bmw_wallbox.simulator import WallboxSimulator

from conftest import CHARGER_ID, StartApp, api_send, charger_snapshot, default_options, running
from helpers import eventually, free_port

BASE = f"/api/chargers/{quote(CHARGER_ID, safe='')}"
TIME_SCALE = 20.0


def session_energy_wh(snapshot: dict[str, Any]) -> float:
    """The energy of the last finished session the add-on reports, in Wh."""
    return float(snapshot["last_session"]["energy_kwh"]) * 1000.0


async def test_network_drop_mid_session_loses_and_doubles_nothing(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """The link drops for 40 s while charging: same transaction after, and session energy equals the wallbox's."""
    app = await start_app(options=default_options(meter_interval=5))
    sim = WallboxSimulator(
        f"wss://localhost:{app.ocpp_port}", CHARGER_ID, ssl=client_ssl, time_scale=TIME_SCALE, car_max_current_a=16
    )
    async with running(sim):
        register_at_plug_in = sim.energy_wh
        await sim.plug_in()
        transaction = sim.transaction_id
        await eventually(lambda: sim.power_w > 0, what="the car to draw power")
        await sim.drop_connection(offline_s=40.0)
        await eventually(lambda: _is(app, connected=False), what="the add-on to see the wallbox offline")
        await sim.wait_connected(10.0)
        await eventually(
            lambda: _is(app, connected=True, transaction_id=transaction), what="the wallbox back in the same session"
        )
        sent_before = len(sim.sent)
        await eventually(
            lambda: any(action == "TransactionEvent" for action, _ in sim.sent[sent_before:]),
            what="a TransactionEvent after the reconnect",
        )
        await sim.unplug()
        await eventually(lambda: _is(app, transaction_id=None), what="the add-on to see the session end")
        snapshot = await charger_snapshot(app)
    charged_wh = sim.energy_wh - register_at_plug_in
    assert charged_wh > 100  # 11 kW for 40 s offline plus the time around it
    assert snapshot["last_session"]["transaction_id"] == transaction
    assert session_energy_wh(snapshot) == pytest.approx(charged_wh, abs=1.0)
    assert snapshot["energy_kwh"] * 1000 == pytest.approx(sim.energy_wh, abs=1.0)
    assert [s.transaction_id for s in app.hub.chargers[CHARGER_ID].sessions] == [transaction]


async def _is(app: Application, **expected: Any) -> bool:
    snapshot = await charger_snapshot(app)
    return all(snapshot[key] == value for key, value in expected.items())


# --------------------------------------------------------------------------------------
# SIGKILL
# --------------------------------------------------------------------------------------

#: What must survive a SIGKILL, as /api/chargers shows it.
PERSISTED = (
    "transaction_id",
    "session_started_at",
    "session_energy_kwh",
    "desired_limit_a",
    "paused",
    "profile_strategy",
    "vendor",
    "model",
    "firmware",
    "serial",
    "last_session",
)


@contextlib.contextmanager
def addon_process(workdir: Path, ocpp_port: int, panel_port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m bmw_wallbox`` on loopback with the options and data dir in ``workdir``; killed afterwards."""
    env = {k: v for k, v in os.environ.items() if k != "SUPERVISOR_TOKEN"}
    argv = [
        sys.executable,
        "-m",
        "bmw_wallbox",
        "--options",
        str(workdir / "options.json"),
        "--data-dir",
        str(workdir / "data"),
        "--ssl-dir",
        str(workdir),
        "--host",
        "127.0.0.1",
        "--ocpp-port",
        str(ocpp_port),
        "--panel-port",
        str(panel_port),
        "--transfer-port",
        "0",
        "--no-ssl",
    ]
    with (workdir / "addon.log").open("ab") as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


async def _api_chargers(panel_port: int) -> dict[str, Any] | None:
    """The charger's /api/chargers entry, or None while the add-on does not answer yet."""
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{panel_port}/api/chargers") as response,
        ):
            chargers = await response.json()
    except aiohttp.ClientError:
        return None
    return next(c for c in chargers if c["id"] == CHARGER_ID)


async def _wait_answering(panel_port: int) -> dict[str, Any]:
    snapshot = await eventually(
        lambda: _api_chargers(panel_port), what=f"the add-on's JSON API on port {panel_port}", timeout=15
    )
    assert snapshot is not None
    return snapshot


def _stored(workdir: Path) -> dict[str, Any]:
    path = workdir / "data" / "chargers" / f"{quote(CHARGER_ID, safe='')}.json"
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


async def test_sigkill_mid_session_restores_setpoint_session_and_register(tmp_path: Path) -> None:
    """kill -9 while a car charges at 7 A: after a restart the API shows the same session, limit and register."""
    (tmp_path / "options.json").write_text(
        json.dumps({"ssl": False, "chargers": [{"id": CHARGER_ID}], "meter_interval": 5}), encoding="utf-8"
    )
    ocpp_port, panel_port = free_port(), free_port()
    sim = WallboxSimulator(f"ws://127.0.0.1:{ocpp_port}", CHARGER_ID, time_scale=TIME_SCALE, car_max_current_a=16)
    register_at_plug_in = sim.energy_wh
    with addon_process(tmp_path, ocpp_port, panel_port) as first:
        await _wait_answering(panel_port)
        task = asyncio.create_task(sim.run())
        await sim.wait_connected(10.0)
        await sim.wait_for_call("TriggerMessage", 10.0)
        await sim.plug_in()
        status, body = await api_send_port(panel_port, "PUT", f"{BASE}/current_limit", {"amps": 7})
        assert status == 200, body
        await eventually(lambda: sim.current_a == 7.0, what="the car to draw 7 A")
        await sim.car_suspend()  # the register stands still, so "before" is exact
        await eventually(
            lambda: _is_port(panel_port, charging_state="SuspendedEV"), what="the add-on to see the car suspend"
        )
        before = await _wait_answering(panel_port)
        await eventually(
            lambda: _stored(tmp_path).get("evses", {}).get("1", {}).get("register_wh"),
            until=lambda stored_wh: stored_wh == pytest.approx(before["energy_kwh"] * 1000),
            what="the store to hold the register the API shows",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    await sim.stop()
    await task
    with addon_process(tmp_path, ocpp_port, panel_port):
        after = await _wait_answering(panel_port)
        assert {k: after[k] for k in PERSISTED} == {k: before[k] for k in PERSISTED}
        assert after["last_reading"]["energy_kwh"] == before["energy_kwh"]
        assert after["last_reading"]["charging_state"] == before["charging_state"] == "SuspendedEV"
        assert after["desired_limit_a"] == 7.0
        task = asyncio.create_task(sim.run())
        try:
            await sim.wait_connected(10.0)
            await eventually(lambda: sim.offered_current_a == 7.0, what="the restarted add-on to offer 7 A again")
            await sim.car_resume()
            await eventually(lambda: sim.current_a == 7.0, what="the car to draw 7 A again")
            transaction = sim.transaction_id
            assert transaction == before["transaction_id"]
            await sim.unplug()
            await eventually(
                lambda: _is_port(panel_port, transaction_id=None), what="the add-on to see the session end"
            )
            final = await _wait_answering(panel_port)
        finally:
            await sim.stop()
            await task
    assert final["last_session"]["transaction_id"] == transaction
    assert session_energy_wh(final) == pytest.approx(sim.energy_wh - register_at_plug_in, abs=1.0)


async def api_send_port(panel_port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A JSON API request to the add-on process on ``panel_port``."""
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"http://127.0.0.1:{panel_port}{path}", json=body) as response,
    ):
        return response.status, await response.json()


async def _is_port(panel_port: int, **expected: Any) -> bool:
    snapshot = await _api_chargers(panel_port)
    return snapshot is not None and all(snapshot[key] == value for key, value in expected.items())


# --------------------------------------------------------------------------------------
# A charger that stops answering
# --------------------------------------------------------------------------------------


@pytest.fixture
async def silent_prone(start_app: StartApp, client_ssl: ssl.SSLContext) -> AsyncIterator[tuple[Application, Any]]:
    """The app and a charging simulator whose MessageTimeout is 5 s (the add-on adopts it as its call timeout)."""
    app = await start_app()
    sim = WallboxSimulator(f"wss://localhost:{app.ocpp_port}", CHARGER_ID, ssl=client_ssl, time_scale=TIME_SCALE)
    sim.variables.put("OCPPCommCtrlr", "MessageTimeout", "5", instance="Default")
    async with running(sim):
        await sim.plug_in()
        await eventually(
            lambda: app.csms.connections[CHARGER_ID].response_timeout_s == 5.0,
            what="the add-on to adopt the 5 s MessageTimeout",
        )
        yield app, sim


async def test_silent_charger_command_times_out_with_504(silent_prone: tuple[Application, Any]) -> None:
    """A limit sent to a charger that does not answer gets 504 'timeout' after its MessageTimeout, and says so."""
    app, sim = silent_prone
    sim.set_silent(True)
    status, body = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 9})
    assert (status, body["outcome"]) == (504, "timeout")
    assert "did not answer within 5 s" in body["detail"]
    last = (await charger_snapshot(app))["last_command"]
    assert (last["command"], last["outcome"]) == ("set_current_limit", "timeout")


async def test_silent_charger_does_not_block_later_commands(silent_prone: tuple[Application, Any]) -> None:
    """Two commands while silent both time out (none hangs); once the charger answers again, the next one works."""
    app, sim = silent_prone
    sim.set_silent(True)
    first, second = await asyncio.gather(
        api_send(app, "POST", f"{BASE}/pause"), api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 10})
    )
    assert (first[0], second[0]) == (504, 504)
    sim.set_silent(False)
    status, body = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 8})
    assert (status, body["outcome"]) == (200, "accepted"), body
    assert sim.offered_current_a == 8.0
    await eventually(lambda: sim.current_a == 8.0, what="the car to draw 8 A")


async def test_silent_charger_still_gets_its_messages_answered(silent_prone: tuple[Application, Any]) -> None:
    """While our call to it hangs, the charger's own messages are still answered (the link is not blocked)."""
    app, sim = silent_prone
    sim.set_silent(True)
    command = asyncio.create_task(api_send(app, "POST", f"{BASE}/pause"))
    await sim.car_suspend()  # a TransactionEvent the add-on must answer meanwhile
    assert (await charger_snapshot(app))["charging_state"] == "SuspendedEV"
    assert (await command)[0] == 504

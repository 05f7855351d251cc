"""The charger's state stays true: add-on restarts, lost transactions, per-session registers, no smart charging.

Each test runs the real add-on against the simulator with a charger personality
(not only the Delta) and checks what a user sees through the JSON API.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.routing import on
from ocpp.v201 import call, call_result

from bmw_wallbox.app import Application
from bmw_wallbox.simulator import WallboxSimulator
from bmw_wallbox.simulator.personality import (
    DELTA,
    LOSES_TRANSACTION,
    NO_SMART_CHARGING,
    PER_TX_REGISTER,
    SILENT_RECONNECT,
    Personality,
)

import peer
from conftest import CHARGER_ID, StartApp, api_send, charger_snapshot, ocpp_url, running
from helpers import eventually, free_port

BASE = "/api/chargers/DE*BMW*ETEST0001"
TIME_SCALE = 10.0


@asynccontextmanager
async def charger(
    app: Application, client_ssl: ssl.SSLContext, personality: Personality, **kwargs: Any
) -> AsyncIterator[WallboxSimulator]:
    """A simulated charger of ``personality`` connected to ``app`` until the block ends."""
    sim = WallboxSimulator(
        f"wss://localhost:{app.ocpp_port}",
        CHARGER_ID,
        ssl=client_ssl,
        personality=personality,
        time_scale=kwargs.pop("time_scale", TIME_SCALE),
        reboot_s=5.0,
        **kwargs,
    )
    async with running(sim):
        yield sim


async def snapshot_matches(app: Application, **expected: object) -> bool:
    """True when the JSON snapshot has all these values."""
    snapshot = await charger_snapshot(app)
    return all(snapshot[key] == value for key, value in expected.items())


# --- 1: the add-on restarts, the charger only reconnects -------------------------------------------


@pytest.mark.parametrize("personality", [SILENT_RECONNECT, DELTA], ids=lambda p: p.name)
async def test_a_restart_while_paused_is_known_within_ten_seconds_and_resume_works(
    start_app: StartApp, client_ssl: ssl.SSLContext, tmp_path: Path, personality: Personality
) -> None:
    """Add-on restarted with a paused car: status and transaction are confirmed live within 10 s; Resume charges."""
    port, data_dir = free_port(), tmp_path / "data"
    app = await start_app(data_dir=data_dir, ocpp_port=port)
    async with charger(app, client_ssl, personality) as sim:
        await sim.plug_in()
        status, body = await api_send(app, "POST", f"{BASE}/pause")
        assert status == 200, body
        transaction = sim.transaction_id
        await app.stop()
        await eventually(lambda: not sim.connected, what="the charger to notice the add-on is gone")
        boots = sim.boot_count
        again = await start_app(data_dir=data_dir, ocpp_port=port)
        restored = await charger_snapshot(again)
        assert (restored["status"], restored["status_source"]) == ("Occupied", "restored")
        assert (restored["transaction_id"], restored["transaction_source"]) == (transaction, "restored")
        await sim.wait_connected(15.0)
        confirmed = await eventually(
            lambda: snapshot_matches(
                again,
                status="Occupied",
                status_source="live",
                transaction_id=transaction,
                transaction_source="live",
            ),
            timeout=10.0,
            what="status and session confirmed live within 10 s of the reconnect",
        )
        assert confirmed is True
        assert sim.boot_count == boots  # it only reconnected
        status, body = await api_send(again, "POST", f"{BASE}/resume")
        assert (status, body["outcome"]) == (200, "accepted"), body
        await eventually(lambda: sim.power_w > 0, what="the car to charge")
        assert sim.transaction_id == transaction


async def test_start_after_a_restart_with_the_car_plugged_in_is_sent(
    start_app: StartApp, client_ssl: ssl.SSLContext, tmp_path: Path
) -> None:
    """Car plugged in, no session, add-on restarted: Start is sent to the charger instead of 409 'connector unknown'."""
    port, data_dir = free_port(), tmp_path / "data"
    app = await start_app(data_dir=data_dir, ocpp_port=port)
    async with charger(app, client_ssl, SILENT_RECONNECT) as sim:
        await sim.plug_in()
        status, body = await api_send(app, "POST", f"{BASE}/stop")
        assert status == 200, body
        await eventually(lambda: sim.transaction_id is None, what="the charger to end its session")
        await eventually(lambda: snapshot_matches(app, transaction_id=None), what="the snapshot to show no session")
        await app.stop()
        await eventually(lambda: not sim.connected, what="the charger to notice the add-on is gone")
        again = await start_app(data_dir=data_dir, ocpp_port=port)
        await sim.wait_connected(15.0)
        status, body = await api_send(again, "POST", f"{BASE}/start")
        assert (status, body["outcome"]) == (200, "accepted"), body
        await eventually(lambda: sim.transaction_id is not None, what="the charger to start a session")


# --- 2: the charger lost the transaction -----------------------------------------------------------


async def test_a_lost_transaction_is_closed_with_the_energy_reported(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """The charger crashed and forgot its session: it is closed as lost with the energy it had reported."""
    app = await start_app()
    async with charger(app, client_ssl, LOSES_TRANSACTION) as sim:
        await sim.plug_in()
        transaction = sim.transaction_id
        await eventually(lambda: snapshot_matches(app, charging_state="Charging"), what="the snapshot to show charging")
        await sim.clock.sleep(20)
        await eventually(lambda: _session_wh(app) > 0, what="energy reported for the session")
        await sim.crash(lose_transaction=True, car_plugged=False, offline_s=30.0)
        await eventually(lambda: not app.hub.chargers[CHARGER_ID].connected, what="the add-on to see the crash")
        reported_wh = _session_wh(app)  # everything the charger reported before it went down
        await sim.wait_connected(15.0)
        await eventually(
            lambda: snapshot_matches(app, transaction_id=None, status="Available"),
            what="the lost session to be closed and the connector available",
        )
        snapshot = await charger_snapshot(app)
    last = snapshot["last_session"]
    assert (last["transaction_id"], last["stopped_reason"]) == (transaction, "LostByCharger")
    assert last["energy_kwh"] * 1000 == pytest.approx(reported_wh, abs=1.0)
    assert (snapshot["charging_state"], snapshot["power_w"]) == (None, 0.0)


async def test_start_after_a_lost_transaction_starts_a_new_one(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """After the lost session is closed, Start sends a new remote start (not a resume of the dead one)."""
    app = await start_app()
    async with charger(app, client_ssl, LOSES_TRANSACTION) as sim:
        await sim.plug_in()
        lost = sim.transaction_id
        await sim.crash(lose_transaction=True, car_plugged=True)
        await sim.wait_connected(15.0)
        await eventually(lambda: snapshot_matches(app, transaction_id=None), what="the snapshot to show no session")
        status, body = await api_send(app, "POST", f"{BASE}/start")
        assert (status, body["outcome"]) == (200, "accepted"), body
        await eventually(lambda: sim.transaction_id is not None, what="the charger to start a session")
        assert sim.transaction_id != lost
        await eventually(lambda: sim.power_w > 0, what="the car to charge")


# --- 3: registers that restart with each transaction -----------------------------------------------


@pytest.mark.parametrize("sessions", [2, 10])
async def test_sessions_on_a_per_transaction_register_are_right(
    start_app: StartApp, client_ssl: ssl.SSLContext, sessions: int
) -> None:
    """Back-to-back sessions on a register that restarts at 0: each right to 1 Wh, the lifetime never goes down."""
    app = await start_app()
    lifetime: list[float] = []
    async with charger(app, client_ssl, PER_TX_REGISTER, time_scale=300.0) as sim:
        for _ in range(sessions):
            await sim.plug_in()
            await sim.clock.sleep(300)
            await sim.unplug()
            await eventually(lambda: snapshot_matches(app, transaction_id=None), what="the snapshot to show no session")
            lifetime.append((await charger_snapshot(app))["energy_kwh"])
        recorded = [s.energy_wh for s in reversed(app.hub.chargers[CHARGER_ID].sessions)]
    assert recorded == pytest.approx(sim.session_energies_wh, abs=1.0)
    assert lifetime == sorted(lifetime)
    assert lifetime[-1] * 1000 == pytest.approx(sum(sim.session_energies_wh), abs=1.0)


# --- 4: a charger without smart charging ------------------------------------------------------------


async def test_limits_on_a_charger_without_smart_charging_answer_501_and_never_reboot(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """50 pause/resume/limit commands: each 501 'not supported' at once; no Reset, one profile tried per connection."""
    app = await start_app()
    async with charger(app, client_ssl, NO_SMART_CHARGING) as sim:
        await sim.plug_in()
        await eventually(
            lambda: snapshot_matches(app, limits_supported=False), what="the add-on to learn there are no limits"
        )
        statuses = set()
        for number in range(50):
            request = (("POST", f"{BASE}/pause", None), ("POST", f"{BASE}/resume", None))[number % 2]
            if number % 5 == 4:
                request = ("PUT", f"{BASE}/current_limit", {"amps": 10})
            status, body = await api_send(app, *request)
            statuses.add((status, body["outcome"]))
        assert statuses == {(501, "not_supported")}
        assert (sim.reset_count, sim.received_count("SetChargingProfile")) == (0, 1)


async def test_start_and_stop_work_without_smart_charging(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Stop ends the session; Start begins a new one and says that no limit is in force."""
    app = await start_app()
    async with charger(app, client_ssl, NO_SMART_CHARGING) as sim:
        await sim.plug_in()
        status, _ = await api_send(app, "POST", f"{BASE}/stop")
        assert status == 200
        await eventually(lambda: sim.transaction_id is None, what="the charger to end its session")
        await eventually(lambda: snapshot_matches(app, transaction_id=None), what="the snapshot to show no session")
        status, body = await api_send(app, "POST", f"{BASE}/start")
        assert (status, body["outcome"], body["limit_enforced"]) == (200, "accepted", False), body
        assert body["warning"] == "this charger does not support current limits: no limit is in force"
        await eventually(lambda: sim.power_w > 0, what="the car to charge")


# --- 5: no stale numbers ----------------------------------------------------------------------------


async def test_a_session_end_takes_current_and_voltage_with_it(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """After unplugging, power and current are 0 and voltage unknown, not their last values."""
    app = await start_app()
    async with charger(app, client_ssl, DELTA) as sim:
        await sim.plug_in()
        await eventually(lambda: _has_current(app), what="current and voltage readings")
        await sim.unplug()
        await eventually(lambda: snapshot_matches(app, transaction_id=None), what="the snapshot to show no session")
        snapshot = await charger_snapshot(app)
    assert (snapshot["power_w"], snapshot["current_a"], snapshot["voltage_v"]) == (0.0, 0.0, None)


async def test_a_disconnected_charger_shows_no_live_readings(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """While offline the live readings are null; the last values stay under last_reading."""
    app = await start_app()
    async with charger(app, client_ssl, DELTA) as sim:
        await sim.plug_in()
        await eventually(lambda: _has_current(app), what="current and voltage readings")
    await eventually(lambda: snapshot_matches(app, connected=False), what="the snapshot to show the charger offline")
    snapshot = await charger_snapshot(app)
    assert [snapshot[k] for k in ("power_w", "energy_kwh", "current_a", "voltage_v")] == [None] * 4
    assert snapshot["last_reading"]["power_w"] > 0


# --- connection limits --------------------------------------------------------------------------------


@pytest.mark.parametrize(("reported", "used"), [("-1", 5.0), ("100000", 120.0), ("30", 30.0)])
async def test_a_reported_message_timeout_is_clamped(
    start_app: StartApp, client_ssl: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch, reported: str, used: float
) -> None:
    """MessageTimeout -1 or 100000 in the device model becomes 5 or 120 s; 30 s is taken as it is."""
    entry = {
        "component": {"name": "OCPPCommCtrlr"},
        "variable": {"name": "MessageTimeout", "instance": "Default"},
        "variable_attribute": [{"type": "Actual", "value": reported, "mutability": "ReadOnly"}],
        "variable_characteristics": {"data_type": "integer", "supports_monitoring": False},
    }
    monkeypatch.setattr(peer, "REPORT", [*peer.REPORT, entry])
    app = await start_app()
    async with peer.library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as library:
        await library.next_call("SetVariables")
        assert app.csms.connections[CHARGER_ID].response_timeout_s == used


async def test_a_command_to_a_silent_charger_answers_at_its_deadline(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """A charger that stops answering: a pause answers 504 at the command's deadline, not after every queued call."""
    app = await start_app(command_deadline_s=2.0)
    async with charger(app, client_ssl, DELTA) as sim:
        await sim.plug_in()
        sim.set_silent(True)
        background = asyncio.create_task(api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 10}))
        status, body = await api_send(app, "POST", f"{BASE}/pause")
        assert (status, body["outcome"]) == (504, "timeout"), body
        assert body["detail"].startswith("no answer from the charger within 2 s")
        assert (await background)[0] == 504
        sim.set_silent(False)


def _session_wh(app: Application) -> float:
    energy = app.hub.chargers[CHARGER_ID].main_evse.session_energy_wh
    return energy or 0.0


async def _has_current(app: Application) -> bool:
    snapshot = await charger_snapshot(app)
    return bool(snapshot["current_a"]) and snapshot["voltage_v"] is not None


class _LateDeviceModel(peer.LibraryCharger):
    """Reports Occupied by StatusNotification while its older device-model answer still says Available."""

    @on("GetVariables")
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        status = call.StatusNotification(
            timestamp="2026-11-26T10:00:00Z", connector_status="Occupied", evse_id=1, connector_id=1
        )
        asyncio.create_task(self.call(status, suppress=False))  # noqa: RUF006 - answered while we wait
        await asyncio.sleep(0.2)
        return call_result.GetVariables(
            get_variable_result=[
                {**item, "attribute_status": "Accepted", "attribute_value": "Available"} for item in get_variable_data
            ]
        )


async def test_a_status_notification_wins_over_an_older_device_model_answer(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """A car plugged in while the add-on asks the device model: the live Occupied stays, not the stale Available."""
    app = await start_app()
    async with peer.library_charger(
        ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, charger_class=_LateDeviceModel
    ) as charger:
        await charger.next_call("SetVariables")
        snapshot = await charger_snapshot(app)
    assert (snapshot["status"], snapshot["status_source"]) == ("Occupied", "live")


class _ForgotIt(peer.LibraryCharger):
    """Sends one more event for its old transaction after reconnecting, then says it no longer runs it."""

    @on("GetTransactionStatus")
    def on_get_transaction_status(self, **kwargs: Any) -> Any:
        return call_result.GetTransactionStatus(messages_in_queue=False, ongoing_indicator=False)


async def test_a_late_event_of_a_lost_transaction_does_not_hide_the_loss(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """An event of the old session arriving right after the reconnect still gets the session checked, and closed."""
    app = await start_app()

    def event(kind: str, seq_no: int) -> call.TransactionEvent:
        return call.TransactionEvent(
            event_type=kind,
            timestamp="2026-11-30T08:00:00Z",
            trigger_reason="CablePluggedIn" if kind == "Started" else "MeterValuePeriodic",
            seq_no=seq_no,
            transaction_info={"transaction_id": "tx-old", "charging_state": "Charging"},
            evse={"id": 1, "connector_id": 1},
        )

    async with peer.library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as first:
        await first.call(event("Started", 0), suppress=False)
    async with peer.library_charger(
        ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, charger_class=_ForgotIt
    ) as again:
        await again.call(event("Updated", 1), suppress=False)
        await again.next_call("SetVariables")
        snapshot = await charger_snapshot(app)
    assert snapshot["transaction_id"] is None
    assert (snapshot["last_session"]["transaction_id"], snapshot["last_session"]["stopped_reason"]) == (
        "tx-old",
        "LostByCharger",
    )


class _NoTransactionStatus(peer.LibraryCharger):
    """Knows no GetTransactionStatus (CALLERROR NotImplemented) and refuses triggers without a reason."""

    @on("GetTransactionStatus")
    def on_get_transaction_status(self, **kwargs: Any) -> Any:
        raise OcppNotImplementedError("GetTransactionStatus is not implemented")


async def test_a_free_connector_tells_a_session_is_lost_without_get_transaction_status(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """No GetTransactionStatus, a refused trigger and the connector reported Available: the old session is closed."""
    app = await start_app()
    started = call.TransactionEvent(
        event_type="Started",
        timestamp="2026-11-30T08:00:00Z",
        trigger_reason="CablePluggedIn",
        seq_no=0,
        transaction_info={"transaction_id": "tx-gone", "charging_state": "Charging"},
        evse={"id": 1, "connector_id": 1},
    )
    async with peer.library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as first:
        await first.call(started, suppress=False)
    async with peer.library_charger(
        ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, charger_class=_NoTransactionStatus
    ) as again:
        available = call.StatusNotification(
            timestamp="2026-11-30T08:30:00Z", connector_status="Available", evse_id=1, connector_id=1
        )
        await again.call(available, suppress=False)
        await again.next_call("SetVariables")
        snapshot = await charger_snapshot(app)
    assert (snapshot["transaction_id"], snapshot["last_session"]["stopped_reason"]) == (None, "LostByCharger")

"""Charging control through the JSON API against the OCPP library's own charge point."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call

from bmw_wallbox.app import Application

from conftest import CHARGER_ID, StartApp, api_send, charger_snapshot, default_options, ocpp_url
from helpers import eventually, profile_limit
from peer import LibraryCharger, library_charger

BASE = "/api/chargers/DE*BMW*ETEST0001"
NOW = "2026-11-26T01:00:00Z"


async def plug_in(charger: LibraryCharger, *, transaction: bool = True, state: str = "Charging") -> None:
    """Report a plugged-in car, and optionally a running transaction."""
    await charger.call(
        call.StatusNotification(timestamp=NOW, connector_status="Occupied", evse_id=1, connector_id=1), suppress=False
    )
    if transaction:
        await charger.call(
            call.TransactionEvent(
                event_type="Started",
                timestamp=NOW,
                trigger_reason="CablePluggedIn",
                seq_no=0,
                transaction_info={"transaction_id": "tx-7", "charging_state": state},
                evse={"id": 1, "connector_id": 1},
            ),
            suppress=False,
        )


async def connected(app: Application, client_ssl: ssl.SSLContext, **kwargs: Any) -> Any:
    """Connect a library charger and wait for the connect-time work: the limit first, the metering set-up last."""
    context = library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, **kwargs)
    charger = await context.__aenter__()
    await charger.next_call("SetChargingProfile")
    await charger.next_call("SetVariables")
    return context, charger


async def test_connect_installs_default_profile_first(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """The first thing a charger gets is a TxDefaultProfile with the limit: evse 1, stack 0, Absolute, A, one period."""
    app = await start_app()
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        first = await charger.next_call("SetChargingProfile")
        assert charger.received[0][0] == "SetChargingProfile"
    profile = first["charging_profile"]
    assert first["evse_id"] == 1
    assert (
        profile["id"],
        profile["stack_level"],
        profile["charging_profile_purpose"],
        profile["charging_profile_kind"],
    ) == (
        1,
        0,
        "TxDefaultProfile",
        "Absolute",
    )
    schedule = profile["charging_schedule"][0]
    assert schedule["charging_rate_unit"] == "A"
    assert schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 32.0}]


async def test_pause_resume_cycles(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Pause sends 0 A and resume the limit again, every time, with the transaction kept."""
    app = await start_app()
    context, charger = await connected(app, client_ssl)
    try:
        await plug_in(charger)
        for _ in range(3):
            status, body = await api_send(app, "POST", f"{BASE}/pause")
            assert (status, body["outcome"], body["applied_limit_a"], body["limit_in_sync"]) == (
                200,
                "accepted",
                0.0,
                True,
            )
            assert charger.limit_a == 0.0
            status, body = await api_send(app, "POST", f"{BASE}/resume")
            assert (status, body["applied_limit_a"]) == (200, 32.0)
            assert charger.limit_a == 32.0
        assert not any(action == "RequestStopTransaction" for action, _ in charger.received)
        snapshot = await charger_snapshot(app)
        assert snapshot["transaction_id"] == "tx-7"
        assert snapshot["paused"] is False
        assert snapshot["last_command"]["command"] == "resume"
        assert snapshot["last_command"]["outcome"] == "accepted"
    finally:
        await context.__aexit__(None, None, None)


async def test_limit_sequence(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """32 -> 10 -> 6 -> 0 -> 16 A each reach the charger in order; 0 pauses and 16 resumes."""
    app = await start_app()
    context, charger = await connected(app, client_ssl)
    try:
        for amps in (32, 10, 6, 0, 16):
            status, body = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": amps})
            assert status == 200, body
            assert charger.limit_a == float(amps)
        snapshot = await charger_snapshot(app)
        assert (
            snapshot["desired_limit_a"],
            snapshot["paused"],
            snapshot["applied_limit_a"],
            snapshot["limit_in_sync"],
        ) == (16.0, False, 16.0, True)
    finally:
        await context.__aexit__(None, None, None)


@pytest.mark.parametrize(
    ("amps", "status", "limit"),
    [
        (3, 200, 6.0),
        (100, 200, 32.0),
        (12.5, 200, 12.5),
        ("ten", 422, None),
        (-1, 422, None),
        (True, 422, None),
        (None, 422, None),
    ],
)
async def test_limit_is_validated_and_clamped(
    start_app: StartApp, client_ssl: ssl.SSLContext, amps: object, status: int, limit: float | None
) -> None:
    """Values are clamped to 6 A .. max_current; anything that is not a number >= 0 is a 422 and changes nothing."""
    app = await start_app()
    context, charger = await connected(app, client_ssl)
    try:
        got, body = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": amps})
        assert got == status, body
        assert (await charger_snapshot(app))["desired_limit_a"] == (limit if limit is not None else 32.0)
        if status == 422:
            assert "amps" in body["detail"]
        else:
            assert charger.limit_a == limit
    finally:
        await context.__aexit__(None, None, None)


async def test_rapid_changes_are_coalesced(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Ten limit changes within the interval reach the charger as at most two profiles, the last value winning."""
    app = await start_app(min_apply_interval_s=1.0)
    context, charger = await connected(app, client_ssl)
    try:
        before = sum(1 for action, _ in charger.received if action == "SetChargingProfile")
        tasks = []
        desired = app.hub.chargers[CHARGER_ID].desired
        for amps in range(7, 17):
            tasks.append(asyncio.create_task(api_send(app, "PUT", f"{BASE}/current_limit", {"amps": amps})))
            await eventually(lambda: desired.limit_a, until=lambda a, amps=amps: a == amps, what=f"{amps} A to arrive")
        answers = await asyncio.gather(*tasks)
        assert all(status == 200 for status, _ in answers)
        sent = [p for action, p in charger.received if action == "SetChargingProfile"][before:]
        assert 1 <= len(sent) <= 2
        assert profile_limit(sent[-1]) == 16.0
        assert answers[-1][1]["applied_limit_a"] == 16.0
    finally:
        await context.__aexit__(None, None, None)


async def test_unknown_charger_is_404(start_app: StartApp) -> None:
    """A command for an id that is not configured answers 404."""
    app = await start_app()
    status, body = await api_send(app, "POST", "/api/chargers/NOPE/pause")
    assert (status, body["outcome"]) == (404, "unknown_charger")


@pytest.mark.parametrize("command", ["start", "pause", "resume", "stop", "reset"])
async def test_command_while_disconnected_is_503(start_app: StartApp, command: str) -> None:
    """Every command answers 503 when the charger is not connected."""
    app = await start_app()
    status, body = await api_send(app, "POST", f"{BASE}/{command}")
    assert (status, body["outcome"]) == (503, "not_connected")


async def test_setpoint_set_while_disconnected_is_applied_at_connect(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """A limit set while the charger is away answers 503, is kept, and is the first profile it gets at connect."""
    app = await start_app()
    status, _ = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 10})
    assert status == 503
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        assert profile_limit(await charger.next_call("SetChargingProfile")) == 10.0


async def test_rejected_default_profile_falls_back_and_is_remembered(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """When TxDefaultProfile is rejected, a TxProfile for the running transaction is used, then tried first."""
    app = await start_app()
    context, charger = await connected(app, client_ssl)
    try:
        charger.reject_purposes = {"TxDefaultProfile"}
        await plug_in(charger)
        status, body = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 10})
        assert (status, body["strategy"]) == (200, "tx_profile")
        tx_profiles = [
            p
            for a, p in charger.received
            if a == "SetChargingProfile" and p["charging_profile"]["charging_profile_purpose"] == "TxProfile"
        ]
        assert tx_profiles[-1]["charging_profile"]["transaction_id"] == "tx-7"
        charger.received.clear()
        await api_send(app, "POST", f"{BASE}/pause")
        purposes = [
            p["charging_profile"]["charging_profile_purpose"] for a, p in charger.received if a == "SetChargingProfile"
        ]
        assert purposes == ["TxProfile"]
        assert not any(a == "ClearChargingProfile" for a, _ in charger.received)
    finally:
        await context.__aexit__(None, None, None)


async def test_station_max_profile_when_no_transaction(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """With no transaction and TxDefaultProfile rejected, a ChargingStationMaxProfile on EVSE 0 carries the limit."""
    app = await start_app()
    context, charger = await connected(app, client_ssl)
    try:
        charger.reject_purposes = {"TxDefaultProfile"}
        status, body = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 8})
        assert (status, body["strategy"]) == (200, "station_max")
        last = [p for a, p in charger.received if a == "SetChargingProfile"][-1]
        assert last["evse_id"] == 0
    finally:
        await context.__aexit__(None, None, None)


async def test_all_rejected_without_car_is_502_and_no_reset(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Every way rejected with no car connected: 502 with the charger's reasons, and no reboot."""
    app = await start_app()
    context, charger = await connected(app, client_ssl)
    try:
        charger.reject_purposes = {"TxDefaultProfile", "TxProfile", "ChargingStationMaxProfile"}
        status, body = await api_send(app, "POST", f"{BASE}/pause")
        assert (status, body["outcome"]) == (502, "rejected")
        assert "InvalidProfile" in body["detail"]
        assert not any(a == "Reset" for a, _ in charger.received)
        assert (await charger_snapshot(app))["limit_in_sync"] is False
    finally:
        await context.__aexit__(None, None, None)


async def test_automatic_reset_only_once_per_ten_minutes(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """A car connected and every way rejected: the charger reboots (202 rebooting) once; the next failure is 502."""
    app = await start_app()
    context, charger = await connected(app, client_ssl)
    try:
        await plug_in(charger)
        charger.reject_purposes = {"TxDefaultProfile", "TxProfile", "ChargingStationMaxProfile"}
        status, body = await api_send(app, "POST", f"{BASE}/pause")
        assert (status, body["outcome"]) == (202, "rebooting")
        assert [a for a, _ in charger.received].count("Reset") == 1
        status, body = await api_send(app, "POST", f"{BASE}/resume")
        assert (status, body["outcome"]) == (502, "rejected")
        assert [a for a, _ in charger.received].count("Reset") == 1
    finally:
        await context.__aexit__(None, None, None)


async def test_no_automatic_reset_when_option_off(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """With reset_recovery off, a charger that refuses every way is reported as rejected and never rebooted."""
    app = await start_app(options=default_options(reset_recovery=False))
    context, charger = await connected(app, client_ssl)
    try:
        await plug_in(charger)
        charger.reject_purposes = {"TxDefaultProfile", "TxProfile", "ChargingStationMaxProfile"}
        status, _ = await api_send(app, "POST", f"{BASE}/pause")
        assert status == 502
        assert not any(a == "Reset" for a, _ in charger.received)
    finally:
        await context.__aexit__(None, None, None)


async def test_start_without_car_is_409(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Start with no car plugged in answers 409 'no car connected', sends no start and no reset."""
    app = await start_app()
    context, charger = await connected(app, client_ssl)
    try:
        await charger.call(
            call.StatusNotification(timestamp=NOW, connector_status="Available", evse_id=1, connector_id=1),
            suppress=False,
        )
        status, body = await api_send(app, "POST", f"{BASE}/start")
        assert (status, body["outcome"]) == (409, "not_applicable")
        assert "no car connected" in body["detail"]
        assert not any(a in ("RequestStartTransaction", "Reset") for a, _ in charger.received)
    finally:
        await context.__aexit__(None, None, None)


async def test_start_sends_request_then_limit(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Start with a car and no transaction: RequestStartTransaction (a Central token) followed at once by the limit."""
    app = await start_app()
    context, charger = await connected(app, client_ssl)
    try:
        await plug_in(charger, transaction=False)
        charger.received.clear()
        status, body = await api_send(app, "POST", f"{BASE}/start")
        assert (status, body["outcome"]) == (200, "accepted"), body
        actions = [a for a, _ in charger.received]
        assert actions[:2] == ["RequestStartTransaction", "SetChargingProfile"]
        assert charger.received[0][1]["id_token"] == {"id_token": "HomeAssistant", "type": "Central"}
    finally:
        await context.__aexit__(None, None, None)


async def test_stop_ends_transaction(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Stop sends RequestStopTransaction for the running transaction; without one it answers 409."""
    app = await start_app()
    context, charger = await connected(app, client_ssl)
    try:
        status, body = await api_send(app, "POST", f"{BASE}/stop")
        assert (status, body["outcome"]) == (409, "not_applicable")
        await plug_in(charger)
        status, body = await api_send(app, "POST", f"{BASE}/stop")
        assert status == 200
        assert "unplugged" in body["detail"]
        assert ("RequestStopTransaction", {"transaction_id": "tx-7"}) in charger.received
    finally:
        await context.__aexit__(None, None, None)


async def test_manual_reset(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Reset sends Reset(Immediate) and reports the charger's acceptance."""
    app = await start_app()
    context, charger = await connected(app, client_ssl)
    try:
        status, body = await api_send(app, "POST", f"{BASE}/reset")
        assert (status, body["outcome"]) == (200, "accepted")
        assert ("Reset", {"type": "Immediate"}) in charger.received
    finally:
        await context.__aexit__(None, None, None)


async def test_restart_keeps_limit(start_app: StartApp, client_ssl: ssl.SSLContext, tmp_path: Path) -> None:
    """After an add-on restart the stored limit (10 A, paused) is the first profile the charger gets."""
    data_dir = tmp_path / "keep"
    app = await start_app(data_dir=data_dir)
    context, charger = await connected(app, client_ssl)
    try:
        await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 10})
        await api_send(app, "POST", f"{BASE}/pause")
        assert charger.limit_a == 0.0
    finally:
        await context.__aexit__(None, None, None)
    await app.stop()
    again = await start_app(data_dir=data_dir)
    snapshot = await charger_snapshot(again)
    assert (snapshot["desired_limit_a"], snapshot["paused"]) == (10.0, True)
    async with library_charger(ocpp_url(again), CHARGER_ID, ssl_context=client_ssl) as charger2:
        assert profile_limit(await charger2.next_call("SetChargingProfile")) == 0.0

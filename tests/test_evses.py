"""Chargers with several EVSEs, over real sockets with a plain library charge point that has two EVSEs:
commands reach the EVSE meant, each EVSE has its own limit and pause, energy is the sum, sessions carry
their EVSE and token."""

from __future__ import annotations

import ssl
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from ocpp.routing import on
from ocpp.v201 import call, call_result

from bmw_wallbox.app import Application

from conftest import CHARGER_ID, StartApp, api_get, api_send, charger_snapshot, ocpp_url
from helpers import eventually, free_port, profile_limit
from peer import LibraryCharger, library_charger, provisioned_charger

BASE = f"/api/chargers/{quote(CHARGER_ID, safe='')}"
NOW = "2026-11-26T01:00:00Z"
REGISTER = "Energy.Active.Import.Register"


def connected(app: Application, client_ssl: ssl.SSLContext) -> AbstractAsyncContextManager[LibraryCharger]:
    """A library charger connected, once the connect-time limit and metering set-up reached it."""
    return provisioned_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl)


async def status(charger: LibraryCharger, evse_id: int, connector_status: str) -> None:
    """A StatusNotification for the EVSE's one connector."""
    await charger.call(
        call.StatusNotification(timestamp=NOW, connector_status=connector_status, evse_id=evse_id, connector_id=1),
        suppress=False,
    )


async def event(
    charger: LibraryCharger,
    kind: str,
    evse_id: int,
    transaction_id: str,
    *,
    wh: float | None = None,
    at: str = NOW,
    seq_no: int = 0,
    remote_start_id: int | None = None,
    charging_state: str | None = "Charging",
) -> None:
    """A TransactionEvent without idToken, with the EVSE's register at ``wh`` when given."""
    info: dict[str, Any] = {"transaction_id": transaction_id}
    if charging_state is not None:
        info["charging_state"] = charging_state
    if remote_start_id is not None:
        info["remote_start_id"] = remote_start_id
    if kind == "Ended":
        info["stopped_reason"] = "EVDisconnected"
    meter = None if wh is None else [{"timestamp": at, "sampled_value": [{"value": wh, "measurand": REGISTER}]}]
    await charger.call(
        call.TransactionEvent(
            event_type=kind,
            timestamp=at,
            trigger_reason="RemoteStart" if remote_start_id is not None else "EVDetected",
            seq_no=seq_no,
            transaction_info=info,
            evse={"id": evse_id, "connector_id": 1},
            meter_value=meter,
        ),
        suppress=False,
    )


async def two_charging(charger: LibraryCharger) -> None:
    """Both EVSEs occupied, each with a charging transaction (tx-1 on EVSE 1, tx-2 on EVSE 2)."""
    await status(charger, 1, "Occupied")
    await status(charger, 2, "Occupied")
    await event(charger, "Started", 1, "tx-1", wh=1000.0)
    await event(charger, "Started", 2, "tx-2", wh=500.0)


def evse(snapshot: dict[str, Any], evse_id: int) -> dict[str, Any]:
    """One EVSE of a snapshot."""
    return next(e for e in snapshot["evses"] if e["evse_id"] == evse_id)


async def test_start_reaches_the_evse_with_the_car(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """A car on EVSE 2 only: POST /start without evse_id sends RequestStartTransaction for EVSE 2."""
    app = await start_app()
    async with connected(app, client_ssl) as charger:
        await status(charger, 1, "Available")
        await status(charger, 2, "Occupied")
        code, body = await api_send(app, "POST", f"{BASE}/start")
        assert (code, body["outcome"]) == (200, "accepted"), body
        request = await charger.next_call("RequestStartTransaction")
        assert request["evse_id"] == 2


async def test_a_remote_start_is_linked_to_its_token_by_remote_start_id(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """A Started event without idToken but with the start's remoteStartId: the session carries its EVSE and token."""
    app = await start_app()
    async with connected(app, client_ssl) as charger:
        await status(charger, 2, "Occupied")
        code, body = await api_send(app, "POST", f"{BASE}/start", {"evse_id": 2})
        assert code == 200, body
        request = await charger.next_call("RequestStartTransaction")
        await event(charger, "Started", 2, "tx-remote", wh=0.0, remote_start_id=request["remote_start_id"])
        running = evse(await charger_snapshot(app), 2)
        assert (running["transaction_id"], running["token_name"]) == ("tx-remote", "Home Assistant")
        await event(charger, "Ended", 2, "tx-remote", wh=700.0, seq_no=1)
        last = (await charger_snapshot(app))["last_session"]
        assert (last["evse_id"], last["token_name"], last["energy_kwh"]) == (2, "Home Assistant", 0.7)


class AnsweringCharger(LibraryCharger):
    """A library charger whose RequestStartTransaction answer names the transaction it will start."""

    @on("RequestStartTransaction")
    def on_request_start_transaction(
        self, id_token: dict[str, Any], remote_start_id: int, **kwargs: Any
    ) -> call_result.RequestStartTransaction:
        self._got("RequestStartTransaction", {"id_token": id_token, "remote_start_id": remote_start_id, **kwargs})
        return call_result.RequestStartTransaction(status="Accepted", transaction_id="tx-answered")


async def test_a_remote_start_on_a_one_evse_charger_is_not_recorded_as_no_token(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """One EVSE, a Started event with only remoteStartId: the session is the Home Assistant token's, not "no token"."""
    app = await start_app()
    async with connected(app, client_ssl) as charger:
        await status(charger, 1, "Occupied")
        code, body = await api_send(app, "POST", f"{BASE}/start")
        assert code == 200, body
        request = await charger.next_call("RequestStartTransaction")
        await event(charger, "Started", 1, "tx-r", wh=0.0, remote_start_id=request["remote_start_id"])
        await event(charger, "Ended", 1, "tx-r", wh=300.0, seq_no=1)
        last = (await charger_snapshot(app))["last_session"]
        assert (last["evse_id"], last["token_name"]) == (1, "Home Assistant")


async def test_a_remote_start_is_linked_by_the_transaction_id_its_answer_gave(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """The answer named tx-answered; its Started event carries neither idToken nor remoteStartId: still linked."""
    app = await start_app()
    async with library_charger(
        ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, charger_class=AnsweringCharger
    ) as charger:
        await charger.next_call("SetVariables")
        await status(charger, 1, "Occupied")
        code, body = await api_send(app, "POST", f"{BASE}/start")
        assert code == 200, body
        await event(charger, "Started", 1, "tx-answered", wh=0.0)
        assert evse(await charger_snapshot(app), 1)["token_name"] == "Home Assistant"


async def test_both_evses_charge_at_once_with_their_own_limits(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """A limit with evse_id is a TxDefaultProfile on that EVSE; the charger's limit a station maximum on EVSE 0."""
    app = await start_app()
    async with connected(app, client_ssl) as charger:
        await two_charging(charger)
        code, body = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 10, "evse_id": 2})
        assert (code, body["outcome"]) == (200, "accepted"), body
        code, body = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 12, "evse_id": 1})
        assert (code, body["outcome"]) == (200, "accepted"), body
        code, body = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 20})
        assert (code, body["outcome"]) == (200, "accepted"), body
        latest = {
            (p["evse_id"], p["charging_profile"]["charging_profile_purpose"]): profile_limit(p)
            for action, p in charger.received
            if action == "SetChargingProfile"
        }
        assert latest[(0, "ChargingStationMaxProfile")] == 20.0
        assert (latest[(1, "TxDefaultProfile")], latest[(2, "TxDefaultProfile")]) == (12.0, 10.0)
        snapshot = await charger_snapshot(app)
        assert [(e["evse_id"], e["target_a"], e["applied_limit_a"]) for e in snapshot["evses"]] == [
            (1, 12.0, 12.0),
            (2, 10.0, 10.0),
        ]
        assert {p["id"] for p in charger.profiles.values()} >= {1, 3, 11}  # one id per EVSE: nothing replaced


class StuckEvse2(LibraryCharger):
    """Accepts every profile, but EVSE 2 goes on enforcing 32 A (so its composite schedule says)."""

    def limit_on(self, evse_id: int) -> float | None:
        return 32.0 if evse_id == 2 else super().limit_on(evse_id)


async def test_each_evses_limit_is_read_back_and_the_charger_is_in_sync(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """After a limit per EVSE, each EVSE's limit in force is asked (GetCompositeSchedule); all match: in sync."""
    app = await start_app()
    async with connected(app, client_ssl) as charger:
        await two_charging(charger)
        after = len(charger.received)
        code, body = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 10, "evse_id": 2})
        assert (code, body["outcome"], body["limit_in_sync"]) == (200, "accepted", True), body
        asked = sorted({p["evse_id"] for a, p in charger.received[after:] if a == "GetCompositeSchedule"})
        assert (asked, (await charger_snapshot(app))["limit_in_sync"]) == ([1, 2], True)


async def test_an_evse_that_enforces_another_limit_makes_the_charger_out_of_sync(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """EVSE 2 took 10 A but still enforces 32 A: the charger is out of sync, shown in the answer and the snapshot."""
    app = await start_app()
    async with provisioned_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, charger_class=StuckEvse2) as ch:
        await two_charging(ch)
        code, body = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 10, "evse_id": 2})
        assert (code, body["outcome"], body["limit_in_sync"]) == (200, "accepted", False), body
        assert (await charger_snapshot(app))["limit_in_sync"] is False


async def test_a_second_evse_gets_its_limit_before_its_first_session(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """EVSE 2 is reported after the connect: it gets a TxDefaultProfile and the station a maximum, no session needed."""
    app = await start_app()
    async with connected(app, client_ssl) as charger:
        await status(charger, 1, "Available")
        await status(charger, 2, "Available")
        profile = await charger.next_call("SetChargingProfile", where=lambda p: p["evse_id"] == 2)
        assert (profile["charging_profile"]["charging_profile_purpose"], profile_limit(profile)) == (
            "TxDefaultProfile",
            32.0,
        )
        assert any(
            a == "SetChargingProfile" and p["evse_id"] == 0 and profile_limit(p) == 32.0 for a, p in charger.received
        )


async def test_pause_and_resume_act_on_the_evse_meant(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Two sessions: pause without evse_id is 409 naming both; pause of EVSE 2 is 0 A there only; resume finds it."""
    app = await start_app()
    async with connected(app, client_ssl) as charger:
        await two_charging(charger)
        code, body = await api_send(app, "POST", f"{BASE}/pause")
        assert (code, body["outcome"], body["evse_ids"]) == (409, "not_applicable", [1, 2]), body
        assert "EVSEs 1 and 2" in body["detail"]
        code, body = await api_send(app, "POST", f"{BASE}/pause", {"evse_id": 2})
        assert (code, body["outcome"]) == (200, "accepted"), body
        assert [(e["evse_id"], e["paused"], e["applied_limit_a"]) for e in (await charger_snapshot(app))["evses"]] == [
            (1, False, 32.0),
            (2, True, 0.0),
        ]
        code, body = await api_send(app, "POST", f"{BASE}/resume")  # only EVSE 2 is paused: not ambiguous
        assert (code, body["outcome"]) == (200, "accepted"), body
        assert body["evse_limits_a"] == {"1": 32.0, "2": 32.0}


async def test_stop_without_evse_id_is_409_while_both_charge_and_stops_the_one_named(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """Stop while both EVSEs charge: 409 naming both; with evse_id 1 it stops tx-1."""
    app = await start_app()
    async with connected(app, client_ssl) as charger:
        await two_charging(charger)
        code, body = await api_send(app, "POST", f"{BASE}/stop")
        assert (code, body["outcome"]) == (409, "not_applicable"), body
        code, body = await api_send(app, "POST", f"{BASE}/stop", {"evse_id": 1})
        assert code == 200, body
        assert (await charger.next_call("RequestStopTransaction"))["transaction_id"] == "tx-1"


async def test_a_body_field_the_add_on_does_not_know_is_refused_with_400(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """{"amps": 10, "evse": 2} and POST /start {"connector": 2} answer 400 naming the field; nothing is sent."""
    app = await start_app()
    async with connected(app, client_ssl) as charger:
        before = len(charger.received)
        code, body = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 10, "evse": 2})
        assert (code, body["outcome"]) == (400, "invalid")
        assert "'evse'" in body["detail"]
        code, body = await api_send(app, "POST", f"{BASE}/start", {"connector": 2})
        assert (code, body["outcome"]) == (400, "invalid")
        assert "'connector'" in body["detail"]
        assert charger.received[before:] == []


async def test_an_evse_the_charger_does_not_have_is_invalid(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """evse_id 3 on a charger with EVSEs 1 and 2, or evse_id "two", answers 422 naming what is valid."""
    app = await start_app()
    async with connected(app, client_ssl) as charger:
        await two_charging(charger)
        code, body = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 10, "evse_id": 3})
        assert (code, body["outcome"]) == (422, "invalid")
        assert "no EVSE 3 (its EVSEs: 1, 2)" in body["detail"]
        code, body = await api_send(app, "POST", f"{BASE}/start", {"evse_id": "two"})
        assert (code, body["outcome"]) == (422, "invalid")


async def currents(charger: LibraryCharger, evse_id: int, amps: float) -> None:
    """A MeterValues of one EVSE with ``amps`` on each of the three phases."""
    sampled = [{"value": amps, "measurand": "Current.Import", "phase": phase} for phase in ("L1", "L2", "L3")]
    await charger.call(
        call.MeterValues(evse_id=evse_id, meter_value=[{"timestamp": NOW, "sampled_value": sampled}]), suppress=False
    )


async def test_the_chargers_current_is_the_sum_of_both_evses_per_phase(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """EVSE 1 at 10 A and EVSE 2 at 6 A per phase: the charger draws 16 A per phase (what its limit and fuse see)."""
    app = await start_app()
    async with connected(app, client_ssl) as charger:
        await two_charging(charger)
        await currents(charger, 1, 10.0)
        await currents(charger, 2, 6.0)
        snapshot = await eventually(
            lambda: charger_snapshot(app), until=lambda snap: snap["current_a"] == 16.0, what="16 A for the charger"
        )
        assert snapshot["current_phases_a"] == {"L1": 16.0, "L2": 16.0, "L3": 16.0}
        assert [(e["evse_id"], e["current_a"]) for e in snapshot["evses"]] == [(1, 10.0), (2, 6.0)]


async def test_lifetime_energy_is_the_sum_of_both_registers_and_never_goes_down(
    start_app: StartApp, client_ssl: ssl.SSLContext, tmp_path: Path
) -> None:
    """Both EVSEs meter in turn: energy_kwh is always the sum of both registers, also after the app restarts."""
    port, data_dir = free_port(), tmp_path / "data"
    app = await start_app(data_dir=data_dir, ocpp_port=port)
    seen: list[float] = []
    async with connected(app, client_ssl) as charger:
        await two_charging(charger)  # EVSE 1 at 1000 Wh, EVSE 2 at 500 Wh
        for seq, (evse_id, wh) in enumerate([(1, 1100.0), (2, 520.0), (1, 1150.0), (2, 560.0)], start=1):
            await event(charger, "Updated", evse_id, f"tx-{evse_id}", wh=wh, seq_no=seq)
            seen.append((await charger_snapshot(app))["energy_kwh"])
        assert seen == [1.6, 1.62, 1.67, 1.71]
        await event(charger, "Ended", 1, "tx-1", wh=1200.0, seq_no=9)
        assert (await charger_snapshot(app))["energy_kwh"] == 1.76
    await app.stop()
    again = await start_app(data_dir=data_dir, ocpp_port=port)
    restored = await charger_snapshot(again)
    assert restored["last_reading"]["energy_kwh"] == 1.76
    assert [(e["evse_id"], e["transaction_id"]) for e in restored["evses"]] == [(1, None), (2, "tx-2")]


async def test_an_evses_own_limit_and_pause_outlive_a_restart_of_the_app(
    start_app: StartApp, client_ssl: ssl.SSLContext, tmp_path: Path
) -> None:
    """EVSE 2 paused and EVSE 1 at 12 A before a restart: after it both are restored and sent again at the connect."""
    port, data_dir = free_port(), tmp_path / "data"
    app = await start_app(data_dir=data_dir, ocpp_port=port)
    async with connected(app, client_ssl) as charger:
        await two_charging(charger)
        assert (await api_send(app, "POST", f"{BASE}/pause", {"evse_id": 2}))[0] == 200
        assert (await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": 12, "evse_id": 1}))[0] == 200
    await app.stop()
    again = await start_app(data_dir=data_dir, ocpp_port=port)
    restored = await charger_snapshot(again)
    assert [(e["evse_id"], e["limit_a"], e["paused"]) for e in restored["evses"]] == [(1, 12.0, False), (2, None, True)]
    async with connected(again, client_ssl) as charger:
        latest = await eventually(
            lambda: {
                p["evse_id"]: profile_limit(p)
                for a, p in charger.received
                if a == "SetChargingProfile" and p["charging_profile"]["charging_profile_purpose"] == "TxDefaultProfile"
            },
            until=lambda limits: limits.get(1) == 12.0 and limits.get(2) == 0.0,
            what="EVSE 1 at 12 A and EVSE 2 at 0 A after the reconnect",
        )
        assert latest == {1: 12.0, 2: 0.0}


async def test_the_last_session_is_the_latest_of_any_evse_and_the_csv_names_its_evse(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """EVSE 2's session ends after EVSE 1's: last_session is EVSE 2's; the CSV rows carry their EVSE."""
    app = await start_app()
    async with connected(app, client_ssl) as charger:
        await two_charging(charger)
        await event(charger, "Ended", 1, "tx-1", wh=1100.0, at="2026-11-26T02:00:00Z", seq_no=1)
        await event(charger, "Ended", 2, "tx-2", wh=800.0, at="2026-11-26T03:00:00Z", seq_no=1)
        last = (await charger_snapshot(app))["last_session"]
        assert (last["transaction_id"], last["evse_id"]) == ("tx-2", 2)
        detail = await api_get(app, f"{BASE}")
        assert [(e["evse_id"], e["last_session"]["transaction_id"]) for e in detail["evses"]] == [
            (1, "tx-1"),
            (2, "tx-2"),
        ]
        url = f"http://127.0.0.1:{app.panel_port}{BASE}/sessions.csv"
        text = await eventually(lambda: _csv(url), until=lambda t: t.count("\r\n") == 3, what="two CSV rows")
        rows = [line.split(",") for line in text.strip().split("\r\n")]
        evse_column = rows[0].index("evse_id")
        assert [(r[5], r[evse_column]) for r in rows[1:]] == [("tx-2", "2"), ("tx-1", "1")]


async def _csv(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return await response.text()

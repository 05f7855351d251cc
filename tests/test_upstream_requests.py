"""What the upstream may do: refused in mirror mode, passed (profiles capped) in shared mode, cards decided upstream.

The upstream is a plain library CSMS (:mod:`upstream_backend`), the charger a
library charge point; both talk to the add-on on 127.0.0.1.
"""

from __future__ import annotations

import base64
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from ocpp.v201 import call

from bmw_wallbox.app import Application

from conftest import CHARGER_ID, StartApp, api_get, api_send, charger_snapshot, default_options, ocpp_url
from helpers import eventually
from peer import LibraryCharger, library_charger
from upstream_backend import Backend, BackendSession, running_backend

STATION = "UP1"
UPSTREAM_PASSWORD = "upstream-Pa55word-xyz"
BASIC = base64.b64encode(f"{CHARGER_ID}:{UPSTREAM_PASSWORD}".encode()).decode()
CARD = {"id_token": "04A1B2C3D4", "type": "ISO14443"}


def upstream_profile(limit: float, *, profile_id: int = 77, unit: str = "A") -> dict[str, Any]:
    """A TxDefaultProfile from the upstream with one period at ``limit``."""
    return {
        "id": profile_id,
        "stack_level": 1,
        "charging_profile_purpose": "TxDefaultProfile",
        "charging_profile_kind": "Absolute",
        "charging_schedule": [
            {
                "id": 1,
                "start_schedule": "2026-12-06T00:00:00Z",
                "charging_rate_unit": unit,
                "charging_schedule_period": [{"start_period": 0, "limit": limit}],
            }
        ],
    }


@asynccontextmanager
async def forwarded(
    start_app: StartApp, client_ssl: ssl.SSLContext, site: dict[str, Any] | None = None, **charger: Any
) -> AsyncIterator[tuple[Application, Backend, BackendSession, LibraryCharger]]:
    """The add-on with the test charger forwarded to a running backend, the charger connected and provisioned."""
    async with running_backend() as backend:
        options = default_options(
            chargers=[{"id": CHARGER_ID, "upstream_url": backend.url(STATION), **charger}],
            **({"site": site} if site else {}),
        )
        app = await start_app(options=options, upstream_backoff_s=0.1)
        async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as lib:
            await lib.next_call("SetVariables")
            session = await backend.session(STATION)
            yield app, backend, session, lib


def decisions(app: Application, action: str) -> list[str]:
    """The trace's decision entries about ``action`` from the upstream."""
    return [e.frame for e in app.trace.entries(charger_id=CHARGER_ID, action=action) if e.direction == "upstream"]


async def test_mirror_refuses_reset(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """In mirror mode an upstream Reset is answered Rejected by the add-on and never reaches the charger."""
    async with forwarded(start_app, client_ssl) as (app, _, session, lib):
        answer = await session.call(call.Reset(type="Immediate"), suppress=False)
        assert answer.status == "Rejected"
        assert "mirror mode" in decisions(app, "Reset")[0]
        assert "Reset" not in [name for name, _ in lib.received]


async def test_mirror_refuses_start_and_variables(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """In mirror mode a start is Rejected and each variable asked for is Rejected, none reaching the charger."""
    async with forwarded(start_app, client_ssl) as (_, _, session, lib):
        start = await session.call(
            call.RequestStartTransaction(id_token={"id_token": "X1", "type": "Central"}, remote_start_id=1),
            suppress=False,
        )
        asked = [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]
        variables = await session.call(call.GetVariables(get_variable_data=asked), suppress=False)
        assert start.status == "Rejected"
        assert [r["attribute_status"] for r in variables.get_variable_result] == ["Rejected"]
        assert "RequestStartTransaction" not in [name for name, _ in lib.received]


async def test_shared_passes_start(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """In shared mode an upstream RequestStartTransaction reaches the charger and the charger's answer goes back."""
    async with forwarded(start_app, client_ssl, upstream_mode="shared") as (app, _, session, lib):
        answer = await session.call(
            call.RequestStartTransaction(id_token={"id_token": "X1", "type": "Central"}, remote_start_id=42),
            suppress=False,
        )
        got = await lib.next_call("RequestStartTransaction")
        assert (answer.status, got["remote_start_id"]) == ("Accepted", 42)
        assert "shared mode" in decisions(app, "RequestStartTransaction")[0]


async def test_shared_caps_profile_at_local_limit(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """An upstream profile of 32 A installs 10 A (the local limit); a local change sends it again at the new limit."""
    async with forwarded(start_app, client_ssl, upstream_mode="shared", max_current=10) as (app, _, session, lib):
        answer = await session.call(
            call.SetChargingProfile(evse_id=1, charging_profile=upstream_profile(32)), suppress=False
        )
        got = await lib.next_call("SetChargingProfile", where=lambda p: p["charging_profile"]["id"] == 77)
        assert answer.status == "Accepted"
        assert got["charging_profile"]["charging_schedule"][0]["charging_schedule_period"][0]["limit"] == 10
        assert (await charger_snapshot(app))["upstream"]["limit_a"] == 32
        status, _ = await api_send(app, "PUT", "/api/chargers/DE*BMW*ETEST0001/current_limit", {"amps": 6})
        assert status == 200
        again = await lib.next_call("SetChargingProfile", where=lambda p: p["charging_profile"]["id"] == 77)
        assert again["charging_profile"]["charging_schedule"][0]["charging_schedule_period"][0]["limit"] == 6
        status, _ = await api_send(app, "PUT", "/api/chargers/DE*BMW*ETEST0001/current_limit", {"amps": 10})
        back = await lib.next_call("SetChargingProfile", where=lambda p: p["charging_profile"]["id"] == 77)
        assert back["charging_profile"]["charging_schedule"][0]["charging_schedule_period"][0]["limit"] == 10


async def test_shared_profile_is_capped_by_the_site_budget(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """The site budget still applies: with the budget in failsafe (6 A), an upstream profile of 32 A installs 6 A."""
    site = {"main_fuse_a": 25, "phase_current_entities": ["sensor.grid_l1", "sensor.grid_l2", "sensor.grid_l3"]}
    async with forwarded(start_app, client_ssl, site=site, upstream_mode="shared") as (app, _, session, lib):
        await session.call(call.SetChargingProfile(evse_id=1, charging_profile=upstream_profile(32)), suppress=False)
        got = await lib.next_call("SetChargingProfile", where=lambda p: p["charging_profile"]["id"] == 77)
        assert got["charging_profile"]["charging_schedule"][0]["charging_schedule_period"][0]["limit"] == 6
        assert (await charger_snapshot(app))["limited_by"] == "failsafe"


async def test_shared_profile_in_watts_is_capped(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """An upstream profile in W is capped at the local limit converted to W (phases x 230 V)."""
    async with forwarded(start_app, client_ssl, upstream_mode="shared", max_current=10) as (_, _, session, lib):
        await session.call(
            call.SetChargingProfile(evse_id=1, charging_profile=upstream_profile(22000, unit="W")), suppress=False
        )
        got = await lib.next_call("SetChargingProfile", where=lambda p: p["charging_profile"]["id"] == 77)
        assert got["charging_profile"]["charging_schedule"][0]["charging_schedule_period"][0]["limit"] == 6900


@pytest.mark.parametrize(("allow", "reaches"), [([], False), (["Reset"], True)])
async def test_shared_reset_only_when_allowed(
    start_app: StartApp, client_ssl: ssl.SSLContext, allow: list[str], reaches: bool
) -> None:
    """In shared mode a Reset reaches the charger only when upstream_allow lists it."""
    async with forwarded(start_app, client_ssl, upstream_mode="shared", upstream_allow=allow) as (app, _, s, lib):
        answer = await s.call(call.Reset(type="Immediate"), suppress=False)
        assert answer.status == ("Accepted" if reaches else "Rejected")
        assert ("Reset" in [name for name, _ in lib.received]) is reaches
        assert ("upstream_allow" in decisions(app, "Reset")[0]) is True


async def test_upstream_invalid_refuses_a_card_the_list_accepts(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """With upstream_authorization: upstream, the upstream's Invalid refuses a card the token list would accept."""
    async with forwarded(start_app, client_ssl, upstream_authorization="upstream") as (_, backend, _, lib):
        backend.authorize_status = "Invalid"
        answer = await lib.call(call.Authorize(id_token=CARD), suppress=False)
        assert answer.id_token_info["status"] == "Invalid"
        assert backend.actions("Authorize") == [{"id_token": CARD}]


async def test_upstream_decides_the_token_of_a_transaction_event(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """With upstream_authorization: upstream, the idTokenInfo of a TransactionEvent is the upstream's verdict."""
    async with forwarded(start_app, client_ssl, upstream_authorization="upstream") as (_, backend, _, lib):
        backend.authorize_status = "Blocked"
        answer = await lib.call(
            call.TransactionEvent(
                event_type="Started",
                timestamp="2026-12-06T10:00:00Z",
                trigger_reason="Authorized",
                seq_no=0,
                transaction_info={"transaction_id": "tx-9"},
                evse={"id": 1, "connector_id": 1},
                id_token=CARD,
            ),
            suppress=False,
        )
        assert answer.id_token_info["status"] == "Blocked"


async def test_local_policy_decides_when_upstream_away(
    start_app: StartApp, client_ssl: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    """With the upstream away, the token list decides on the card and the log says so."""
    async with forwarded(start_app, client_ssl, upstream_authorization="upstream") as (app, backend, _, lib):
        backend.authorize_status = "Invalid"
        await backend.stop()
        await eventually(
            lambda: charger_snapshot(app), what="upstream down", until=lambda s: not s["upstream"]["connected"]
        )
        with caplog.at_level(logging.INFO):
            answer = await lib.call(call.Authorize(id_token=CARD), suppress=False)
        assert answer.id_token_info["status"] == "Accepted"
        assert "the local policy decides" in caplog.text


async def test_password_never_in_log_trace_or_panel(
    start_app: StartApp, client_ssl: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    """The upstream gets its Basic Auth password, which never appears in the log, the trace or the API."""
    caplog.set_level(logging.DEBUG)
    async with forwarded(start_app, client_ssl, upstream_password=UPSTREAM_PASSWORD) as (app, backend, _, _):
        assert backend.authorizations[-1] == f"Basic {BASIC}"
        trace = await api_get(app, "/api/trace")
        chargers = await api_get(app, "/api/chargers")
        detail = await api_get(app, "/api/chargers/DE*BMW*ETEST0001")
    assert UPSTREAM_PASSWORD not in caplog.text
    assert BASIC not in caplog.text
    assert UPSTREAM_PASSWORD not in f"{trace}{chargers}{detail}"


def _down(snapshot: dict[str, Any]) -> bool:
    return snapshot["upstream"]["connected"] is False

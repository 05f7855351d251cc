"""Commands over real sockets: parallel Starts, Start while the status is not known yet, the token commands
recorded like the others, and ClearCache after a block."""

from __future__ import annotations

import asyncio
import ssl
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import quote

import aiohttp
from ocpp.routing import on
from ocpp.v201 import call, call_result

from bmw_wallbox.app import Application

from conftest import CHARGER_ID, StartApp, api_send, charger_snapshot, ocpp_url
from helpers import eventually
from peer import LibraryCharger, provisioned_charger

BASE = f"/api/chargers/{quote(CHARGER_ID, safe='')}"
CARD = {"name": "Anna's card", "id_token": "04A1B2C3D4E5F6", "type": "ISO14443"}
NOW = "2026-11-26T01:00:00Z"


class CachingCharger(LibraryCharger):
    """A library charger with an authorization cache it clears on ClearCache."""

    @on("ClearCache")
    def on_clear_cache(self, **kwargs: Any) -> call_result.ClearCache:
        self._got("ClearCache", {})
        return call_result.ClearCache(status="Accepted")


def connected(
    app: Application, client_ssl: ssl.SSLContext, **kwargs: Any
) -> AbstractAsyncContextManager[LibraryCharger]:
    """A library charger connected, once the connect-time limit and metering set-up reached it."""
    return provisioned_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, **kwargs)


async def car_waiting(charger: LibraryCharger) -> None:
    """A car plugged in, no session yet."""
    await charger.call(
        call.StatusNotification(timestamp=NOW, connector_status="Occupied", evse_id=1, connector_id=1), suppress=False
    )


async def last_command(app: Application) -> Any:
    """The charger's last command as the JSON API shows it."""
    return (await charger_snapshot(app))["last_command"]


async def test_five_parallel_starts_send_one_request_and_all_answer_200(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """Five POST /start at once with a car waiting: one RequestStartTransaction, five 200 accepted."""
    app = await start_app()
    async with connected(app, client_ssl) as charger:
        await car_waiting(charger)
        answers = await asyncio.gather(*(api_send(app, "POST", f"{BASE}/start") for _ in range(5)))
        assert [(status, body["outcome"]) for status, body in answers] == [(200, "accepted")] * 5
        assert [a for a, _ in charger.received].count("RequestStartTransaction") == 1


async def test_a_start_before_the_status_is_known_answers_503_with_retry_after(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """Just after a connect without any saved or reported status: 503 not_ready with Retry-After, nothing sent."""
    app = await start_app()
    async with connected(app, client_ssl) as charger:
        url = f"http://127.0.0.1:{app.panel_port}{BASE}/start"
        async with aiohttp.ClientSession() as http, http.post(url) as response:
            status, retry_after, body = response.status, response.headers.get("Retry-After"), await response.json()
        assert (status, retry_after, body["outcome"]) == (503, "5", "not_ready")
        assert "try again in a few seconds" in body["detail"]
        assert "RequestStartTransaction" not in [a for a, _ in charger.received]


async def test_a_switch_is_recorded_as_the_last_command(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Switching the charger's authorization on goes through the command table: it becomes the last command."""
    app = await start_app()
    async with connected(app, client_ssl):
        status, body = await api_send(
            app, "PUT", f"/api/chargers/{CHARGER_ID}/charger_authorization", {"enabled": True}
        )
        last = await last_command(app)
        assert (status, body["outcome"]) == (200, "accepted")
        assert (last["command"], last["outcome"]) == ("charger_authorization_on", "accepted")


async def test_blocking_a_token_clears_the_charger_cache(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Blocking a card sends ClearCache to the connected charger, and the outcome is its last command."""
    app = await start_app()
    async with connected(app, client_ssl, charger_class=CachingCharger) as charger:
        _, token = await api_send(app, "POST", "/api/tokens", CARD)
        status, _ = await api_send(app, "PATCH", f"/api/tokens/{token['ref']}", {"allowed": False})
        await charger.next_call("ClearCache")
        last = await eventually(
            lambda: last_command(app),
            until=lambda c: c and c["command"] == "clear_cache",
            what="the clear_cache result",
        )
        assert (status, last["outcome"], last["detail"]) == (200, "accepted", "the authorization cache is cleared")


async def test_a_charger_without_clear_cache_is_reported_not_supported(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """A charger that answers ClearCache with CALLERROR NotImplemented: the block stands, the result says so."""
    app = await start_app()
    async with connected(app, client_ssl):
        _, token = await api_send(app, "POST", "/api/tokens", CARD)
        status, body = await api_send(app, "PATCH", f"/api/tokens/{token['ref']}", {"allowed": False})
        last = await eventually(
            lambda: last_command(app),
            until=lambda c: c and c["command"] == "clear_cache",
            what="the clear_cache result",
        )
        assert (status, body["allowed"], last["outcome"]) == (200, False, "not_supported")

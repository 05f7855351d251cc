"""The panel of a charger with two EVSEs in headless Chromium (the dual-evse simulator): a card per EVSE with
its own controls; one-EVSE chargers show none."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from test_panel_browser import ARTIFACTS, TIME_SCALE, Browser, browser, card, expect, panel_options, panel_page

from bmw_wallbox.app import Application
from bmw_wallbox.simulator import DUAL_EVSE, WallboxSimulator

from conftest import CHARGER_ID, StartApp, ocpp_url
from helpers import profile_limit

__all__ = ["browser"]  # the fixture, shared with the panel's other browser tests


@asynccontextmanager
async def two_evses(app: Application, client_ssl: ssl.SSLContext, **kwargs: Any) -> AsyncIterator[WallboxSimulator]:
    """The dual-evse simulator connected to the app, with the connect-time setup done."""
    sim = WallboxSimulator(
        ocpp_url(app), CHARGER_ID, ssl=client_ssl, time_scale=TIME_SCALE, personality=DUAL_EVSE, **kwargs
    )
    task = asyncio.create_task(sim.run())
    try:
        await sim.wait_connected()
        await sim.wait_for_call("SetVariables")
        yield sim
    finally:
        await sim.stop()
        await task


def evse_card(page: Any, evse_id: int) -> Any:
    """The card of one EVSE."""
    return card(page).locator(f'article.evse-card[data-evse="{evse_id}"]')


async def test_each_evse_has_its_own_card_and_controls(
    start_app: StartApp, browser: Browser, client_ssl: ssl.SSLContext
) -> None:
    """Two cars charging: Pause on EVSE 2's card sends 0 A to EVSE 2 only; EVSE 1's limit field sets 10 A on EVSE 1."""
    app = await start_app(options=panel_options())
    async with two_evses(app, client_ssl, car_max_current_a=8.0) as sim, panel_page(browser, app) as (page, watch, _):
        await sim.plug_in(1)
        await sim.plug_in(2)
        await expect(card(page).locator("article.evse-card")).to_have_count(2)
        await expect(evse_card(page, 2).locator(".evse-state")).to_contain_text("Charging")
        start = len(sim.received)
        await page.get_by_role("button", name="Pause EVSE 2").click()
        await expect(evse_card(page, 2).locator(".result")).to_contain_text("Pause: accepted")
        sent = [p for a, p in sim.received[start:] if a == "SetChargingProfile" and p["evseId"] == 2]
        assert [profile_limit(p) for p in sent][-1:] == [0.0]
        await expect(evse_card(page, 2)).to_contain_text("paused (0 A)")
        await evse_card(page, 1).locator("input.evse-limit").fill("10")
        await page.get_by_role("button", name="Set the limit of EVSE 1").click()
        await expect(evse_card(page, 1).locator(".result")).to_contain_text("Limit: accepted")
        await expect(evse_card(page, 1)).to_contain_text("10 A")
        ARTIFACTS.mkdir(exist_ok=True)
        await card(page).screenshot(path=str(ARTIFACTS / "panel-two-evses.png"))
        assert watch.problems == []


async def test_a_one_evse_charger_shows_no_evse_cards(
    start_app: StartApp, browser: Browser, client_ssl: ssl.SSLContext
) -> None:
    """The default (one-EVSE) simulator: the charger card has no EVSE cards."""
    app = await start_app(options=panel_options())
    sim = WallboxSimulator(ocpp_url(app), CHARGER_ID, ssl=client_ssl, time_scale=TIME_SCALE)
    task = asyncio.create_task(sim.run())
    try:
        await sim.wait_connected()
        async with panel_page(browser, app) as (page, watch, _):
            await sim.plug_in()
            await expect(card(page).locator(".state-title")).to_contain_text("Charging")
            await expect(card(page).locator("article.evse-card")).to_have_count(0)
            assert watch.problems == []
    finally:
        await sim.stop()
        await task

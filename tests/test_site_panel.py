"""The panel shows the site budget: its own card, and why a wallbox charges below what was asked (Chromium)."""

from __future__ import annotations

import ssl

from playwright.async_api import Browser, expect
from test_panel_browser import browser, card, panel_options, panel_page, simulator

from conftest import StartApp

__all__ = ["browser"]  # the Chromium fixture, shared with the panel's other browser tests

SITE = {"main_fuse_a": 25, "phase_current_entities": ["sensor.grid_l1", "sensor.grid_l2", "sensor.grid_l3"]}


async def test_a_site_without_its_meter_shows_the_failsafe_card_and_the_reason_on_the_charger(
    start_app: StartApp, browser: Browser, client_ssl: ssl.SSLContext
) -> None:
    """No meter reading: the site card says Failsafe and why; the charging wallbox says the failsafe 6 A applies."""
    app = await start_app(options=panel_options(site=SITE))
    async with simulator(app, client_ssl) as sim, panel_page(browser, app) as (page, watch, _):
        await sim.plug_in()
        site = page.locator("#site-card")
        await expect(site).to_be_visible()
        await expect(site.locator(".site-badge")).to_have_text("Failsafe")
        await expect(site.locator(".site-detail")).to_contain_text("no reading of sensor.grid_l1 yet")
        await expect(site.locator("dd").first).to_have_text("25 A per phase")
        await expect(card(page).locator(".state-detail")).to_have_text(
            "The grid meter cannot be seen: the failsafe 6 A applies."
        )
        assert watch.problems == []


async def test_without_a_site_block_there_is_no_site_card(start_app: StartApp, browser: Browser) -> None:
    """No main fuse: the overview has no site card."""
    app = await start_app(options=panel_options())
    async with panel_page(browser, app) as (page, watch, _):
        await expect(page.locator("#site-card")).to_be_hidden()
        assert watch.problems == []

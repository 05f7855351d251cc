"""The panel in headless Chromium, served under an ingress-style prefix, with the wallbox simulator charging.

Needs Debian's ``chromium`` and the PyPI ``playwright`` package (``.ci/run``
installs both). Outside CI the tests are skipped when either is missing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bmw_wallbox.app import Application
from bmw_wallbox.simulator import WallboxSimulator

from conftest import CHARGER_ID, StartApp, default_options, ocpp_url
from helpers import profile_limit
from ingress_proxy import IngressProxy
from peer import library_charger
from sessions import add_session

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Simulated seconds per real second: with meter values every 5 s the page gets one every 0.5 s.
TIME_SCALE = 10.0
#: The BasicAuthPassword value the library charger of tests/peer.py reports in its base report.
REPORTED_PASSWORD = "hunter2-secret"
#: Purposes a charger can install; rejecting all makes every limit fail.
ALL_PURPOSES = {"TxDefaultProfile", "TxProfile", "ChargingStationMaxProfile"}

try:
    from playwright.async_api import Browser, Page, async_playwright, expect
except ImportError:  # pragma: no cover - CI installs it
    if os.environ.get("CI"):
        raise
    pytest.skip("playwright is not installed", allow_module_level=True)
if not CHROMIUM.exists():  # pragma: no cover - CI installs it
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run must install Debian's chromium")
    pytest.skip(f"{CHROMIUM} is missing", allow_module_level=True)

expect.set_options(timeout=8000)


def panel_options(**overrides: Any) -> Any:
    """One charger with a 16 A installation, meter values every 5 s."""
    return default_options(
        chargers=[{"id": CHARGER_ID, "name": "Garage wallbox", "max_current": 16}], meter_interval=5, **overrides
    )


class Watch:
    """Collects what went wrong in a page: failed requests, error responses, console errors, script errors."""

    def __init__(self, page: Page) -> None:
        self.problems: list[str] = []
        self.urls: list[str] = []
        self.allowed_status: set[int] = set()
        page.on("request", lambda request: self.urls.append(request.url))
        page.on("requestfailed", lambda request: self.problems.append(f"failed: {request.url} {request.failure}"))
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        page.on("console", self._console)
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type == "error" and not any(str(code) in message.text for code in self.allowed_status):
            self.problems.append(f"console: {message.text}")

    def _response(self, response: Any) -> None:
        if response.status >= 400 and response.status not in self.allowed_status:
            self.problems.append(f"HTTP {response.status}: {response.url}")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@asynccontextmanager
async def simulator(app: Application, client_ssl: ssl.SSLContext, **kwargs: Any) -> AsyncIterator[WallboxSimulator]:
    """The wallbox simulator connected to the app, with the connect-time setup done."""
    sim = WallboxSimulator(ocpp_url(app), CHARGER_ID, ssl=client_ssl, time_scale=TIME_SCALE, **kwargs)
    task = asyncio.create_task(sim.run())
    try:
        await sim.wait_connected()
        await sim.wait_for_call("SetVariables")
        yield sim
    finally:
        await sim.stop()
        await task


@asynccontextmanager
async def panel_page(
    browser: Browser, app: Application, *, width: int = 1280, height: int = 800, scheme: str = "light"
) -> AsyncIterator[tuple[Page, Watch, IngressProxy]]:
    """The panel opened through the ingress proxy, live."""
    async with IngressProxy(app.panel_port or 0) as proxy:
        context = await browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)  # type: ignore[arg-type]
        page = await context.new_page()
        watch = Watch(page)
        await page.goto(proxy.url)
        await expect(page.locator("#link")).to_have_attribute("data-state", "live")
        try:
            yield page, watch, proxy
        finally:
            await context.close()


def card(page: Page) -> Any:
    """The charger's section on the overview."""
    return page.locator(f'section.charger[data-charger="{CHARGER_ID}"]')


async def test_page_loads_through_ingress_without_failures(
    start_app: StartApp, browser: Browser, client_ssl: ssl.SSLContext
) -> None:
    """Every request stays under the ingress prefix and none fails; the page shows the charger online."""
    app = await start_app(options=panel_options())
    async with simulator(app, client_ssl), panel_page(browser, app) as (page, watch, proxy):
        await expect(card(page).locator(".pill")).to_contain_text("Online since")
        await expect(card(page).locator(".charger-id")).to_have_text(CHARGER_ID)
        assert watch.problems == []
        prefix = proxy.url.split("://", 1)[1]
        assert [url for url in watch.urls if url.split("://", 1)[1][: len(prefix)] != prefix] == []
        assert "/api/ws" in proxy.forwarded


async def test_live_values_follow_the_charging_simulator(
    start_app: StartApp, browser: Browser, client_ssl: ssl.SSLContext
) -> None:
    """After plugging in, the state reads Charging, power shows 11.04 kW and the session energy keeps rising."""
    app = await start_app(options=panel_options())
    async with simulator(app, client_ssl) as sim, panel_page(browser, app) as (page, watch, _):
        await expect(card(page).locator(".state-title")).to_have_text("No car connected")
        await sim.plug_in()
        await expect(card(page).locator(".state-title")).to_have_text("Charging at 11.04 kW")
        energy = card(page).locator(".tile").nth(3).locator(".value-number")
        await expect(energy).not_to_have_text("\u2013")  # the page shows an en dash for "unknown"
        first = await energy.text_content()
        await expect(energy).not_to_have_text(first or "")
        await expect(card(page).locator(".tile").nth(1)).to_contain_text("L1 16.0 · L2 16.0 · L3 16.0 A")
        await expect(card(page).locator(".chart-svg path.line")).to_have_count(1)
        assert watch.problems == []


async def test_slider_and_pause_reach_the_charger_as_profiles(
    start_app: StartApp, browser: Browser, client_ssl: ssl.SSLContext
) -> None:
    """Moving the slider to 6 A and pressing Pause arrive as SetChargingProfile 6 A and 0 A."""
    app = await start_app(options=panel_options())
    async with simulator(app, client_ssl) as sim, panel_page(browser, app) as (page, watch, _):
        await sim.plug_in()
        start = len(sim.received)
        slider = card(page).locator("input.slider")
        await slider.focus()
        await slider.press("Home")
        profile = await sim.wait_for_call("SetChargingProfile", after=start)
        assert profile_limit(profile) == 6.0
        await expect(card(page).locator(".result")).to_contain_text("Current limit: accepted")
        await expect(card(page).locator(".slider-value")).to_have_text("6 A")
        start = len(sim.received)
        await card(page).get_by_role("button", name="Pause").click()
        profile = await sim.wait_for_call("SetChargingProfile", after=start)
        assert profile_limit(profile) == 0.0
        await expect(card(page).locator(".result")).to_contain_text("Pause: accepted")
        await expect(card(page).locator(".state-title")).to_have_text("Paused")
        ARTIFACTS.mkdir(exist_ok=True)
        await card(page).screenshot(path=str(ARTIFACTS / "panel-paused.png"))
        assert watch.problems == []


async def test_rejected_command_shows_the_chargers_reason(
    start_app: StartApp, browser: Browser, client_ssl: ssl.SSLContext
) -> None:
    """When the charger rejects every profile, Pause reads 'rejected by the wallbox' with the charger's reason."""
    app = await start_app(options=panel_options(reset_recovery=False))
    async with simulator(app, client_ssl) as sim, panel_page(browser, app) as (page, watch, _):
        await sim.plug_in()
        sim.reject_profiles = ALL_PURPOSES
        watch.allowed_status.add(502)
        await card(page).get_by_role("button", name="Pause").click()
        result = card(page).locator(".result")
        await expect(result).to_have_class("result bad")
        await expect(result).to_contain_text("Pause: rejected by the wallbox")
        await expect(result).to_contain_text("Rejected")
        ARTIFACTS.mkdir(exist_ok=True)
        await card(page).screenshot(path=str(ARTIFACTS / "panel-rejected.png"))
        assert watch.problems == []


async def test_stop_asks_first(start_app: StartApp, browser: Browser, client_ssl: ssl.SSLContext) -> None:
    """Stop opens a confirmation; Cancel sends nothing, confirming sends RequestStopTransaction."""
    app = await start_app(options=panel_options())
    async with simulator(app, client_ssl) as sim, panel_page(browser, app) as (page, watch, _):
        await sim.plug_in()
        stop = card(page).get_by_role("button", name="Stop")
        await expect(stop).to_be_enabled()
        await stop.click()
        dialog = page.locator("dialog#confirm")
        await expect(dialog).to_be_visible()
        await expect(page.locator("#confirm-cancel")).to_be_focused()
        await page.keyboard.press("Escape")
        await expect(dialog).to_be_hidden()
        assert not any(action == "RequestStopTransaction" for action, _ in sim.received)
        await stop.click()
        await page.locator("#confirm-ok").click()
        await sim.wait_for_call("RequestStopTransaction")
        await expect(card(page).locator(".result")).to_contain_text("Stop: accepted")
        assert watch.problems == []


async def test_reboot_asks_first_and_shows_the_result(
    start_app: StartApp, browser: Browser, client_ssl: ssl.SSLContext
) -> None:
    """Reboot is confirmed in a dialog, then the charger gets Reset Immediate and the page says accepted."""
    app = await start_app(options=panel_options())
    async with simulator(app, client_ssl, reboot_s=5.0) as sim, panel_page(browser, app) as (page, watch, _):
        await card(page).get_by_role("button", name="Reboot").click()
        await expect(page.locator("#confirm-title")).to_have_text("Reboot the wallbox?")
        await page.locator("#confirm-ok").click()
        reset = await sim.wait_for_call("Reset")
        assert reset["type"] == "Immediate"
        await expect(card(page).locator(".result")).to_contain_text("Reboot: accepted")
        assert watch.problems == []


async def test_trace_and_logs_fill_and_filter(
    start_app: StartApp, browser: Browser, client_ssl: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    """The trace lists the frames and filters by action; the logs list lines and filter by level."""
    caplog.set_level(logging.INFO)
    app = await start_app(options=panel_options())
    async with simulator(app, client_ssl), panel_page(browser, app) as (page, watch, _):
        await page.get_by_role("tab", name="OCPP trace").click()
        frames = page.locator("#trace-list li.frame")
        await expect(frames.first).to_be_visible()
        await page.locator("#trace-action").select_option("BootNotification")
        await expect(frames).to_have_count(2)  # the call and its result
        assert set(await frames.evaluate_all("rows => rows.map(r => r.dataset.action)")) == {"BootNotification"}
        await page.get_by_role("tab", name="Logs").click()
        lines = page.locator("#log-list li.log")
        await expect(lines.filter(has_text="Connected from")).to_have_count(1)
        await page.locator("#log-level").select_option("40")
        await expect(lines.filter(has_text="Connected from")).to_have_count(0)
        assert watch.problems == []


async def test_trace_masks_secrets(start_app: StartApp, browser: Browser, client_ssl: ssl.SSLContext) -> None:
    """A BasicAuthPassword the charger reports is shown as *** and its value never reaches the page."""
    app = await start_app(options=panel_options())
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        await charger.next_call("SetVariables")
        async with panel_page(browser, app) as (page, watch, _):
            await page.get_by_role("tab", name="OCPP trace").click()
            await page.locator("#trace-search").fill("BasicAuthPassword")
            frames = page.locator("#trace-list li.frame")
            await expect(frames).to_have_count(1)
            await expect(frames.first).to_contain_text('"value":"***"')
            assert REPORTED_PASSWORD not in await page.content()
            assert watch.problems == []


async def test_page_reconnects_by_itself(start_app: StartApp, browser: Browser) -> None:
    """When the WebSocket drops the page shows it is offline, then reconnects without a reload or doubled history."""
    app = await start_app(options=panel_options())
    now = time.time()
    for minute in range(10):
        app.panel.history.record(CHARGER_ID, 1000.0 * minute, at_s=now - 600 + minute * 60)
    async with panel_page(browser, app) as (page, watch, proxy):
        line = card(page).locator(".chart-svg path.line")
        segments = (await line.get_attribute("d") or "").count("L")
        await proxy.drop_websockets()
        await expect(page.locator("#link")).to_have_attribute("data-state", "offline")
        await expect(page.locator("#link-text")).to_contain_text("reconnecting")
        await expect(page.locator("#link")).to_have_attribute("data-state", "live")
        assert proxy.forwarded.count("/api/ws") == 2
        assert (await line.get_attribute("d") or "").count("L") == segments  # history replaced, not doubled
        assert watch.problems == []


async def test_fresh_page_draws_the_last_hour(start_app: StartApp, browser: Browser) -> None:
    """Power history kept on the server is drawn on a fresh page load."""
    app = await start_app(options=panel_options())
    now = time.time()
    for minute in range(60):
        app.panel.history.record(CHARGER_ID, 11000.0 if minute > 20 else 0.0, at_s=now - 3540 + minute * 60)
    async with panel_page(browser, app) as (page, watch, _):
        path = card(page).locator(".chart-svg path.line")
        await expect(path).to_have_count(1)
        assert (await path.get_attribute("d") or "").count("L") >= 59
        assert watch.problems == []


async def test_tabs_work_with_the_keyboard(start_app: StartApp, browser: Browser) -> None:
    """Arrow keys move between tabs and show the chosen section."""
    app = await start_app(options=panel_options())
    async with panel_page(browser, app) as (page, _, _):
        await page.get_by_role("tab", name="Overview").focus()
        await page.keyboard.press("ArrowRight")
        await expect(page.get_by_role("tab", name="Sessions")).to_have_attribute("aria-selected", "true")
        await expect(page.locator("#view-sessions")).to_be_visible()
        await page.keyboard.press("End")
        await expect(page.get_by_role("tab", name="Logs")).to_be_focused()
        await expect(page.locator("#view-overview")).to_be_hidden()


@pytest.mark.parametrize(
    ("name", "width", "height", "scheme", "tab"),
    [
        ("desktop", 1280, 800, "light", "Overview"),
        ("desktop-dark", 1280, 800, "dark", "Overview"),
        ("phone", 390, 844, "light", "Overview"),
        ("phone-dark", 390, 844, "dark", "Overview"),
        ("desktop-setup", 1280, 800, "light", "Setup"),
        ("desktop-sessions", 1280, 800, "light", "Sessions"),
        ("phone-trace", 390, 844, "dark", "OCPP trace"),
        ("desktop-logs", 1280, 800, "light", "Logs"),
    ],
)
async def test_screenshots(
    start_app: StartApp,
    browser: Browser,
    client_ssl: ssl.SSLContext,
    caplog: pytest.LogCaptureFixture,
    name: str,
    width: int,
    height: int,
    scheme: str,
    tab: str,
) -> None:
    """Screenshots of a charging session at desktop and phone widths go to test-artifacts/; nothing overflows."""
    caplog.set_level(logging.INFO)
    app = await start_app(options=panel_options())
    now = time.time()
    for second in range(0, 3300, 30):
        watts = 0.0 if second < 600 else 11040.0 if second < 2400 else 7360.0
        app.panel.history.record(CHARGER_ID, watts, at_s=now - 3400 + second)
    charger = app.hub.chargers[CHARGER_ID]
    register_wh = 1_000_000.0
    for day, energy_kwh, hours, reason in ((24, 38.2, 4.1, "EVDisconnected"), (25, 12.9, 1.3, "StoppedByEV")):
        start = datetime.fromisoformat(f"2026-11-{day}T18:02:00+00:00")
        end_wh = register_wh + energy_kwh * 1000
        add_session(
            charger,
            f"tx-{day}",
            start=start,
            end=start + timedelta(hours=hours),
            start_wh=register_wh,
            end_wh=end_wh,
            reason=reason,
        )
        register_wh = end_wh
    async with (
        simulator(app, client_ssl) as sim,
        panel_page(browser, app, width=width, height=height, scheme=scheme) as (page, watch, _),
    ):
        await sim.plug_in()
        await expect(card(page).locator(".state-title")).to_have_text("Charging at 11.04 kW")
        await page.get_by_role("tab", name=tab).click()
        if tab == "OCPP trace":
            await expect(page.locator("#trace-list li.frame").first).to_be_visible()
        if tab == "Logs":
            await expect(page.locator("#log-list li.log").first).to_be_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        target = ARTIFACTS / f"panel-{name}.png"
        await page.screenshot(path=str(target), full_page=True)
        assert target.stat().st_size > 10_000
        overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
        assert watch.problems == []

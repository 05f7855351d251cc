"""The panel's Maintenance tab in headless Chromium: a log with its progress, a firmware update, the support bundle."""

from __future__ import annotations

import io
import os
import ssl
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_panel_browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    Browser,
    async_playwright,
    expect,
    panel_options,
    panel_page,
    simulator,
)

from bmw_wallbox.simulator import WallboxSimulator

from conftest import CHARGER_ID, StartApp

FIRMWARE = os.urandom(150_000)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless (as for the panel's other browser tests)."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def test_maintenance_tab_gets_a_log_updates_firmware_and_gives_the_bundle(
    start_app: StartApp, browser: Browser, client_ssl: ssl.SSLContext, tmp_path: Path
) -> None:
    """Request log lists the simulator's log as Uploaded and downloads it whole; Install reaches Installed."""
    app = await start_app(options=panel_options())
    sim: WallboxSimulator
    async with simulator(app, client_ssl) as sim, panel_page(browser, app) as (page, watch, _):
        await page.get_by_role("tab", name="Maintenance").click()
        card = page.locator(f'article.maintenance-charger[data-charger="{CHARGER_ID}"]')
        await expect(card.locator(".health")).to_contain_text("Round trip")
        await card.get_by_role("button", name="Request log").click()
        entry = card.locator(".log-entry").first
        await expect(entry.locator(".log-status")).to_have_text("Uploaded")
        async with page.expect_download() as log_download:
            await entry.get_by_role("link", name="Download").click()
        log_path = tmp_path / "log"
        await (await log_download.value).save_as(log_path)
        firmware_path = tmp_path / "delta-01.20.07.00.bin"
        firmware_path.write_bytes(FIRMWARE)
        await page.locator("#firmware-file").set_input_files(str(firmware_path))
        await page.get_by_role("button", name="Upload").click()
        await expect(page.locator("#firmware-list")).to_contain_text("delta-01.20.07.00.bin")
        await card.get_by_role("button", name="Install").click()
        await expect(card.locator(".firmware-status")).to_contain_text("delta-01.20.07.00.bin: Installed")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "panel-maintenance.png"))
        async with page.expect_download() as bundle_download:
            await page.get_by_role("link", name="Download support bundle").click()
        bundle_path = tmp_path / "bundle.zip"
        await (await bundle_download.value).save_as(bundle_path)
        assert watch.problems == []
    assert log_path.read_bytes() == sim.transfers.uploaded
    assert sim.transfers.firmware == FIRMWARE
    names = zipfile.ZipFile(io.BytesIO(bundle_path.read_bytes())).namelist()
    assert "version.txt" in names

"""The panel's Tokens tab in headless Chromium under an ingress-style prefix: add, rename, block at desktop and
phone width, a card tapped at the simulated wallbox added in two clicks, and a wallbox that does not ask."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import pytest
from test_panel_browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    Browser,
    Page,
    async_playwright,
    expect,
    panel_options,
    panel_page,
    simulator,
)

from conftest import CHARGER_ID, StartApp
from helpers import eventually

CARD_ID = "04A1B2C3D4E5F6"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless (as for the panel's other browser tests)."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def open_tokens(page: Page) -> None:
    """Switch to the Tokens tab."""
    await page.get_by_role("tab", name="Tokens").click()
    await expect(page.locator("#view-tokens")).to_be_visible()


def row(page: Page, name: str) -> object:
    """The token list's row that shows ``name``."""
    return page.locator("#tokens li.token-row", has_text=name)


@pytest.mark.parametrize(("name", "width", "height"), [("desktop", 1280, 800), ("phone", 390, 844)])
async def test_tokens_are_added_renamed_and_blocked(
    start_app: StartApp, browser: Browser, name: str, width: int, height: int
) -> None:
    """A token added in the form is listed masked; Rename, Block and Delete change it in the list and the add-on."""
    app = await start_app(options=panel_options())
    async with panel_page(browser, app, width=width, height=height) as (page, watch, _):
        await open_tokens(page)
        await page.get_by_role("button", name="Add token").click()
        await page.get_by_label("Name").fill("Anna's card")
        await page.get_by_label("Token id").fill(CARD_ID)
        await page.get_by_label("Type").select_option("ISO14443")
        await page.get_by_role("button", name="Add", exact=True).click()
        card = page.locator("#tokens li.token-row").first
        await expect(card).to_contain_text("Anna's card")
        await expect(card).to_contain_text("…E5F6")
        assert CARD_ID not in await page.content()
        await card.get_by_role("button", name="Rename").click()
        await card.get_by_role("textbox").fill("Anna")
        await card.get_by_role("button", name="Save").click()
        await expect(card.locator(".token-name strong")).to_have_text("Anna")
        await card.get_by_role("button", name="Block").click()
        await expect(card.locator(".tag.bad")).to_have_text("Blocked")
        await expect(card.get_by_role("button", name="Allow")).to_be_visible()
        (token,) = app.hub.tokens.tokens.values()
        assert (token.name, token.allowed) == ("Anna", False)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / f"panel-tokens-{name}.png"), full_page=True)
        overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
        await card.get_by_role("button", name="Delete").click()
        await page.locator("#confirm-ok").click()
        await expect(page.locator("#tokens li.empty")).to_be_visible()
        assert (app.hub.tokens.tokens, watch.problems) == ({}, [])


async def test_a_tapped_card_is_added_in_two_clicks(
    start_app: StartApp, browser: Browser, client_ssl: ssl.SSLContext
) -> None:
    """Known only: a card tapped at the wallbox shows up masked; "Add as…" then "Add" lists it, and it then works."""
    app = await start_app(options=panel_options())
    app.tokens.set_policy(CHARGER_ID, "known_only")
    async with simulator(app, client_ssl) as sim, panel_page(browser, app) as (page, watch, _):
        await open_tokens(page)
        assert await sim.present_token(CARD_ID) == "Invalid"
        seen = page.locator("#unknown-tokens li.token-row")
        await expect(seen).to_contain_text("…E5F6")
        await expect(page.locator("#tokens-badge")).to_have_text("1")
        await seen.get_by_role("button", name="Add as…").click()
        await seen.get_by_role("button", name="Add", exact=True).click()
        await expect(page.locator("#tokens li.token-row").first).to_contain_text("Card …E5F6")
        await expect(page.locator("#unknown-tokens-card")).to_be_hidden()
        assert CARD_ID not in await page.content()
        assert await sim.present_token(CARD_ID) == "Accepted"
        assert watch.problems == []


async def test_a_wallbox_that_does_not_ask_is_shown_and_switched_on(
    start_app: StartApp, browser: Browser, client_ssl: ssl.SSLContext
) -> None:
    """The Delta as shipped: the panel says it does not ask; the button switches AuthCtrlr.Enabled on."""
    app = await start_app(options=panel_options())
    async with simulator(app, client_ssl) as sim, panel_page(browser, app) as (page, watch, _):
        await eventually(
            lambda: app.hub.chargers[CHARGER_ID].capabilities.auth_enabled,
            until=lambda value: value is False,
            what="AuthCtrlr.Enabled=false reported",
        )
        await open_tokens(page)
        auth = page.locator(f'.auth-card[data-charger="{CHARGER_ID}"]')
        await expect(auth).to_contain_text("does not ask for a token")
        await expect(auth).to_contain_text("local list is off")
        await auth.get_by_role("button", name="Switch authorization on").click()
        await expect(auth).to_contain_text("asks for a card")
        await expect(auth.locator(":scope > .form-result")).to_have_text("AuthCtrlr.Enabled is now true")
        assert sim.variables.value("AuthCtrlr", "Enabled") == "true"
        await auth.get_by_role("radio", name="Only tokens in the list").check()
        await eventually(
            lambda: str(app.hub.tokens.charger(CHARGER_ID).policy),
            until=lambda value: value == "known_only",
            what="the policy known_only",
        )
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "panel-tokens-authorization.png"), full_page=True)
        assert watch.problems == []

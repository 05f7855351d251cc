"""What enters from the data files is checked at load: tokens fail closed, ids match in any letter case, a damaged
charger state never breaks metering or the JSON API, and no file is ever written with NaN or Infinity."""

from __future__ import annotations

import json
import math
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ocpp.v201 import call

from bmw_wallbox.app import Application
from bmw_wallbox.state import Save

from conftest import CHARGER_ID, StartApp, api_get, api_send, ocpp_url
from peer import LibraryCharger, library_charger

CARD = {"id_token": "04A1B2C3D4E5F6", "type": "ISO14443"}
STATE_FILE = "DE%2ABMW%2AETEST0001.json"


def token(ref: str, id_token: str, *, name: str | None = None, **extra: Any) -> dict[str, Any]:
    """A saved token as schema 1 writes it (allowed unless ``extra`` says otherwise)."""
    return {
        "ref": ref,
        "name": name or f"Card {ref}",
        "id_token": id_token,
        "type": "ISO14443",
        "allowed": True,
        "group": None,
        "added_at": "2026-11-01T00:00:00+00:00",
        **extra,
    }


def tokens_file(data_dir: Path, tokens: list[dict[str, Any]], *, policy: str = "accept_all") -> None:
    """Write a schema-1 tokens.json with ``tokens`` and ``policy`` for the open charger."""
    data_dir.mkdir(parents=True, exist_ok=True)
    saved = {
        "schema": 1,
        "tokens": tokens,
        "remote_start": None,
        "unknown": [],
        "chargers": {CHARGER_ID: {"policy": policy, "local_list": {"version": None, "entries": None}}},
    }
    (data_dir / "tokens.json").write_text(json.dumps(saved), encoding="utf-8")


async def authorize(app: Application, client_ssl: ssl.SSLContext, id_token: dict[str, str]) -> str:
    """The status the open charger gets for Authorize with ``id_token``."""
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        result = await charger.call(call.Authorize(id_token=id_token), suppress=False)
    return str(result.id_token_info["status"])


async def problems(app: Application) -> list[str]:
    """The details of the setup page's items about data files that could not be read."""
    setup = await api_get(app, "/api/setup")
    return [item["detail"] for item in setup["items"] if item["key"] == "state"]


async def strict_json(app: Application, path: str) -> Any:
    """GET ``path`` and parse it as strict JSON: NaN or Infinity in the answer fail the test."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{path} answered {constant}, which is not JSON")

    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{app.panel_port}{path}") as response:
        assert response.status == 200
        return json.loads(await response.text(), parse_constant=refuse)


# --- tokens.json fails closed (issue 17, item 5) ---------------------------------------------------


@pytest.mark.parametrize("allowed", ["false", "no", "0", 0, 1, None, "true"])
async def test_an_allowed_flag_that_is_not_a_bool_blocks_the_token(
    start_app: StartApp, client_ssl: ssl.SSLContext, tmp_path: Path, allowed: object
) -> None:
    """ "allowed": "false" (or any value that is not true or false) blocks the card and is reported."""
    data_dir = tmp_path / "data"
    tokens_file(data_dir, [token("t1", CARD["id_token"], allowed=allowed)])
    app = await start_app(data_dir=data_dir)
    assert await authorize(app, client_ssl, CARD) == "Blocked"
    assert [t["allowed"] for t in (await api_get(app, "/api/tokens"))["tokens"]] == [False]
    assert any("tokens.json: the allowed of token 'Card t1'" in detail for detail in await problems(app))


async def test_an_unreadable_token_list_accepts_only_listed_tokens(
    start_app: StartApp, client_ssl: ssl.SSLContext, tmp_path: Path
) -> None:
    """A token whose id cannot be read may have been a blocked card: every charger then accepts only listed tokens."""
    data_dir = tmp_path / "data"
    tokens_file(data_dir, [token("t1", CARD["id_token"], allowed=False, type="Barcode")])
    app = await start_app(data_dir=data_dir)
    assert await authorize(app, client_ssl, CARD) == "Invalid"
    assert any("known_only" in detail for detail in await problems(app))


# --- idTokens do not depend on letter case (issue 17, item 12) --------------------------------------


async def test_a_blocked_card_in_other_letter_case_is_blocked(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """A blocked card presented in lower case is still blocked (OCPP 2.0.1 compares idTokens case-insensitively)."""
    app = await start_app()
    status, _ = await api_send(app, "POST", "/api/tokens", {"name": "Old card", **CARD, "allowed": False})
    lower = {**CARD, "id_token": CARD["id_token"].lower()}
    assert (status, await authorize(app, client_ssl, lower)) == (201, "Blocked")


async def test_the_list_refuses_a_second_spelling_of_a_card(start_app: StartApp) -> None:
    """Adding a card that is listed in other letter case is refused with 409 and a clear message."""
    app = await start_app()
    await api_send(app, "POST", "/api/tokens", {"name": "Anna", **CARD})
    status, answer = await api_send(
        app, "POST", "/api/tokens", {"name": "Anna 2", **CARD, "id_token": "04a1b2c3d4e5f6"}
    )
    assert (status, answer["error"]) == (409, "duplicate")
    assert "letter case" in answer["detail"]


async def test_two_saved_spellings_are_merged_and_stay_blocked(
    start_app: StartApp, client_ssl: ssl.SSLContext, tmp_path: Path
) -> None:
    """A file with an allowed and a blocked spelling of one card loads one token, blocked, and says so."""
    data_dir = tmp_path / "data"
    tokens_file(
        data_dir,
        [token("t1", CARD["id_token"]), token("t2", CARD["id_token"].lower(), allowed=False)],
    )
    app = await start_app(data_dir=data_dir)
    listed = (await api_get(app, "/api/tokens"))["tokens"]
    assert [(t["name"], t["allowed"]) for t in listed] == [("Card t1", False)]
    assert await authorize(app, client_ssl, CARD) == "Blocked"
    assert any("in other letter case" in detail for detail in await problems(app))


# --- damaged tokens.json (issue 17, item 14) ---------------------------------------------------------


async def test_a_duplicate_ref_keeps_both_tokens(start_app: StartApp, tmp_path: Path) -> None:
    """Two tokens saved under one ref are both loaded (the second under a new ref), and the problem is reported."""
    data_dir = tmp_path / "data"
    tokens_file(data_dir, [token("t1", "04AAAA", name="First"), token("t1", "04BBBB", name="Second")])
    app = await start_app(data_dir=data_dir)
    listed = (await api_get(app, "/api/tokens"))["tokens"]
    assert sorted(t["name"] for t in listed) == ["First", "Second"]
    assert len({t["ref"] for t in listed}) == 2
    assert any("used twice" in detail for detail in await problems(app))


async def test_an_over_long_id_is_refused_at_load(start_app: StartApp, tmp_path: Path) -> None:
    """A saved id longer than OCPP's 36 characters is not loaded (it would fail every SendLocalList) and is reported."""
    data_dir = tmp_path / "data"
    tokens_file(data_dir, [token("t1", "04GOOD"), token("t2", "X" * 37)])
    app = await start_app(data_dir=data_dir)
    assert [t["name"] for t in (await api_get(app, "/api/tokens"))["tokens"]] == ["Card t1"]
    assert any("over 36 characters" in detail for detail in await problems(app))


async def test_an_over_long_group_is_refused_at_load(start_app: StartApp, tmp_path: Path) -> None:
    """A saved group longer than an idToken is dropped; the token is kept blocked, and the problem is reported."""
    data_dir = tmp_path / "data"
    tokens_file(data_dir, [token("t1", "04GOOD", group="G" * 37)])
    app = await start_app(data_dir=data_dir)
    assert [(t["group"], t["allowed"]) for t in (await api_get(app, "/api/tokens"))["tokens"]] == [(None, False)]
    assert any("the group of token 'Card t1'" in detail for detail in await problems(app))


# --- "Add as" keeps the card as presented (issue 17, item 17) ----------------------------------------


async def test_add_as_keeps_the_id_exactly_as_presented(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """A card presented with spaces, added from the unknown list, matches that card afterwards."""
    app = await start_app()
    await api_send(app, "PUT", f"/api/chargers/{CHARGER_ID}/authorization", {"policy": "known_only"})
    spaced = {"id_token": " 04AB CD ", "type": "ISO14443"}
    assert await authorize(app, client_ssl, spaced) == "Invalid"
    [unknown] = (await api_get(app, "/api/tokens"))["unknown"]
    status, _ = await api_send(app, "POST", "/api/tokens", {"unknown": unknown["ref"], "name": "Spaced card"})
    assert (status, await authorize(app, client_ssl, spaced)) == (201, "Accepted")


# --- a damaged charger state file (issue 17, item 6) -------------------------------------------------


def state_file(data_dir: Path, evse: dict[str, Any]) -> None:
    """Write the open charger's state file with one EVSE as given."""
    folder = data_dir / "chargers"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STATE_FILE).write_text(json.dumps({"schema": 2, "evses": {"1": evse}}), encoding="utf-8")


async def meter_values(charger: LibraryCharger, register_wh: float) -> Any:
    """Send MeterValues with an energy register reading (stamped now by the add-on's rules)."""
    return await charger.call(
        call.MeterValues(
            evse_id=1,
            meter_value=[
                {
                    "timestamp": "2026-11-26T10:00:00Z",
                    "sampled_value": [{"value": register_wh, "measurand": "Energy.Active.Import.Register"}],
                }
            ],
        ),
        suppress=False,
    )


@pytest.mark.parametrize(
    "evse",
    [
        {"register_wh": 5000.0, "register_read_at": "2026-11-26T09:00:00"},
        {"register_wh": float("nan")},
        {"register_wh": float("inf")},
        {"register_wh": 1e300},
        {"register_wh": -5.0},
        {"register_wh": 5000.0, "offset_wh": float("nan")},
    ],
    ids=["no-zone", "nan", "inf", "huge", "negative", "nan-offset"],
)
async def test_a_damaged_register_is_refused_at_load_and_metering_goes_on(
    start_app: StartApp, client_ssl: ssl.SSLContext, tmp_path: Path, evse: dict[str, Any]
) -> None:
    """A register without a time zone, or not a plausible finite number, is refused at load and reported;
    later MeterValues are answered and counted, and the JSON API stays valid JSON."""
    data_dir = tmp_path / "data"
    state_file(data_dir, evse)
    app = await start_app(data_dir=data_dir)
    assert any(" of EVSE 1 could not be read" in detail for detail in await problems(app))
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        await meter_values(charger, 6000.0)
    [snapshot] = [c for c in await strict_json(app, "/api/chargers") if c["id"] == CHARGER_ID]
    assert snapshot["last_reading"]["energy_kwh"] == 6.0
    assert list((data_dir / "chargers").glob(f"{STATE_FILE}.corrupt-*"))


async def test_no_state_file_is_written_with_nan(start_app: StartApp, tmp_path: Path) -> None:
    """A value that is not finite never reaches a file: the save is refused and the last good file stays."""
    app = await start_app(data_dir=tmp_path / "data")
    state = app.hub.chargers[CHARGER_ID]
    app.hub.commit(CHARGER_ID, Save.NOW)  # a good file first
    state.main_evse.meter.offset_wh = float("nan")  # what a bug elsewhere might leave behind
    app.store.save_now(CHARGER_ID)
    text = app.store.path_for(CHARGER_ID).read_text(encoding="utf-8")
    assert all(math.isfinite(v) for v in _numbers(json.loads(text, parse_constant=_refuse)))


def _refuse(constant: str) -> float:
    raise AssertionError(f"the file holds {constant}")


def _numbers(data: object) -> list[float]:
    if isinstance(data, dict):
        return [n for value in data.values() for n in _numbers(value)]
    if isinstance(data, list):
        return [n for value in data for n in _numbers(value)]
    return [float(data)] if isinstance(data, (int, float)) and not isinstance(data, bool) else []

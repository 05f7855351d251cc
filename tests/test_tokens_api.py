"""The token JSON API against the add-on started for real: edits, refusals, the access policy, the data file,
energy per token per month and the filtered CSV."""

from __future__ import annotations

import csv
import io
import json
import random
import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from ocpp.v201 import call

from bmw_wallbox.app import Application

from conftest import CHARGER_ID, StartApp, api_get, api_send, ocpp_url
from peer import LibraryCharger, library_charger

TOKENS_PATH = "/api/tokens"
CARD = {"name": "Anna's card", "id_token": "04A1B2C3D4E5F6", "type": "ISO14443"}


async def add(app: Application, body: dict[str, Any] = CARD) -> tuple[int, dict[str, Any]]:
    """POST a token."""
    status, answer = await api_send(app, "POST", TOKENS_PATH, body)
    return status, answer


async def test_add_rename_block_and_delete(start_app: StartApp) -> None:
    """A token is added, renamed, blocked and deleted through the API, and listed masked in between."""
    app = await start_app()
    status, token = await add(app)
    renamed = await api_send(app, "PATCH", f"{TOKENS_PATH}/{token['ref']}", {"name": "Anna"})
    blocked = await api_send(app, "PATCH", f"{TOKENS_PATH}/{token['ref']}", {"allowed": False})
    listed = (await api_get(app, TOKENS_PATH))["tokens"]
    deleted = await api_send(app, "DELETE", f"{TOKENS_PATH}/{token['ref']}")
    assert (status, token["name"], token["masked"], token["type"], token["allowed"]) == (
        201,
        "Anna's card",
        "…E5F6",
        "ISO14443",
        True,
    )
    assert (renamed[0], renamed[1]["name"], blocked[0], blocked[1]["allowed"]) == (200, "Anna", 200, False)
    assert [(t["name"], t["masked"], t["allowed"]) for t in listed] == [("Anna", "…E5F6", False)]
    assert (deleted[0], (await api_get(app, TOKENS_PATH))["tokens"]) == (200, [])


async def test_no_answer_carries_the_token_id(start_app: StartApp) -> None:
    """Neither the answers nor the token list show the idToken itself."""
    app = await start_app()
    _, token = await add(app)
    _, changed = await api_send(app, "PATCH", f"{TOKENS_PATH}/{token['ref']}", {"group": "family"})
    answers = json.dumps([token, changed, await api_get(app, TOKENS_PATH)])
    assert CARD["id_token"] not in answers


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("POST", TOKENS_PATH, {"name": "", "id_token": "04AA", "type": "ISO14443"}, 422, "invalid"),
        ("POST", TOKENS_PATH, {"name": "Car", "id_token": "04AA", "type": "Barcode"}, 422, "invalid"),
        ("POST", TOKENS_PATH, {"name": "Car", "id_token": "04AA", "allowed": "yes"}, 422, "invalid"),
        ("POST", TOKENS_PATH, ["not", "an", "object"], 422, "invalid"),
        ("POST", TOKENS_PATH, {"name": "Car", "id_token": CARD["id_token"], "type": "ISO14443"}, 409, "duplicate"),
        ("POST", TOKENS_PATH, {"name": "anna's CARD", "id_token": "04AA", "type": "ISO14443"}, 409, "duplicate"),
        ("POST", TOKENS_PATH, {"name": "Guest", "unknown": "u00000000"}, 404, "not_found"),
        ("PATCH", f"{TOKENS_PATH}/t00000000", {"name": "Car"}, 404, "not_found"),
        ("PATCH", f"{TOKENS_PATH}/{{ref}}", {"colour": "red"}, 422, "invalid"),
        ("PATCH", f"{TOKENS_PATH}/{{ref}}", {"allowed": 1}, 422, "invalid"),
        ("PATCH", f"{TOKENS_PATH}/{{ref}}", {"name": "unknown"}, 422, "invalid"),
        ("DELETE", f"{TOKENS_PATH}/t00000000", None, 404, "not_found"),
        ("DELETE", f"{TOKENS_PATH}/unknown/u00000000", None, 404, "not_found"),
        ("PUT", f"/api/chargers/{CHARGER_ID}/authorization", {"policy": "everyone"}, 422, "invalid"),
        ("PUT", "/api/chargers/nope/authorization", {"policy": "known_only"}, 404, "not_found"),
        ("PUT", f"/api/chargers/{CHARGER_ID}/charger_authorization", {"enabled": "yes"}, 422, "invalid"),
        ("GET", f"{TOKENS_PATH}/energy?month=2026-13", None, 422, "invalid"),
    ],
)
async def test_a_bad_request_is_refused_with_its_reason(
    start_app: StartApp, method: str, path: str, body: Any, status: int, error: str
) -> None:
    """Invalid bodies, duplicates and unknown refs get 422, 409 or 404 with an error code; nothing changes."""
    app = await start_app()
    _, token = await add(app)
    answer = await api_send(app, method, path.replace("{ref}", token["ref"]), body)
    assert (answer[0], answer[1]["error"]) == (status, error)
    assert [t["name"] for t in (await api_get(app, TOKENS_PATH))["tokens"]] == ["Anna's card"]


async def test_the_policy_is_set_per_charger(start_app: StartApp) -> None:
    """PUT authorization sets the charger's policy and answers its authorization view."""
    app = await start_app()
    status, view = await api_send(app, "PUT", f"/api/chargers/{CHARGER_ID}/authorization", {"policy": "known_only"})
    chargers = {c["charger"]: c["policy"] for c in (await api_get(app, TOKENS_PATH))["chargers"]}
    assert (status, view["policy"]) == (200, "known_only")
    assert chargers == {CHARGER_ID: "known_only", "DE*BMW*EAUTH0002": "accept_all"}


async def test_switching_a_disconnected_charger_says_not_connected(start_app: StartApp) -> None:
    """Switching authorization on a charger that is not connected answers 503 not_connected."""
    app = await start_app()
    status, result = await api_send(app, "PUT", f"/api/chargers/{CHARGER_ID}/charger_authorization", {"enabled": True})
    assert (status, result["outcome"]) == (503, "not_connected")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "application/json", "Origin": "http://evil.example"}, 403),
    ],
)
async def test_token_writes_keep_the_panels_access_policy(
    start_app: StartApp, headers: dict[str, str], status: int
) -> None:
    """A form-like body is 415 and a page from another origin 403, for token writes as for commands."""
    app = await start_app()
    url = f"http://127.0.0.1:{app.panel_port}{TOKENS_PATH}"
    async with aiohttp.ClientSession() as http, http.post(url, data=json.dumps(CARD), headers=headers) as response:
        assert response.status == status
    assert (await api_get(app, TOKENS_PATH))["tokens"] == []


async def test_the_list_is_kept_in_the_data_dir(start_app: StartApp, tmp_path: Path) -> None:
    """The list survives a restart; its file in the data dir can be read by the add-on's user only."""
    data_dir = tmp_path / "kept"
    first = await start_app(data_dir=data_dir)
    _, token = await add(first)
    await api_send(first, "PUT", f"/api/chargers/{CHARGER_ID}/authorization", {"policy": "known_only"})
    await first.stop()
    second = await start_app(data_dir=data_dir)
    view = await api_get(second, TOKENS_PATH)
    mode = stat.S_IMODE((data_dir / "tokens.json").stat().st_mode)
    assert ([t["ref"] for t in view["tokens"]], view["chargers"][0]["policy"], mode) == (
        [token["ref"]],
        "known_only",
        0o600,
    )


async def test_a_damaged_list_is_kept_aside_and_the_add_on_starts(start_app: StartApp, tmp_path: Path) -> None:
    """A tokens.json that is not JSON is kept as a copy, the add-on starts with an empty list and says so."""
    data_dir = tmp_path / "damaged"
    data_dir.mkdir()
    (data_dir / "tokens.json").write_text('{"tokens": [', encoding="utf-8")
    app = await start_app(data_dir=data_dir)
    setup = await api_get(app, "/api/setup")
    assert (await api_get(app, TOKENS_PATH))["tokens"] == []
    assert [p.name.split(".corrupt-")[0] for p in data_dir.glob("tokens.json.corrupt-*")] == ["tokens.json"]
    assert any("tokens.json" in json.dumps(item) for item in setup["items"])


async def test_one_bad_token_does_not_lose_the_others(start_app: StartApp, tmp_path: Path) -> None:
    """A token that cannot be read is left out (and the file kept aside); the others load."""
    data_dir = tmp_path / "partly"
    data_dir.mkdir()
    good = {
        "ref": "t1",
        "name": "Good",
        "id_token": "04GOOD",
        "type": "ISO14443",
        "added_at": "2026-11-01T00:00:00+00:00",
    }
    bad = {"ref": "t2", "name": "Bad", "id_token": "04BAD", "type": "Barcode", "added_at": "2026-11-01T00:00:00+00:00"}
    (data_dir / "tokens.json").write_text(json.dumps({"schema": 1, "tokens": [good, bad]}), encoding="utf-8")
    app = await start_app(data_dir=data_dir)
    assert [t["name"] for t in (await api_get(app, TOKENS_PATH))["tokens"]] == ["Good"]
    assert len(list(data_dir.glob("tokens.json.corrupt-*"))) == 1


# --- energy per token ---------------------------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")
TOKENS = {
    "Anna's card": {"id_token": "04ANNA0001", "type": "ISO14443"},
    "BMW i4": {"id_token": "EMAID-I4-0001", "type": "eMAID"},
    "unknown": {"id_token": "04STRANGER", "type": "ISO14443"},
    "no token": None,
}


def previous_month() -> tuple[str, datetime]:
    """``YYYY-MM`` of last month in Berlin, and its first midnight there."""
    now = datetime.now(BERLIN)
    first = (now.replace(day=1) - timedelta(days=1)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return first.strftime("%Y-%m"), first


async def charge(
    charger: LibraryCharger, number: int, start: datetime, token: dict[str, str] | None, register: float, energy: float
) -> None:
    """One finished session: Started with ``token`` at ``start``, Ended an hour later ``energy`` Wh on."""
    for event_type, at, wh in (("Started", start, register), ("Ended", start + timedelta(hours=1), register + energy)):
        extra: dict[str, Any] = {"id_token": token} if token and event_type == "Started" else {}
        stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        await charger.call(
            call.TransactionEvent(
                event_type=event_type,
                timestamp=stamp,
                trigger_reason="Authorized" if extra else "EVCommunicationLost",
                seq_no=0 if event_type == "Started" else 1,
                transaction_info={"transaction_id": f"tx-{number}"},
                evse={"id": 1, "connector_id": 1},
                meter_value=[
                    {"timestamp": stamp, "sampled_value": [{"value": wh, "measurand": "Energy.Active.Import.Register"}]}
                ],
                **extra,
            ),
            suppress=False,
        )


@pytest.fixture
async def month_of_sessions(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> tuple[Application, str, dict[str, float]]:
    """The add-on after a month of sessions (plus one just before it) by two cards, a stranger and no token.

    Returns the app, the month and the energy per token in Wh that month, summed from the sessions sent.
    """
    app = await start_app()
    for name in ("Anna's card", "BMW i4"):
        token = TOKENS[name]
        assert token is not None
        app.tokens.add(name, token["id_token"], token["type"])
    month, first = previous_month()
    rng = random.Random(4711)
    expected: dict[str, float] = dict.fromkeys(TOKENS, 0.0)
    register = 1_000_000.0
    # Berlin 00:30 on the 1st is the evening before in UTC: it belongs to the month in Berlin.
    starts = [first + timedelta(minutes=30)] + [first + timedelta(days=day, hours=18) for day in range(1, 26)]
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        await charge(charger, 0, first - timedelta(hours=3), TOKENS["Anna's card"], register, 5000.0)
        register += 5000.0
        for number, start in enumerate(starts, start=1):
            name = list(TOKENS)[number % len(TOKENS)]
            energy = round(rng.uniform(1000.0, 11000.0), 1)
            await charge(charger, number, start, TOKENS[name], register, energy)
            register += energy
            expected[name] += energy
    return app, month, expected


async def test_energy_per_token_of_a_month_is_the_sum_of_its_sessions(
    month_of_sessions: tuple[Application, str, dict[str, float]],
) -> None:
    """Energy per token for the month equals the sum of that month's sessions of each token, to 1 Wh."""
    app, month, expected = month_of_sessions
    answer = await api_get(app, f"{TOKENS_PATH}/energy?month={month}&tz=Europe/Berlin")
    got = {row["token"]: row["energy_wh"] for row in answer["rows"]}
    assert answer["tz"] == "Europe/Berlin"
    assert set(got) == set(expected)
    assert all(abs(got[name] - expected[name]) <= 1 for name in expected), (got, expected)
    assert sum(row["sessions"] for row in answer["rows"]) == 26


async def test_the_csv_filters_by_token_and_month(month_of_sessions: tuple[Application, str, dict[str, float]]) -> None:
    """The CSV for one token and month lists exactly those sessions, and their energy adds up to the month's."""
    app, month, expected = month_of_sessions
    path = f"/api/chargers/{CHARGER_ID}/sessions.csv?token=Anna%27s%20card&month={month}&tz=Europe/Berlin"
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{app.panel_port}{path}") as response:
        text = await response.text()
        disposition = response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["token_name"] for row in rows} == {"Anna's card"}
    assert abs(sum(float(row["energy_kwh"]) * 1000 for row in rows) - expected["Anna's card"]) <= len(rows) * 0.5
    assert month in disposition

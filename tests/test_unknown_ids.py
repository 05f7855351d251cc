"""The list of unknown charging station ids is bounded: short ids only, the most recent 50, none older than 7 days."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from bmw_wallbox import unknown_ids
from bmw_wallbox.records import Save
from bmw_wallbox.unknown_ids import UnknownId, UnknownIds

from conftest import StartApp, api_get, bare_csms, default_options
from helpers import eventually

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
WALLBOX = "DE*BMW*EREAL0001"


def entry(charger_id: str, last_seen: datetime) -> dict[str, Any]:
    """A saved entry as the store writes it."""
    return {
        "id": charger_id,
        "attempts": 1,
        "first_seen": last_seen.isoformat(),
        "last_seen": last_seen.isoformat(),
        "remote_address": "192.0.2.7",
    }


def seen(charger_id: str, last_seen: datetime) -> UnknownId:
    """An entry seen once, at ``last_seen``."""
    return UnknownId(charger_id=charger_id, attempts=1, first_seen=last_seen, last_seen=last_seen)


# --- the bookkeeping, without sockets ---------------------------------------------------------------


def test_full_list_keeps_the_most_recent() -> None:
    """Past the limit, the least recently seen id goes, so a new id is always listed."""
    ids = UnknownIds()
    for n in range(unknown_ids.MAX_IDS + 10):
        assert ids.note(f"ID-{n}", remote_address=None, at=NOW + timedelta(seconds=n))
    assert len(ids) == unknown_ids.MAX_IDS
    assert {e.charger_id for e in ids.entries()} == {f"ID-{n}" for n in range(10, unknown_ids.MAX_IDS + 10)}


def test_seen_again_counts_as_recent() -> None:
    """An id seen again is not the one evicted, however early it was first seen."""
    ids = UnknownIds()
    ids.note(WALLBOX, remote_address=None, at=NOW)
    for n in range(unknown_ids.MAX_IDS - 1):
        ids.note(f"ID-{n}", remote_address=None, at=NOW + timedelta(seconds=n + 1))
    assert ids.note(WALLBOX, remote_address=None, at=NOW + timedelta(minutes=5)) is False
    ids.note("ID-NEW", remote_address=None, at=NOW + timedelta(minutes=6))
    assert WALLBOX in ids
    assert "ID-0" not in ids
    assert ids.get(WALLBOX) == UnknownId(
        charger_id=WALLBOX, attempts=2, first_seen=NOW, last_seen=NOW + timedelta(minutes=5)
    )


@pytest.mark.parametrize(
    ("length", "remembered"), [(unknown_ids.MAX_ID_CHARS, True), (unknown_ids.MAX_ID_CHARS + 1, False)]
)
def test_long_ids_are_not_remembered(length: int, remembered: bool) -> None:
    """Ids up to 64 characters are remembered; longer ones are not."""
    ids = UnknownIds()
    ids.note("L" * length, remote_address=None, at=NOW)
    assert bool(len(ids)) is remembered


def test_old_entries_expire_when_an_id_is_added() -> None:
    """Adding an id drops the entries not seen for more than 7 days."""
    ids = UnknownIds()
    ids.restore(
        [seen("OLD", NOW - timedelta(days=8)), seen("FRESH", NOW - timedelta(days=6))], now=NOW - timedelta(days=2)
    )
    ids.note("NEW", remote_address=None, at=NOW)
    assert [e.charger_id for e in ids.entries()] == ["NEW", "FRESH"]


def test_restored_list_is_bounded() -> None:
    """A restored list loses old and too long entries, and keeps only the most recent 50."""
    saved = [seen("OLD", NOW - timedelta(days=8)), seen("L" * 100, NOW)]
    saved += [seen(f"ID-{n}", NOW - timedelta(hours=n)) for n in range(unknown_ids.MAX_IDS + 5)]
    ids = UnknownIds()
    ids.restore(saved, now=NOW)
    assert [e.charger_id for e in ids.entries()] == [f"ID-{n}" for n in range(unknown_ids.MAX_IDS)]


def test_a_commit_tells_the_listeners() -> None:
    """Noting an id and committing tells every listener, with the durability asked for."""
    ids, told = UnknownIds(), []
    ids.subscribe(told.append)
    ids.note(WALLBOX, remote_address="192.0.2.7", at=NOW)
    ids.commit()
    assert told == [Save.NOW]


async def test_damaged_saved_entries_are_reported(start_app: StartApp, tmp_path: Path) -> None:
    """Malformed saved entries are left out, reported on the setup page and the file is kept aside."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    now = datetime.now(UTC)
    saved = {
        "RECENT": entry("RECENT", now - timedelta(days=1)),
        "BROKEN": {"id": "BROKEN", "last_seen": "yesterday"},
        "NAIVE": {**entry("NAIVE", now), "last_seen": now.replace(tzinfo=None).isoformat()},
        "NOT-A-DICT": 5,
    }
    (data_dir / "unknown_chargers.json").write_text(json.dumps(saved), encoding="utf-8")
    app = await start_app(data_dir=data_dir)
    setup = await api_get(app, "/api/setup")
    assert [e["id"] for e in await api_get(app, "/api/unknown_chargers")] == ["RECENT"]
    assert [item["detail"] for item in setup["items"] if item["key"] == "state"] == [
        "unknown_chargers.json: 3 unknown charger id(s) could not be read (wrong kind or no time zone); "
        "they are left out. A copy of the damaged file is kept next to it in the data folder."
    ]
    assert len(list(data_dir.glob("unknown_chargers.json.corrupt-*"))) == 1


# --- the live add-on ----------------------------------------------------------------------------------


async def refused(port: int, path: str, *, source: str = "127.0.0.1") -> int:
    """Try to connect with this path; the HTTP status of the refusal."""
    with pytest.raises(InvalidStatus) as info:
        async with connect(
            f"ws://127.0.0.1:{port}/{path}",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            local_addr=(source, 0),
        ):
            pass
    return info.value.response.status_code


async def test_flood_of_made_up_ids_does_not_hide_the_wallbox(start_app: StartApp) -> None:
    """After 80 made-up ids, the wallbox that tries next is still listed for the setup page."""
    app = await start_app(options=default_options(ssl=False))
    assert app.ocpp_port is not None
    for n in range(80):
        assert await refused(app.ocpp_port, f"MADE-UP-{n}", source="127.0.0.2") == 404
    assert await refused(app.ocpp_port, "DE%2ABMW%2AEREAL0001") == 404
    listed = await api_get(app, "/api/unknown_chargers")
    assert len(listed) == unknown_ids.MAX_IDS
    assert listed[0]["id"] == WALLBOX


async def test_long_id_is_logged_cut_and_not_remembered(start_app: StartApp, caplog: pytest.LogCaptureFixture) -> None:
    """A 5,000-character id is refused 404, logged cut to 64 characters, and not remembered."""
    app = await start_app(options=default_options(ssl=False))
    assert app.ocpp_port is not None
    with caplog.at_level(logging.WARNING, logger="bmw_wallbox.csms.server"):
        assert await refused(app.ocpp_port, "L" * 5000) == 404
    assert await api_get(app, "/api/unknown_chargers") == []
    [line] = [r.getMessage() for r in caplog.records if "Refused unknown" in r.getMessage()]
    assert line == (
        f"Refused unknown charging station id '{'L' * 64}...' from 127.0.0.1 "
        "(not remembered: longer than 64 characters)"
    )


async def test_stale_saved_ids_are_dropped_at_start(start_app: StartApp, tmp_path: Path) -> None:
    """Ids saved more than 7 days ago are not listed after a restart; recent ones are."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    now = datetime.now(UTC)
    saved = {"OLD": entry("OLD", now - timedelta(days=8)), "RECENT": entry("RECENT", now - timedelta(days=1))}
    (data_dir / "unknown_chargers.json").write_text(json.dumps(saved), encoding="utf-8")
    app = await start_app(data_dir=data_dir)
    assert [e["id"] for e in await api_get(app, "/api/unknown_chargers")] == ["RECENT"]


async def test_flood_of_new_ids_costs_few_saves(tmp_path: Path) -> None:
    """Each new id is saved, but a flood of them at most once a second (plus once at the end)."""
    saves: list[float] = []
    server = bare_csms(default_options(ssl=False), on_unknown=lambda: saves.append(time.monotonic()))
    port = await server.start("127.0.0.1", 0, tls=None)
    try:
        started = last_attempt = time.monotonic()
        for n in range(60):
            last_attempt = time.monotonic()
            await refused(port, f"FLOOD-{n}")
        elapsed_s = time.monotonic() - started
        assert 1 <= len(saves) <= elapsed_s + 2
        # the flood's last id is saved too, at the end of the window
        await eventually(lambda: saves[-1] >= last_attempt, what="the save of the last id", timeout=5.0)
    finally:
        await server.stop()

"""Damaged state files: a copy is kept, what can be read is loaded, the add-on starts, newer files are not touched."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from bmw_wallbox.hub import StateHub
from bmw_wallbox.saved import SCHEMA_VERSION
from bmw_wallbox.state import ChargerState, ConnectorStatus, Save, Source
from bmw_wallbox.store import Store

from conftest import CHARGER_ID, StartApp, api_get, charger_snapshot

GOOD: dict[str, Any] = {
    "schema": 2,
    "id": CHARGER_ID,
    "setpoint": {"limit_a": 10.0, "paused": True},
    "sessions": [
        {
            "evse_id": 1,
            "transaction_id": "tx-1",
            "started_at": "2026-11-25T10:00:00+00:00",
            "ended_at": "2026-11-25T12:00:00+00:00",
            "energy_wh": 12_345.0,
            "stopped_reason": "EVDisconnected",
        }
    ],
    "evses": {
        "1": {
            "register_wh": 1_234_567.0,
            "offset_wh": 0.0,
            "register_read_at": None,
            "connector_status": "Occupied",
            "transaction": None,
            "last_session": None,
        }
    },
    "boot": {},
    "capabilities": {},
    "profile_strategy": None,
    "installed_profiles": [],
    "last_auto_reset_at": None,
}


def store_with(tmp_path: Path, content: str) -> tuple[Store, ChargerState, Path]:
    """A store whose charger file holds ``content``, loaded."""
    state = ChargerState(charger_id=CHARGER_ID, name="Wallbox", max_current_a=32)
    store = Store(tmp_path, StateHub([state]))
    path = store.path_for(CHARGER_ID)
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="utf-8")
    store.load()
    return store, state, path


def copies(path: Path) -> list[Path]:
    """The kept copies of a damaged file."""
    return sorted(path.parent.glob(f"{path.name}.corrupt-*"))


def test_a_good_file_loads_everything(tmp_path: Path) -> None:
    """The paused 10 A setpoint, the session in Wh, the register and the status (restored) come back."""
    store, state, _ = store_with(tmp_path, json.dumps(GOOD))
    evse = state.main_evse
    assert (state.desired.limit_a, state.desired.paused) == (10.0, True)
    assert [(s.transaction_id, s.energy_wh) for s in state.sessions] == [("tx-1", 12_345.0)]
    assert (evse.meter.energy_wh, evse.connector_status, evse.status_source) == (
        1_234_567.0,
        ConnectorStatus.OCCUPIED,
        Source.RESTORED,
    )
    assert store.problems == []


def test_a_file_of_the_first_version_loads(tmp_path: Path) -> None:
    """Schema 1 kept the register as energy_wh and sessions in kWh: both are read."""
    old = {
        "schema": 1,
        "evses": {"1": {"energy_wh": 5_000.0}},
        "sessions": [{**GOOD["sessions"][0], "energy_wh": None, "energy_kwh": 2.5}],
    }
    _, state, _ = store_with(tmp_path, json.dumps(old))
    assert state.main_evse.meter.energy_wh == 5_000.0
    assert state.sessions[0].energy_wh == 2_500.0


def test_a_truncated_file_is_kept_aside_and_the_add_on_starts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Half a file: a copy named .corrupt-<time> keeps it, defaults are used, a warning says so."""
    text = json.dumps(GOOD)[:60]
    with caplog.at_level(logging.WARNING):
        store, state, path = store_with(tmp_path, text)
    assert state.desired.limit_a == 32.0
    assert [p.read_text(encoding="utf-8") for p in copies(path)] == [text]
    assert store.problems == [f"{path.name}: the file could not be read (JSONDecodeError); starting without it"]
    assert any("could not be read" in r.getMessage() for r in caplog.records)


def test_a_file_of_the_wrong_shape_is_salvaged_part_by_part(tmp_path: Path) -> None:
    """A list where the sessions belong, and a string as capabilities: the rest (setpoint, register) still loads."""
    damaged = {**GOOD, "sessions": "oops", "capabilities": "nope", "boot": [1, 2]}
    store, state, path = store_with(tmp_path, json.dumps(damaged))
    assert (state.desired.limit_a, state.main_evse.meter.energy_wh) == (10.0, 1_234_567.0)
    assert state.sessions == []
    assert len(store.problems) == 3
    assert len(copies(path)) == 1


def test_a_missing_part_is_reported(tmp_path: Path) -> None:
    """A file of schema 2 without its sessions or an EVSE's register says so (it would lose them silently)."""
    damaged = {key: value for key, value in GOOD.items() if key != "sessions"}
    damaged["evses"] = {"1": {k: v for k, v in GOOD["evses"]["1"].items() if k != "register_wh"}}
    store, _, path = store_with(tmp_path, json.dumps(damaged))
    assert store.problems == [
        f"{path.name}: sessions could not be read (missing); using defaults",
        f"{path.name}: register_wh of EVSE 1 could not be read (missing); using defaults",
    ]


def test_a_wrong_kind_of_value_inside_a_part_does_not_crash(tmp_path: Path) -> None:
    """Capabilities whose measurands are a number are refused as a whole part, not later with a traceback."""
    damaged = {**GOOD, "capabilities": {"measurands": 5}}
    store, state, _ = store_with(tmp_path, json.dumps(damaged))
    assert state.capabilities.measurands == []
    assert store.problems == [
        f"{store.path_for(CHARGER_ID).name}: the capabilities could not be read "
        "(measurands is int of the wrong kind or size); using defaults"
    ]


def test_a_file_from_a_newer_version_is_never_overwritten(tmp_path: Path) -> None:
    """A file of a newer schema is read as far as possible and left as it is by every later save."""
    newer = json.dumps({**GOOD, "schema": SCHEMA_VERSION + 1, "future": {"x": 1}})
    store, state, path = store_with(tmp_path, newer)
    assert state.desired.limit_a == 10.0
    state.desired.paused = False
    store.save_now(CHARGER_ID)
    assert path.read_text(encoding="utf-8") == newer
    assert "written by a newer version" in store.problems[0]


def test_a_commit_saves_what_it_asks_for(tmp_path: Path) -> None:
    """The store listens to commits: Save.NOW is on disk when commit returns, Save.NO writes nothing."""
    state = ChargerState(charger_id=CHARGER_ID, name="Wallbox", max_current_a=32)
    hub = StateHub([state])
    store = Store(tmp_path, hub)
    store.attach()
    hub.commit(CHARGER_ID, Save.NO)
    assert not store.path_for(CHARGER_ID).exists()
    state.desired.paused = True
    hub.commit(CHARGER_ID, Save.NOW)
    assert json.loads(store.path_for(CHARGER_ID).read_text(encoding="utf-8"))["setpoint"]["paused"] is True


async def test_the_setup_page_lists_a_damaged_state_file(start_app: StartApp, tmp_path: Path) -> None:
    """The add-on starts on a damaged file and its setup checklist says what could not be read."""
    data_dir = tmp_path / "data"
    folder = data_dir / "chargers"
    folder.mkdir(parents=True)
    (folder / "DE%2ABMW%2AETEST0001.json").write_text('{"schema": 2, "setpoint": ', encoding="utf-8")
    app = await start_app(data_dir=data_dir)
    setup = await api_get(app, "/api/setup")
    items = [item for item in setup["items"] if item["key"] == "state"]
    assert [item["status"] for item in items] == ["warn"]
    assert "the file could not be read" in items[0]["detail"]
    assert (await charger_snapshot(app))["desired_limit_a"] == 32.0


def test_a_register_without_a_time_zone_is_refused_but_the_offset_stays(tmp_path: Path) -> None:
    """A naive register_read_at refuses the register with its times (the next reading starts afresh); the
    lifetime offset of a per-transaction register is kept, so the lifetime energy never loses it."""
    evse = {**GOOD["evses"]["1"], "offset_wh": 250.0, "register_read_at": "2026-11-26T09:00:00"}
    store, state, path = store_with(tmp_path, json.dumps({**GOOD, "evses": {"1": evse}}))
    meter = state.main_evse.meter
    assert (meter.register_wh, meter.register_read_at, meter.offset_wh) == (None, None, 250.0)
    assert store.problems == [
        f"{path.name}: the register of EVSE 1 could not be read (register_read_at has no time zone); using defaults"
    ]

"""The store under load: meter values are written in the background, never over a newer state."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path

import pytest

from bmw_wallbox import jsonfile
from bmw_wallbox.hub import StateHub
from bmw_wallbox.state import ChargerState, SampledValue, utcnow
from bmw_wallbox.store import Store

from helpers import eventually

CHARGERS = 200


def _hub() -> StateHub:
    return StateHub(ChargerState(charger_id=f"CP{n}", name="x", max_current_a=32) for n in range(CHARGERS))


def _stored_energy_wh(store: Store, charger_id: str) -> float:
    data = json.loads(store.path_for(charger_id).read_text(encoding="utf-8"))
    return float(data["evses"]["1"]["register_wh"])


def _register(charger: ChargerState, energy_wh: float) -> None:
    """The charger reports its energy register."""
    now = utcnow()
    charger.meter_values(1, [SampledValue(measurand="Energy.Active.Import.Register", value=energy_wh)], at=now, now=now)


async def test_meter_saves_are_written_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Meter-value saves of 200 chargers are written by a worker thread, never on the event loop's thread."""
    hub = _hub()
    store = Store(tmp_path, hub, delay_s=0.01)
    writers: set[int] = set()
    real_replace = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        writers.add(threading.get_ident())  # observe which thread writes; the real rename still happens
        real_replace(src, dst)

    monkeypatch.setattr(jsonfile.os, "replace", replace)
    for round_number in range(5):
        for charger in hub.chargers.values():
            _register(charger, float(round_number))
            store.save_soon(charger.charger_id)
        await eventually(lambda: bool(writers), what="a background write")
    background_writers = set(writers)
    store.flush()  # at shutdown the rest is written synchronously, on purpose
    assert background_writers
    assert threading.get_ident() not in background_writers
    assert {_stored_energy_wh(store, cid) for cid in hub.chargers} == {4.0}


async def test_background_write_never_replaces_a_newer_save(tmp_path: Path) -> None:
    """A meter save queued before a transaction save is never written over it: the file ends with the newer state."""
    hub = _hub()
    store = Store(tmp_path, hub, delay_s=0.0)
    for value in range(50):
        for charger in hub.chargers.values():
            _register(charger, float(value))
            store.save_soon(charger.charger_id)
        # One turn of the loop, not a wait: the flush timer (delay 0) hands this batch to the writer thread,
        # which may still be writing while the save below runs: the race under test.
        await asyncio.sleep(0)
        charger = hub.chargers["CP7"]
        _register(charger, value + 0.5)
        store.save_now("CP7")
        assert _stored_energy_wh(store, "CP7") == value + 0.5
    store.flush()
    assert _stored_energy_wh(store, "CP7") == 49.5
    assert _stored_energy_wh(store, "CP0") == 49.0

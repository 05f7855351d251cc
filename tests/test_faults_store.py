"""The store under load: meter values are written in the background, never over a newer state."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from bmw_wallbox.state import ChargerState, StateHub
from bmw_wallbox.store import Store

CHARGERS = 200


def _hub() -> StateHub:
    return StateHub(ChargerState(charger_id=f"CP{n}", name="x", max_current_a=32) for n in range(CHARGERS))


def _stored_energy_wh(store: Store, charger_id: str) -> float:
    data = json.loads(store.path_for(charger_id).read_text(encoding="utf-8"))
    return float(data["evses"]["1"]["energy_wh"])


async def test_meter_saves_of_200_chargers_do_not_hold_up_the_event_loop(tmp_path: Path) -> None:
    """Saving 200 chargers' meter values keeps every event-loop turn under 50 ms (the files are written in a thread)."""
    hub = _hub()
    store = Store(tmp_path, hub, delay_s=0.01)
    worst_s = 0.0
    for round_number in range(5):
        for charger in hub.chargers.values():
            charger.evse(1).meter.energy_wh = float(round_number)
            store.save_soon(charger.charger_id)
        for _ in range(10):
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            worst_s = max(worst_s, time.perf_counter() - started - 0.005)
    store.flush()
    assert worst_s < 0.05
    assert {_stored_energy_wh(store, cid) for cid in hub.chargers} == {4.0}


async def test_background_write_never_replaces_a_newer_save(tmp_path: Path) -> None:
    """A meter save queued before a transaction save is never written over it: the file ends with the newer state."""
    hub = _hub()
    store = Store(tmp_path, hub, delay_s=0.0)
    for value in range(50):
        for charger in hub.chargers.values():
            charger.evse(1).meter.energy_wh = float(value)
            store.save_soon(charger.charger_id)
        await asyncio.sleep(0)  # the background batch of this value starts
        charger = hub.chargers["CP7"]
        charger.evse(1).meter.energy_wh = value + 0.5
        store.save_now("CP7")
        assert _stored_energy_wh(store, "CP7") == value + 0.5
    store.flush()
    assert _stored_energy_wh(store, "CP7") == 49.5
    assert _stored_energy_wh(store, "CP0") == 49.0

"""What the add-on saves it loads back whole and without a problem: the charger state and the token list."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from bmw_wallbox.hub import StateHub
from bmw_wallbox.records import BootInfo, Capabilities, ChargingState, ConnectorStatus, TokenUse, utcnow
from bmw_wallbox.saved import to_json
from bmw_wallbox.state import ChargerState, SampledValue
from bmw_wallbox.store import Store
from bmw_wallbox.tokenbook import AuthStatus, ListEntry, LocalListState, Presented, TokenBook
from bmw_wallbox.tokens.store import TokenStore, serialise

CHARGER = "DE*BMW*ESAVED0001"


def busy_charger() -> ChargerState:
    """A charger with everything a restart must keep: identity, capabilities, a paused limit, a finished session
    with a token, a running transaction and a register with an offset."""
    state = ChargerState(charger_id=CHARGER, name="Garage", max_current_a=32)
    now = utcnow().replace(microsecond=0)
    state.booted(BootInfo(vendor="Delta", model="EIAW", firmware="01.20.06.71", serial="S1", reason="PowerUp"))
    state.capabilities_reported(
        Capabilities(measurands=["Voltage"], rate_units=["A", "W"], max_current_a=32.0, phases=3, reported_at="x")
    )
    state.trigger_answered("MeterValues", accepted=True)
    state.setting_changed("AuthCtrlr", "Enabled", "true")
    state.want(paused=True, limit_a=10.0)
    state.limit_applied(strategy="tx_default", limit_a=10.0, in_sync=True)
    state.auto_reset_sent(now - timedelta(days=1))
    state.status_reported(1, ConnectorStatus.OCCUPIED)

    def register(wh: float) -> list[SampledValue]:
        return [SampledValue(measurand="Energy.Active.Import.Register", value=wh)]

    token = TokenUse(ref="t1", name="Anna", masked="…0001")
    for number, start in enumerate((now - timedelta(hours=5), now - timedelta(hours=1))):
        tx = f"tx-{number}"
        state.transaction_event(
            event_type="Started", transaction_id=tx, evse_id=1, at=start, now=now, readings=register(1000.0 * number),
            token=token, charging_state=ChargingState.CHARGING, remote_start_id=7,
        )  # fmt: skip
    state.transaction_event(
        event_type="Ended", transaction_id="tx-0", evse_id=1, at=now, now=now, readings=[], stopped_reason="Local"
    )
    state.meter_values(1, register(2500.0), at=now, now=now)
    state.main_evse.meter.offset_wh = 250.0  # as a per-transaction register leaves it
    return state


def test_a_saved_charger_loads_back_whole_without_a_problem(tmp_path: Path) -> None:
    """Saving a busy charger and loading the file into a fresh one gives the same saved form, and no problem."""
    state = busy_charger()
    Store(tmp_path, StateHub([state])).save_now(CHARGER)
    fresh = ChargerState(charger_id=CHARGER, name="Garage", max_current_a=32)
    store = Store(tmp_path, StateHub([fresh]))
    store.load()
    assert store.problems == []
    assert to_json(fresh.saved(), CHARGER) == to_json(state.saved(), CHARGER)
    assert not list((tmp_path / "chargers").glob("*.corrupt-*"))


def test_a_saved_token_list_loads_back_whole_without_a_problem(tmp_path: Path) -> None:
    """Tokens (one blocked, one with a group), an unknown card, a policy and a local list come back unchanged."""
    now = utcnow().replace(microsecond=0)
    book = TokenBook()
    anna = book.add("Anna", "04AAAA0001", "ISO14443", at=now, group="family")
    book.add("Lost card", "04BBBB0001", "ISO14443", at=now, allowed=False)
    book.update(anna.ref, remote_start=True)
    stranger = Presented(value="04CCCC0001", kind="ISO14443")
    book.note_unknown(CHARGER, stranger, book.authorize(CHARGER, stranger), at=now)
    book.set_policy(CHARGER, "known_only")
    entry = ListEntry(value="04AAAA0001", kind="ISO14443", status=AuthStatus.ACCEPTED, group="family")
    book.restore_charger(
        CHARGER, policy=book.charger(CHARGER).policy, local_list=LocalListState(version=4, entries={entry.key: entry})
    )
    TokenStore(tmp_path, book).save_now()
    fresh = TokenBook()
    store = TokenStore(tmp_path, fresh)
    store.load()
    assert store.problems == []
    assert serialise(fresh) == serialise(book)
    assert json.loads((tmp_path / "tokens.json").read_text(encoding="utf-8")) == serialise(book)

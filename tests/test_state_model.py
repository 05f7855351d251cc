"""The state model's rules, without sockets: transactions, the energy register, late events, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bmw_wallbox.csms.convert import sampled_values
from bmw_wallbox.state import (
    LOST,
    SUPERSEDED,
    ChargerState,
    ChargingState,
    RegisterEvent,
    SampledValue,
    Source,
    kwh,
    plausible_time,
)

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
REGISTER = "Energy.Active.Import.Register"


def register(wh: float, context: str | None = None) -> list[SampledValue]:
    """One energy register reading."""
    return [SampledValue(measurand=REGISTER, value=wh, context=context)]


class Charger:
    """A charger state driven like the handlers drive it, with a clock that moves in minutes."""

    def __init__(self) -> None:
        self.state = ChargerState(charger_id="CP1", name="Wallbox", max_current_a=16, connected=True)
        self.at = T0

    def later(self, minutes: float = 10) -> datetime:
        self.at += timedelta(minutes=minutes)
        return self.at

    def event(self, kind: str, tx: str, readings: list[SampledValue] | None = None, **kwargs: object) -> object:
        at = self.later()
        return self.state.transaction_event(
            event_type=kind, transaction_id=tx, evse_id=1, at=at, now=at, readings=readings, **kwargs
        )

    def meter(self, readings: list[SampledValue]) -> RegisterEvent | None:
        at = self.later()
        return self.state.meter_values(1, readings, at=at, now=at)

    def session(self, tx: str, begin_wh: float, end_wh: float) -> None:
        """A whole session with a Begin and an End reading."""
        self.event("Started", tx, register(begin_wh, "Transaction.Begin"))
        self.event("Updated", tx, register((begin_wh + end_wh) / 2, "Sample.Periodic"))
        self.event("Ended", tx, register(end_wh, "Transaction.End"), stopped_reason="EVDisconnected")

    @property
    def lifetime_wh(self) -> float | None:
        return self.state.main_evse.meter.energy_wh


def test_a_lifetime_register_gives_session_energy_as_a_difference() -> None:
    """Register 1,234,567 Wh at the start and 1,240,000 Wh at the end: a 5,433 Wh session."""
    charger = Charger()
    charger.session("tx-1", 1_234_567, 1_240_000)
    assert charger.state.sessions[0].energy_wh == 5_433
    assert charger.lifetime_wh == 1_240_000


def test_back_to_back_sessions_on_a_per_transaction_register() -> None:
    """Ten sessions whose register restarts at 0: each session right, the lifetime energy their sum."""
    charger = Charger()
    energies = [325.8 + 100 * n for n in range(10)]
    seen = []
    for number, energy in enumerate(energies):
        charger.session(f"tx-{number}", 0.0, energy)
        seen.append(charger.lifetime_wh)
    assert [s.energy_wh for s in reversed(charger.state.sessions)] == pytest.approx(energies, abs=1e-6)
    assert seen == sorted(seen)
    assert charger.lifetime_wh == pytest.approx(sum(energies))
    assert charger.state.capabilities.register_per_transaction is True


def test_a_per_transaction_register_without_a_begin_context_is_recognised() -> None:
    """The first reading of a transaction dropping back to near 0 counts as a restart, context or not."""
    charger = Charger()
    charger.session("tx-1", 0.0, 5_000.0)
    charger.event("Started", "tx-2")
    assert charger.meter(register(12.0)) is RegisterEvent.RESTARTED
    assert charger.lifetime_wh == 5_012.0


def test_a_register_drop_during_a_session_is_ignored() -> None:
    """The register falling mid-session is a charger fault: no value goes backwards."""
    charger = Charger()
    charger.event("Started", "tx-1", register(10_000, "Transaction.Begin"))
    charger.meter(register(12_000))
    assert charger.meter(register(100)) is RegisterEvent.DROPPED_IN_SESSION
    assert (charger.lifetime_wh, charger.state.main_evse.session_energy_wh) == (12_000, 2_000)


def test_a_small_step_back_is_ignored() -> None:
    """A register reading a little lower (rounding) changes nothing."""
    charger = Charger()
    charger.meter(register(10_000))
    assert charger.meter(register(9_999.5)) is RegisterEvent.WENT_BACK
    assert charger.lifetime_wh == 10_000


def test_an_implausible_jump_is_rejected_and_later_readings_still_count() -> None:
    """10^9 Wh more than the last reading is ignored; the next real reading is taken as usual."""
    charger = Charger()
    charger.meter(register(10_000))
    assert charger.meter(register(10_000 + 1e9)) is RegisterEvent.IMPLAUSIBLE
    assert charger.meter(register(10_500)) is RegisterEvent.ACCEPTED
    assert charger.lifetime_wh == 10_500


def test_interval_energy_adds_up_for_chargers_without_a_register() -> None:
    """Energy.Active.Import.Interval readings sum into the session and the lifetime energy."""
    charger = Charger()
    charger.event("Started", "tx-1")
    for _ in range(3):
        charger.meter([SampledValue(measurand="Energy.Active.Import.Interval", value=250.0)])
    assert (charger.state.main_evse.session_energy_wh, charger.lifetime_wh) == (750.0, 750.0)


@pytest.mark.parametrize(
    ("unit", "multiplier", "value", "wh"),
    [(None, None, "1500", 1500.0), ("kWh", None, "1.5", 1500.0), ("Wh", 3, "1.5", 1500.0), ("kWh", -3, "1500", 1500.0)],
)
def test_units_and_multipliers_are_honoured(unit: str | None, multiplier: int | None, value: str, wh: float) -> None:
    """kWh and the power-of-ten multiplier are applied once, on the way in."""
    info = {k: v for k, v in (("unit", unit), ("multiplier", multiplier)) if v is not None}
    sample = {"value": value, "measurand": REGISTER, "unit_of_measure": info}
    (reading,) = sampled_values([{"timestamp": "2026-11-26T10:00:00Z", "sampled_value": [sample]}])
    assert reading.value == pytest.approx(wh)


def test_a_session_end_clears_current_voltage_and_power() -> None:
    """After Ended, power and current are 0 and voltage unknown; the lifetime register stays."""
    charger = Charger()
    charger.event("Started", "tx-1", register(1_000, "Transaction.Begin"))
    charger.meter(
        [
            SampledValue(measurand="Power.Active.Import", value=7_000.0),
            SampledValue(measurand="Current.Import", value=10.0, phase="L1"),
            SampledValue(measurand="Voltage", value=231.0, phase="L1-N"),
            *register(2_000),
        ]
    )
    charger.event("Ended", "tx-1", register(2_500, "Transaction.End"), stopped_reason="EVDisconnected")
    meter = charger.state.main_evse.meter
    assert (meter.power_w, meter.current_a, meter.current_phases_a, meter.voltage_v) == (0.0, 0.0, {}, None)
    assert charger.lifetime_wh == 2_500


def test_an_ended_event_for_an_unknown_transaction_closes_nothing() -> None:
    """Ended for a transaction never seen is ignored; the running one goes on."""
    charger = Charger()
    charger.event("Started", "tx-1", register(1_000))
    change = charger.event("Ended", "tx-other", register(9_000), stopped_reason="EVDisconnected")
    assert getattr(change, "ignored", None) == "Ended for transaction 'tx-other', which is not known"
    assert charger.state.main_evse.transaction is not None
    assert charger.state.sessions == []


def test_a_new_transaction_ends_the_one_it_replaces() -> None:
    """Started for another transaction on the same EVSE ends the old one as superseded."""
    charger = Charger()
    charger.event("Started", "tx-1", register(1_000))
    charger.event("Started", "tx-2", register(1_500))
    assert [(s.transaction_id, s.stopped_reason) for s in charger.state.sessions] == [("tx-1", SUPERSEDED)]


def test_a_lost_transaction_is_closed_with_the_last_energy_and_time() -> None:
    """The charger lost it: the session ends at the last reading's time with the energy reported so far."""
    charger = Charger()
    charger.event("Started", "tx-1", register(1_000, "Transaction.Begin"))
    charger.meter(register(1_065))
    last_reading_at = charger.at
    record = charger.state.close_lost(1, now=charger.later(60))
    assert record is not None
    assert (record.energy_wh, record.ended_at, record.stopped_reason) == (65.0, last_reading_at, LOST)
    assert charger.state.main_evse.transaction is None


def test_late_events_of_a_lost_session_update_its_record() -> None:
    """Queued events arriving after the session was closed as lost correct it instead of opening a new one."""
    charger = Charger()
    charger.event("Started", "tx-1", register(1_000, "Transaction.Begin"))
    charger.state.close_lost(1, now=charger.later())
    charger.event("Updated", "tx-1", register(1_400))
    charger.event("Ended", "tx-1", register(1_500, "Transaction.End"), stopped_reason="PowerLoss")
    (record,) = charger.state.sessions
    assert (record.energy_wh, record.stopped_reason) == (500.0, "PowerLoss")
    assert charger.state.main_evse.transaction is None


def test_a_restored_transaction_is_marked_until_confirmed() -> None:
    """After a disconnect the transaction is shown as restored; the charger's next event makes it live."""
    charger = Charger()
    charger.event("Started", "tx-1", register(1_000))
    charger.state.mark_disconnected(at=charger.later())
    tx = charger.state.main_evse.transaction
    assert tx is not None
    assert tx.source is Source.RESTORED
    charger.event("Updated", "tx-1", charging_state=ChargingState.SUSPENDED_EV)
    assert tx.source is Source.LIVE


@pytest.mark.parametrize(
    ("at", "replaced"),
    [
        (datetime(9999, 12, 31, tzinfo=UTC), True),
        (datetime(1, 1, 1, tzinfo=UTC), True),
        (T0 - timedelta(days=200), True),
        (T0 - timedelta(days=3), False),
        (T0 + timedelta(hours=2), False),
    ],
)
def test_charger_timestamps_outside_a_plausible_window_are_replaced(at: datetime, replaced: bool) -> None:
    """Years 9999 and 0001, or months off, become the add-on's time; days of offline queue are kept."""
    assert plausible_time(at, T0) == ((T0, True) if replaced else (at, False))


def test_a_session_never_ends_before_it_starts() -> None:
    """An Ended event stamped before the start records a session of zero length, not a negative one."""
    charger = Charger()
    charger.event("Started", "tx-1", register(1_000))
    started = charger.at
    charger.state.transaction_event(
        event_type="Ended", transaction_id="tx-1", evse_id=1, at=started - timedelta(hours=1), now=charger.later()
    )
    (record,) = charger.state.sessions
    assert (record.ended_at, record.duration_s) == (started, 0)


def test_kwh_rounds_to_the_watt_hour() -> None:
    """The one kWh conversion rounds to 1 Wh."""
    assert (kwh(325.8), kwh(1_234_567.49), kwh(None)) == (0.326, 1234.567, None)

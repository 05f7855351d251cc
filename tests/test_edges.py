"""What enters from the charger is bounded at the edge, and what leaves is valid: without sockets."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from bmw_wallbox.csms.convert import capabilities_from_report, report_entries, sampled_values
from bmw_wallbox.csms.framing import Frame, check_frame
from bmw_wallbox.csms.guards import InflowLimit, LogBudget
from bmw_wallbox.state import SUPERSEDED, Capabilities, ChargerState, RegisterEvent, SampledValue
from bmw_wallbox.trace import MAX_FRAME_CHARS, Trace
from bmw_wallbox.web.api import _csv_cell
from bmw_wallbox.web.checklist import charger_option_line
from bmw_wallbox.web.views import charger_detail, charger_snapshot, json_text

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
REGISTER = "Energy.Active.Import.Register"
INTERVAL = "Energy.Active.Import.Interval"


def charger() -> ChargerState:
    """A 16 A charger (its plausible power: 32 A x 3 x 250 V = 24 kW)."""
    return ChargerState(charger_id="CP1", name="Wallbox", max_current_a=16, connected=True)


def reading(measurand: str, value: float) -> list[SampledValue]:
    return [SampledValue(measurand=measurand, value=value)]


def raw_sample(value: Any, measurand: str = REGISTER, **unit: Any) -> list[dict[str, Any]]:
    """One meterValue in the library's snake_case form."""
    sample: dict[str, Any] = {"value": value, "measurand": measurand}
    if unit:
        sample["unit_of_measure"] = unit
    return [{"timestamp": "2026-11-26T10:00:00Z", "sampled_value": [sample]}]


# --- interval energy, the register's bounds -----------------------------------------------------


def test_a_60_mwh_interval_is_refused() -> None:
    """Energy.Active.Import.Interval gets the plausibility bound: 60 MWh ten minutes later is ignored."""
    state = charger()
    state.meter_values(1, reading(INTERVAL, 250.0), at=T0, now=T0)
    later = T0 + timedelta(minutes=10)
    assert state.meter_values(1, reading(INTERVAL, 60e6), at=later, now=later) is RegisterEvent.IMPLAUSIBLE
    assert state.main_evse.meter.energy_wh == 250.0


def test_huge_intervals_never_sum_to_infinity() -> None:
    """Two intervals of 1.5e308 Wh (each finite) leave the energy finite and the snapshot strict JSON."""
    state = charger()
    for minutes in (0, 10):
        at = T0 + timedelta(minutes=minutes)
        state.meter_values(1, reading(INTERVAL, 1.5e308), at=at, now=at)
    energy = state.main_evse.meter.energy_wh
    assert energy is None or energy < 1e9
    json.dumps(charger_snapshot(state), allow_nan=False)


def test_a_huge_interval_is_dropped_at_the_edge() -> None:
    """An interval of 1.5e308 Wh (or 1e400, which JSON turns into infinity) never leaves the edge."""
    assert sampled_values(raw_sample(1.5e308, INTERVAL)) == []
    assert sampled_values(raw_sample(float("inf"), INTERVAL)) == []


def test_intervals_of_a_plausible_session_add_up() -> None:
    """Ten 10-minute intervals of 3.6 kWh (about 22 kW) all count."""
    state = charger()
    for step in range(10):
        at = T0 + timedelta(minutes=10 * step)
        assert state.meter_values(1, reading(INTERVAL, 3600.0), at=at, now=at) is None
    assert state.main_evse.meter.energy_wh == 36_000.0


def test_the_first_register_reading_is_bounded() -> None:
    """A first reading of 5e12 Wh is refused (the bound is 10 GWh); the real reading after it is taken."""
    state = charger()
    assert state.meter_values(1, reading(REGISTER, 5e12), at=T0, now=T0) is RegisterEvent.IMPLAUSIBLE
    later = T0 + timedelta(minutes=1)
    assert state.meter_values(1, reading(REGISTER, 1_234_567), at=later, now=later) is RegisterEvent.ACCEPTED
    assert state.main_evse.meter.energy_wh == 1_234_567


def test_a_backdated_reading_never_moves_the_reference_back() -> None:
    """A reading stamped 89 days ago cannot widen the next bound: +60 MWh ten minutes later stays refused."""
    state = charger()
    state.meter_values(1, reading(REGISTER, 10_000), at=T0, now=T0)
    now = T0 + timedelta(minutes=5)
    state.meter_values(1, reading(REGISTER, 10_100), at=T0 - timedelta(days=89), now=now)
    assert state.main_evse.meter.register_read_at == T0
    later = now + timedelta(minutes=5)
    assert state.meter_values(1, reading(REGISTER, 60e6), at=later, now=later) is RegisterEvent.IMPLAUSIBLE
    assert state.main_evse.meter.energy_wh == 10_100


# --- what the edge refuses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        (1e308, {}),
        ("1e400", {}),
        ("NaN", {}),
        ("-Infinity", {}),
        (1.0, {"multiplier": 1e300}),
        (1.0, {"multiplier": 10_000_000}),
        (1.0, {"multiplier": True}),
        (1.0, {"unit": 7}),
        (1e12, {"unit": "kWh", "multiplier": 9}),
        (True, {}),
        ([1], {}),
    ],
)
def test_readings_that_are_not_bounded_numbers_are_dropped(value: Any, unit: dict[str, Any]) -> None:
    """Non-finite, huge, or not numbers, a multiplier that is no small integer, a unit that is no text: dropped."""
    assert sampled_values(raw_sample(value, **unit)) == []


def test_three_huge_phase_currents_never_average_to_infinity() -> None:
    """Per-phase currents of 1e308 A are dropped, so their mean cannot overflow."""
    meter_value = [
        {
            "timestamp": "2026-11-26T10:00:00Z",
            "sampled_value": [{"value": 1e308, "measurand": "Current.Import", "phase": p} for p in ("L1", "L2", "L3")],
        }
    ]
    state = charger()
    state.meter_values(1, sampled_values(meter_value), at=T0, now=T0)
    assert state.main_evse.meter.current_a is None


def report_item(component: str, variable: str, value: str, **characteristics: Any) -> dict[str, Any]:
    return {
        "component": {"name": component},
        "variable": {"name": variable},
        "variable_attribute": [{"type": "Actual", "value": value, "mutability": "ReadWrite"}],
        "variable_characteristics": {"data_type": "string", **characteristics},
    }


def test_an_infinite_maximum_current_in_a_report_is_not_believed() -> None:
    """An EVSE maximum of 1e400 A (infinity after decoding) would lift every energy bound: it is ignored."""
    item = report_item("EVSE", "Power", "0", unit="A", max_limit=float("inf"))
    item["component"]["evse"] = {"id": 1}
    entries = dict(report_entries([item]))
    caps = capabilities_from_report(entries, previous=Capabilities(), at=T0)
    assert caps.max_current_a is None


def test_report_entries_keep_only_what_is_read() -> None:
    """A 2,500-character value is cut to 500 and characteristics other than unit, maximum and list are not kept."""
    item = report_item("Vendor", "Blob", "x" * 2500, values_list="a,b", extra="y" * 1000)
    ((_, entry),) = report_entries([item])
    assert (len(entry["value"]), entry["characteristics"]) == (500, {"values_list": "a,b"})


def test_identity_key_is_masked_in_the_charger_detail() -> None:
    """SecurityCtrlr.IdentityKey (and any password or secret variable) shows as *** in GET /api/chargers/{id}."""
    items = [
        report_item("SecurityCtrlr", "IdentityKey", "IDKEY-SECRET-1"),
        report_item("SecurityCtrlr", "BasicAuthPassword", "hunter2-secret"),
        report_item("Vendor", "CloudSecretToken", "cloud-secret"),
        report_item("SecurityCtrlr", "OrganizationName", "ACME"),
    ]
    state = charger()
    state.capabilities_reported(capabilities_from_report(dict(report_entries(items)), previous=Capabilities(), at=T0))
    state.setting_changed("SecurityCtrlr", "IdentityKey", "IDKEY-SECRET-2")
    text = json.dumps(charger_detail(state))
    for secret in ("IDKEY-SECRET-1", "IDKEY-SECRET-2", "hunter2-secret", "cloud-secret"):
        assert secret not in text
    assert charger_detail(state)["capabilities"]["variables"]["SecurityCtrlr.OrganizationName"] == "ACME"


# --- what leaves: JSON, CSV, YAML, the trace -------------------------------------------------------


def test_views_never_carry_nan_or_infinity() -> None:
    """A state that holds NaN and infinity (a damaged file) still gives strict JSON, those values as null."""
    state = charger()
    state.main_evse.meter.power_w = float("nan")
    state.main_evse.meter.current_phases_a = {"L1": float("inf")}
    state.applied_limit_a = float("-inf")
    snapshot = charger_snapshot(state)
    json.dumps(charger_detail(state), allow_nan=False)
    assert (snapshot["power_w"], snapshot["current_phases_a"], snapshot["applied_limit_a"]) == (
        None,
        {"L1": None},
        None,
    )
    assert json.loads(json_text({"points": [[1.0, float("nan")]]})) == {"points": [[1.0, None]]}


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("\t=3+3", "'\t=3+3"),
        ("\r=3+3", "'\r=3+3"),
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("tx;=3+3", "tx;'=3+3"),
        ("tx; @SUM(1)", "tx;' @SUM(1)"),
        ("a,+1", "a,'+1"),
        ("tx-2", "tx-2"),
        ("-5.5", "-5.5"),
        ("-inf", "'-inf"),
    ],
)
def test_csv_cells_cannot_start_a_formula(text: str, safe: str) -> None:
    """A leading TAB or CR, and = + - @ at the start or after a , or ; separator, are made text; numbers stay."""
    assert _csv_cell(text) == safe


@pytest.mark.parametrize(
    "charger_id",
    [
        "DE*BMW*E0001",
        'x"\n  - id: injected\nssl: false',
        "back\\slash #comment: 'quoted'",
        "line\u2028sep\x85nel\x00nul\x1b[31m",
        "\ufeffbom and \U0001f600",
    ],
)
def test_the_lines_to_add_read_back_as_exactly_the_id(charger_id: str) -> None:
    """The setup page's YAML line for an unknown id parses back to that id and nothing else."""
    line = charger_option_line(charger_id)
    assert "\n" not in line
    assert yaml.safe_load(f"chargers:\n{line}") == {"chargers": [{"id": charger_id}]}


ID_TOKEN = "RFID-SECRET-4242"


def token_frame(padding: int) -> str:
    """An Authorize frame with an idToken, padded to ``padding`` characters by a vendor field after it."""
    payload = {"idToken": {"idToken": ID_TOKEN, "type": "ISO14443"}, "pad": "p" * padding}
    return json.dumps([2, "m1", "Authorize", payload])


@pytest.mark.parametrize(
    "raw",
    [
        token_frame(MAX_FRAME_CHARS + 100),
        token_frame(MAX_FRAME_CHARS + 100)[:-3],  # malformed (cut) and over the limit
        token_frame(10)[:-3],  # malformed and short
        token_frame(10).encode()[:-3],  # binary and malformed
    ],
)
def test_the_trace_masks_an_id_token_before_it_cuts_the_frame(raw: str | bytes) -> None:
    """An idToken never shows in the trace: long frames, malformed ones, both; long ones are kept masked."""
    trace = Trace()
    trace.record("CP1", "in", raw, "Authorize", at=T0)
    (entry,) = trace.entries()
    assert ID_TOKEN not in entry.frame
    assert len(entry.frame) <= MAX_FRAME_CHARS
    if len(raw) > MAX_FRAME_CHARS:
        assert ID_TOKEN not in str(entry.raw)


# --- a stray or early transaction event ----------------------------------------------------------


def test_a_started_47_hours_ahead_gives_the_superseded_session_no_47_hours() -> None:
    """The session a new Started replaces ends at its own last known time, not at the newcomer's stamp."""
    state = charger()
    state.transaction_event(event_type="Started", transaction_id="tx-1", evse_id=1, at=T0, now=T0)
    seen = T0 + timedelta(minutes=30)
    state.transaction_event(event_type="Updated", transaction_id="tx-1", evse_id=1, at=seen, now=seen)
    ahead = seen + timedelta(hours=47)
    state.transaction_event(event_type="Started", transaction_id="tx-2", evse_id=1, at=ahead, now=seen)
    (record,) = state.sessions
    assert (record.stopped_reason, record.ended_at - record.started_at) == (SUPERSEDED, timedelta(minutes=30))


# --- the budgets ---------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_inflow_budget_passes_a_burst_then_paces() -> None:
    """300 frames pass at once; the next waits 1/100 s per frame beyond; a second later 100 more pass."""
    clock = FakeClock()
    limit = InflowLimit(per_s=100.0, burst=300, clock=clock)
    assert [limit.delay_s() for _ in range(300)] == [0.0] * 300
    assert limit.delay_s() == pytest.approx(0.01)
    assert limit.delay_s() == pytest.approx(0.02)
    clock.now += 1.03
    assert [limit.delay_s() for _ in range(100)] == [0.0] * 100
    assert limit.delay_s() > 0


async def test_a_60_second_status_flood_writes_a_few_info_lines(caplog: pytest.LogCaptureFixture) -> None:
    """16,800 status changes over 60 s: at most a few dozen INFO lines, the rest at DEBUG with their count."""
    clock = FakeClock()
    logger = logging.getLogger("bmw_wallbox.test_edges")
    budget = LogBudget(logger, burst=3, level=logging.INFO, clock=clock)
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        for step in range(16_800):
            clock.now = 1000.0 + step * 60.0 / 16_800
            budget.log("connector status changes of EVSE 1", "EVSE %s: connector %s", 1, "Occupied")
        budget.flush()
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    held = sum(int(line.split()[0]) for line in info if "more connector status changes" in line)
    assert len(info) <= 8
    assert len(info) - 1 + held == 16_800  # each change is a line of its own or counted in the summary
    assert sum(r.levelno == logging.DEBUG for r in caplog.records) == held


def test_a_call_whose_message_id_is_minus_one_is_handled() -> None:
    """A CALL may carry the message id "-1": it is a readable id, not the marker of an unreadable one."""
    frame = check_frame('[2, "-1", "Heartbeat", {}]')
    assert isinstance(frame, Frame)
    assert (frame.unique_id, frame.action) == ("-1", "Heartbeat")

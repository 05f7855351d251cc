"""Property: whatever numbers a charger sends, the state, the JSON views and the saved file stay finite and valid.

Random, non-finite and extreme values go through every reading path as the
handlers take them (the edge in ``csms.convert``, then the state model):
MeterValues and TransactionEvents, registers and intervals, power, current
and voltage, with random units and multipliers and timestamps that jump back
and ahead. After each step the lifetime energy of every EVSE is finite and
never lower than before, the views and the saved state file are strict JSON, and
what goes to Home Assistant (MQTT states, attributes and evcc topics, REST states)
carries no NaN or infinity.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bmw_wallbox.csms.convert import sampled_values
from bmw_wallbox.homeassistant.mqtt.discovery import Topics, render_states
from bmw_wallbox.homeassistant.mqtt.evcc import render_evcc
from bmw_wallbox.homeassistant.rest.states import render as render_rest
from bmw_wallbox.hub import StateHub
from bmw_wallbox.state import ChargerState
from bmw_wallbox.store import Store
from bmw_wallbox.web.views import charger_detail, charger_snapshot, json_text

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
MEASURANDS = (
    "Energy.Active.Import.Register",
    "Energy.Active.Import.Interval",
    "Power.Active.Import",
    "Current.Import",
    "Voltage",
)

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=1e7),  # plausible meter values, so the rules are exercised too
    st.sampled_from([1.5e308, -1.5e308, 1e15, 1e10, 5e12, 0.0, -0.0, 5e-324]),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from(["1e400", "-1e400", "NaN", "Infinity", "12.5", "x", ""]),
)
units = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "unit": st.sampled_from(["Wh", "kWh", "W", "kW", "A", "V", "kvarh", ""]),
            "multiplier": st.one_of(st.integers(-400, 400), st.floats(), st.sampled_from([1e300, True])),
        },
    ),
)
samples = st.lists(
    st.fixed_dictionaries(
        {"value": numbers, "measurand": st.sampled_from(MEASURANDS)},
        optional={"unit_of_measure": units, "phase": st.sampled_from(["L1", "L2", "L3", "L1-N"])},
    ),
    max_size=6,
)
steps = st.lists(
    st.tuples(
        st.sampled_from(["MeterValues", "Started", "Updated", "Ended"]),
        st.sampled_from(["tx-1", "tx-2", "tx-3"]),
        st.integers(min_value=1, max_value=2),
        st.floats(min_value=-200_000, max_value=200_000),  # minutes from the last step: back and ahead
        samples,
    ),
    min_size=1,
    max_size=12,
)


def energies(state: ChargerState) -> dict[int, float]:
    """The lifetime energy of each EVSE that has one, in Wh."""
    return {evse_id: e.meter.energy_wh for evse_id, e in state.evses.items() if e.meter.energy_wh is not None}


NOT_FINITE = re.compile(r"\b(nan|-?inf(inity)?)\b", re.IGNORECASE)
TOPICS = Topics(prefix="homeassistant", base="bmw_wallbox", node="bmw_wallbox_CP1")


def assert_outputs_finite(state: ChargerState) -> None:
    """MQTT payloads (states, attributes, evcc) and REST states carry no NaN or infinity; JSON ones are strict."""
    payloads = {**render_states(state, TOPICS), **render_evcc(state, TOPICS)}
    for topic, payload in payloads.items():
        assert not NOT_FINITE.search(payload), (topic, payload)
        if topic.endswith("/attributes") or topic.endswith("/currents"):
            strict(payload)
    for entity_id, (_, entity) in render_rest(state, "wallbox").items():
        assert not NOT_FINITE.search(entity.state), (entity_id, entity.state)
        strict(json.dumps(entity.to_json()))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict(text: str) -> Any:
    """Decode RFC 8259 JSON: NaN and Infinity are errors."""
    return json.loads(text, parse_constant=_refuse_constant)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(steps=steps)
def test_any_numbers_leave_state_views_and_file_finite_and_energy_monotonic(
    steps: list[tuple[str, str, int, float, list[dict[str, Any]]]],
) -> None:
    """Random, non-finite and extreme readings: the energy stays finite and never goes down; JSON stays strict."""
    state = ChargerState(charger_id="CP1", name="Wallbox", max_current_a=16, connected=True)
    at = now = T0
    before: dict[int, float] = {}
    for kind, transaction_id, evse_id, minutes, sampled in steps:
        at += timedelta(minutes=minutes)
        now += timedelta(minutes=abs(minutes) % 60)
        readings = sampled_values([{"timestamp": at.isoformat(), "sampled_value": sampled}])
        if kind == "MeterValues":
            state.meter_values(evse_id, readings, at=at, now=now)
        else:
            state.transaction_event(
                event_type=kind, transaction_id=transaction_id, evse_id=evse_id, at=at, now=now, readings=readings
            )
        after = energies(state)
        for key, energy in after.items():
            assert math.isfinite(energy)
            assert energy >= before.get(key, -math.inf)
        before = after
        strict(json.dumps(charger_snapshot(state)))
        strict(json.dumps(charger_detail(state)))
        strict(json_text({"sessions": [s.to_json() for s in state.sessions]}))
        assert_outputs_finite(state)
    with tempfile.TemporaryDirectory() as folder:
        hub = StateHub([state])
        store = Store(Path(folder), hub)
        store.save_now(state.charger_id)
        saved = strict(store.path_for(state.charger_id).read_text("utf-8"))
        assert saved

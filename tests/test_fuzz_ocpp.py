"""Hostile OCPP-J frames against the live server: every frame gets the answer OCPP-J names.

A property-based fuzzer (hypothesis) sends random frames on one real TLS
connection and checks each answer against an oracle written from the OCPP-J
2.0.1 rules (part 4, section 4) and the policy table of ``csms/framing.py``,
without using its code (``ocpp_oracle``). A Heartbeat after every frame proves
the connection still works, and a second, well-behaved charger connected all
along must see no effect (``arena``). How fast the nasty frames are answered is
a wall-clock bound: ``test_bounds_ocpp.py``.

The normal suite runs ``FUZZ_EXAMPLES`` examples (default 150, a few seconds);
for a long run: ``FUZZ_EXAMPLES=20000 pytest tests/test_fuzz_ocpp.py``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ocpp.messages import get_validator

from bmw_wallbox.csms.framing import PayloadError, check_payload

from arena import NASTY_FRAMES, Arena
from conftest import CHARGER_ID, api_get, charger_snapshot
from helpers import eventually
from ocpp_oracle import HANDLED, MAX_ID_LENGTH, OCPP_ACTIONS, CallError, NoAnswer, answer_mismatch, expected_answer

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))

NOW = "2026-11-26T10:00:00Z"
_SAMPLES = [
    {"value": 1234.5, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "kWh", "multiplier": 0}},
    {"value": 7360, "measurand": "Power.Active.Import"},
    {"value": 10.1, "measurand": "Current.Import", "phase": "L1", "context": "Sample.Periodic"},
]
#: One schema-valid payload per action the fuzzer mutates.
TEMPLATES: dict[str, dict[str, Any]] = {
    "Heartbeat": {},
    "BootNotification": {
        "reason": "PowerUp",
        "chargingStation": {"model": "Fuzz", "vendorName": "Fuzzer", "firmwareVersion": "1.0", "serialNumber": "F1"},
    },
    "StatusNotification": {"timestamp": NOW, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
    "MeterValues": {"evseId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": _SAMPLES}]},
    "TransactionEvent": {
        "eventType": "Started",
        "timestamp": NOW,
        "triggerReason": "CablePluggedIn",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "tx-fuzz-1", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [{"timestamp": NOW, "sampledValue": _SAMPLES[:1]}],
    },
    "NotifyReport": {
        "requestId": 1,
        "generatedAt": NOW,
        "seqNo": 0,
        "reportData": [
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "MessageTimeout"},
                "variableAttribute": [{"type": "Actual", "value": "30"}],
            }
        ],
    },
    "NotifyEvent": {
        "generatedAt": NOW,
        "seqNo": 0,
        "eventData": [
            {
                "eventId": 1,
                "timestamp": NOW,
                "trigger": "Delta",
                "actualValue": "Occupied",
                "component": {"name": "Connector"},
                "variable": {"name": "AvailabilityState"},
                "eventNotificationType": "HardWiredNotification",
            }
        ],
    },
    "SecurityEventNotification": {"type": "SettingSystemTime", "timestamp": NOW},
    "DataTransfer": {"vendorId": "Fuzzer", "messageId": "m", "data": {"a": [1, 2]}},
    "NotifyChargingLimit": {"chargingLimit": {"chargingLimitSource": "EMS"}, "evseId": 1},
    "ClearedChargingLimit": {"chargingLimitSource": "EMS"},
    "NotifyEVChargingNeeds": {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase"}},
    "Authorize": {"idToken": {"idToken": "04A1B2C3", "type": "ISO14443"}},
    "FirmwareStatusNotification": {"status": "Downloaded"},
}


# --------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------

_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
valid_ids = st.text(st.characters(codec="utf-8"), min_size=1, max_size=MAX_ID_LENGTH)
message_ids = (
    valid_ids | valid_ids | valid_ids | st.sampled_from(["", "x" * (MAX_ID_LENGTH + 1)]) | st.integers() | st.none()
)
actions = st.sampled_from(sorted(HANDLED)) | st.sampled_from(sorted(OCPP_ACTIONS)) | st.text(max_size=30)
message_types = st.sampled_from([2, 2, 2, 3, 4]) | st.integers(-5, 10) | st.sampled_from(["2", 2.0, True, None])


@st.composite
def mutated_payloads(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A valid payload of a handled action with a few random edits (replace, delete or add a field)."""
    action = draw(st.sampled_from(sorted(TEMPLATES)))
    payload = copy.deepcopy(TEMPLATES[action])
    for _ in range(draw(st.integers(0, 3))):
        containers: list[Any] = [payload]
        for node in containers:
            children = node.values() if isinstance(node, dict) else node
            containers.extend(c for c in children if isinstance(c, (dict, list)))
        node = draw(st.sampled_from(containers))
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        operation = draw(st.sampled_from(["replace", "delete", "add"] if keys else ["add"]))
        value = draw(json_values)
        if operation == "add":
            if isinstance(node, dict):
                node[draw(st.text(max_size=12))] = value
            else:
                node.append(value)
        elif operation == "delete":
            del node[draw(st.sampled_from(keys))]
        else:
            node[draw(st.sampled_from(keys))] = value
    return action, payload


@st.composite
def call_frames(draw: st.DrawFn) -> str:
    """A frame shaped like a CALL, with each part right or wrong."""
    shape = draw(st.sampled_from(["mutated", "any action", "anything"]))
    if shape == "mutated":
        action, payload = draw(mutated_payloads())
        parts: list[Any] = [2, draw(valid_ids), action, payload]
    elif shape == "any action":
        parts = [
            2,
            draw(valid_ids),
            draw(actions),
            draw(st.dictionaries(st.text(max_size=12), json_values, max_size=3)),
        ]
    else:
        parts = [draw(message_types), draw(message_ids), draw(actions), draw(json_values)]
    if draw(st.integers(0, 9)) == 0:
        parts = parts[: draw(st.integers(0, 5))] if draw(st.booleans()) else [*parts, draw(json_values)]
    return json.dumps(parts)


@st.composite
def deep_frames(draw: st.DrawFn) -> str:
    """A CALL whose payload, or the whole frame, nests arrays/objects up to 3000 levels deep."""
    depth = draw(st.integers(1, 3000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    nested = opener * depth + closer * depth
    if draw(st.booleans()):
        return nested
    return f'[2, "deep-{depth}", "DataTransfer", {{"vendorId": "v", "data": {nested}}}]'


@st.composite
def huge_frames(draw: st.DrawFn) -> str:
    """A frame with one string of 10 kB to 0.9 MB (below the 1 MiB limit)."""
    size = draw(st.integers(10_000, 900_000))
    field = draw(st.sampled_from(["data", "vendorId", "messageId"]))
    return json.dumps([2, f"huge-{size}", "DataTransfer", {"vendorId": "v", field: "x" * size}])


not_json = st.sampled_from(["NaN", '[2, "n", "Heartbeat", {"x": Infinity}]', "[1, 2,]", "\ufeff[]", ""]) | st.text(
    max_size=50
)
frames = (
    st.builds(json.dumps, json_values)
    | call_frames()
    | call_frames()
    | deep_frames()
    | huge_frames()
    | not_json
    | st.binary(max_size=200)
)


# --------------------------------------------------------------------------------------
# The live server (the ``arena`` fixture of conftest)
# --------------------------------------------------------------------------------------


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(frame=frames)
async def test_every_frame_gets_the_answer_ocpp_j_names(
    arena: Arena, caplog: pytest.LogCaptureFixture, frame: str | bytes
) -> None:
    """Random, malformed, deep and huge frames: each gets its CALLERROR (none for answers); nothing else moves."""
    expected = expected_answer(frame)
    if isinstance(expected, CallError):
        event(f"CALLERROR {expected.code}")
    else:
        event(f"{expected}" if isinstance(expected, NoAnswer) else f"Handled, valid={expected.schema_valid}")
    assert answer_mismatch(expected, await arena.exchange(frame)) is None
    assert await arena.bystander_changes() == {}
    assert _errors(caplog) == []


@pytest.mark.parametrize(("frame", "answer"), NASTY_FRAMES)
async def test_nasty_frame_is_answered_and_ignored(
    arena: Arena, caplog: pytest.LogCaptureFixture, frame: str, answer: list[Any]
) -> None:
    """Frames that once crashed or stalled the server get their exact answer and change nothing."""
    before = await charger_snapshot(arena.app)
    got = await arena.exchange(frame)
    after = await charger_snapshot(arena.app)
    assert (got or [])[: len(answer)] == answer
    assert (after["energy_kwh"], after["power_w"]) == (before["energy_kwh"], before["power_w"])
    assert _errors(caplog) == []


async def test_trace_shows_a_deeply_nested_frame(arena: Arena) -> None:
    """The frame trace (panel) still answers after a frame nested 5000 deep, showing it shortened."""
    await arena.exchange("[" * 5000 + "]" * 5000)
    trace = await api_get(arena.app, f"/api/trace?charger={CHARGER_ID}")
    deep = [entry["frame"] for entry in trace if entry["direction"] == "in" and entry["frame"].startswith("[[[")]
    assert deep == ["[" * 500]


async def test_answer_to_no_call_is_dropped(arena: Arena) -> None:
    """A flood of CALLRESULTs nobody asked for is dropped, not queued: the next real command is answered at once."""
    for index in range(200):
        await arena.ws.send(json.dumps([3, f"stray-{index}", {"status": "Accepted", "pad": "x" * 10_000}]))
    assert await arena.exchange(json.dumps([3, "stray-last", {}])) is None
    assert arena.app.csms.connections[CHARGER_ID]._response_queue.qsize() == 0


@pytest.mark.parametrize("size", [1024 * 1024 + 1, 4 * 1024 * 1024])
@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
async def test_oversized_frame_closes_1009_and_others_carry_on(arena: Arena, size: int, binary: bool) -> None:
    """A frame over 1 MiB closes only that connection, with 1009; the bystander and new connections work."""
    padding = "x" * (size - len('[2,"big","DataTransfer",{"vendorId":"v","data":""}]'))
    text = json.dumps([2, "big", "DataTransfer", {"vendorId": "v", "data": padding}], separators=(",", ":"))
    assert len(text) == size
    await arena.ws.send(text.encode() if binary else text)
    await arena.ws.wait_closed()
    assert (arena.ws.close_code, await arena.bystander_changes()) == (1009, {})


async def test_frame_of_exactly_1_mib_is_handled(arena: Arena) -> None:
    """A frame of exactly 1 MiB is within the limit: it is answered and the connection stays open."""
    padding = "x" * (1024 * 1024 - len('[2,"max","DataTransfer",{"vendorId":"v","data":""}]'))
    text = json.dumps([2, "max", "DataTransfer", {"vendorId": "v", "data": padding}], separators=(",", ":"))
    assert len(text) == 1024 * 1024
    answer = await arena.exchange(text)
    assert answer == [3, "max", {"status": "UnknownVendorId"}]


async def test_flood_of_malformed_frames_costs_a_few_log_lines(arena: Arena, caplog: pytest.LogCaptureFixture) -> None:
    """500 malformed frames: five warnings (and one that the flood is read slower), then one summary line."""
    with caplog.at_level(logging.DEBUG, logger="bmw_wallbox.csms"):
        for index in range(500):
            answer = await arena.exchange(f"not json {index}")
            assert answer == [4, "-1", "RpcFrameworkError", "Frame is not valid JSON", {}]
        await arena.ws.close()
        await eventually(lambda: CHARGER_ID not in arena.app.csms.connections, what="the add-on to drop the connection")
    warnings = [r.getMessage() for r in caplog.records if r.name == "bmw_wallbox.csms" and r.levelno == logging.WARNING]
    slower = f"[{CHARGER_ID}] The charger sends more than 100 frames a second: reading them slower (logged once)"
    assert [w for w in warnings if w != slower] == [
        f"[{CHARGER_ID}] Malformed frame answered with RpcFrameworkError: Frame is not valid JSON"
    ] * 5 + [f"[{CHARGER_ID}] 495 more malformed or refused frames in the last 60 s (each logged at debug level)"]
    assert warnings.count(slower) <= 1


@settings(max_examples=FUZZ_EXAMPLES * 3, deadline=None)
@given(mutated=mutated_payloads())
def test_schema_check_accepts_exactly_what_the_library_accepts(mutated: tuple[str, dict[str, Any]]) -> None:
    """The compiled fast path of the schema check never lets through a payload the library's validator refuses."""
    action, payload = mutated
    library_ok = not any(True for _ in get_validator(2, action, "2.0.1").iter_errors(payload))
    try:
        check_payload(action, payload, lenient=False)
    except PayloadError:
        ours_ok = False
    else:
        ours_ok = True
    assert ours_ok == library_ok

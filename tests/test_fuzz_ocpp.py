"""Hostile OCPP-J frames against the live server: every frame gets the answer OCPP-J names.

A property-based fuzzer (hypothesis) sends random frames on one real TLS
connection and checks each answer against an oracle written from the OCPP-J
2.0.1 rules (part 4, section 4) and the policy table of ``csms/framing.py``,
without using its code. A Heartbeat after every frame proves the connection
still works, and a second, well-behaved charger connected all along must see
no effect.

The normal suite runs ``FUZZ_EXAMPLES`` examples (default 150, a few seconds);
for a long run: ``FUZZ_EXAMPLES=20000 pytest tests/test_fuzz_ocpp.py``.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ocpp.messages import get_validator
from ocpp.v201 import call
from ocpp.v201.enums import Action
from websockets.asyncio.client import ClientConnection

from bmw_wallbox.app import Application
from bmw_wallbox.csms.framing import PayloadError, check_payload
from bmw_wallbox.csms.handlers import ChargerConnection
from bmw_wallbox.web.views import charger_snapshot as snapshot_view

from conftest import AUTH_CHARGER_ID, CHARGER_ID, PASSWORD, StartApp, api_get, charger_snapshot, ocpp_url
from peer import LibraryCharger, library_charger, raw_socket

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
#: Real seconds to wait for one answer.
ANSWER_TIMEOUT_S = 5.0
#: Deepest payload nesting the server promises to handle (``framing.MAX_DEPTH``).
MAX_DEPTH = 32
#: The longest message id OCPP-J allows.
MAX_ID_LENGTH = 36

#: Every charger-to-CSMS action this CSMS has a handler for.
HANDLED = frozenset(
    str(getattr(attr._on_action, "value", attr._on_action))
    for attr in vars(ChargerConnection).values()
    if hasattr(attr, "_on_action")
)
OCPP_ACTIONS = frozenset(action.value for action in Action)
SCHEMA_CODES = frozenset(
    {"FormatViolation", "OccurrenceConstraintViolation", "TypeConstraintViolation", "PropertyConstraintViolation"}
)

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
# The oracle: what OCPP-J (and the policy table) says the answer to a frame is
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallError:
    """The frame must be answered with exactly this CALLERROR."""

    unique_id: str
    code: str


@dataclass(frozen=True)
class NoAnswer:
    """The frame is an answer (CALLRESULT/CALLERROR) to no call of ours: it is dropped."""


@dataclass(frozen=True)
class Handled:
    """A well-formed CALL of a handled action: a CALLRESULT, or a schema CALLERROR if the payload is invalid."""

    unique_id: str
    action: str
    schema_valid: bool


Expected = CallError | NoAnswer | Handled


def _depth(node: object) -> int:
    """How deep arrays and objects nest in ``node`` (iterative, any depth)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (value.values() if isinstance(value, dict) else value))
    return deepest


def _no_constants(name: str) -> Any:
    raise ValueError(name)


def expected_answer(frame: str | bytes) -> Expected:
    """What the server must answer to ``frame``, from the OCPP-J rules."""
    try:
        text = frame.decode("utf-8") if isinstance(frame, bytes) else frame
        message: Any = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        message, text = None, None
    readable = (
        isinstance(message, list)
        and len(message) >= 2
        and isinstance(message[1], str)
        and 0 < len(message[1]) <= MAX_ID_LENGTH
    )
    unique_id = message[1] if readable else "-1"
    if isinstance(frame, bytes) or text is None:
        return CallError(unique_id, "RpcFrameworkError")
    if not isinstance(message, list) or not message:
        return CallError("-1", "RpcFrameworkError")
    kind = message[0]
    if type(kind) is not int:
        return CallError(unique_id, "RpcFrameworkError")
    if kind in (3, 4):
        return NoAnswer()
    if not readable:
        return CallError("-1", "RpcFrameworkError")
    if kind != 2:
        return CallError(unique_id, "MessageTypeNotSupported")
    if len(message) != 4 or not isinstance(message[2], str):
        return CallError(unique_id, "RpcFrameworkError")
    action, payload = message[2], message[3]
    if not isinstance(payload, dict) or _depth(payload) > MAX_DEPTH:
        return CallError(unique_id, "FormatViolation")
    if action not in HANDLED:
        return CallError(unique_id, "NotSupported" if action in OCPP_ACTIONS else "NotImplemented")
    valid = not any(True for _ in get_validator(2, action, "2.0.1").iter_errors(payload))
    return Handled(unique_id, action, valid)


def check_answer(expected: Expected, answer: list[Any] | None) -> None:
    """Assert that ``answer`` (None: no answer came before the probe's) is what ``expected`` demands."""
    if isinstance(expected, NoAnswer):
        assert answer is None
        return
    assert answer is not None, f"no answer, expected {expected}"
    if isinstance(expected, CallError):
        assert answer[:3] == [4, expected.unique_id, expected.code]
        assert isinstance(answer[3], str)
        assert answer[4] == {}
        return
    assert answer[1] == expected.unique_id
    if answer[0] == 3:
        errors = list(get_validator(3, expected.action, "2.0.1").iter_errors(answer[2]))
        assert not errors, f"our {expected.action} answer breaks the schema: {errors[0].message}"
        return
    assert not expected.schema_valid, f"a valid {expected.action} got {answer}"
    assert answer[0] == 4
    assert answer[2] in SCHEMA_CODES


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
# The live server
# --------------------------------------------------------------------------------------


@dataclass
class Arena:
    """The app, a raw socket for the fuzzer and a well-behaved bystander charger."""

    app: Application
    ws: ClientConnection
    bystander: LibraryCharger
    bystander_state: dict[str, Any]
    probes: itertools.count[int]

    async def exchange(self, frame: str | bytes) -> list[Any] | None:
        """Send ``frame`` then a Heartbeat; return the answer to ``frame`` (None if only the Heartbeat's came)."""
        probe_id = f"probe-{next(self.probes)}"
        await self.ws.send(frame)
        await self.ws.send(json.dumps([2, probe_id, "Heartbeat", {}]))
        answers: list[list[Any]] = []
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            while True:
                message = json.loads(await self.ws.recv())
                if message[0] == 2:  # the CSMS's own connect-time requests, never answered here
                    continue
                if message[1] == probe_id:
                    assert message[0] == 3, message
                    break
                answers.append(message)
        assert len(answers) <= 1, answers
        return answers[0] if answers else None

    async def assert_bystander_unaffected(self) -> None:
        """The other charger still gets answers and its state did not change."""
        answer = await self.bystander.call(call.Heartbeat(), suppress=False)
        assert answer.current_time.endswith("Z")
        assert _stable(snapshot_view(self.app.hub.chargers[AUTH_CHARGER_ID])) == self.bystander_state


def _stable(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A snapshot without the field the bystander's own Heartbeat updates."""
    return {k: v for k, v in snapshot.items() if k != "last_seen"}


@pytest.fixture
async def arena(start_app: StartApp, client_ssl: ssl.SSLContext) -> AsyncIterator[Arena]:
    """The add-on with the bystander provisioned and the fuzzer's socket open."""
    app = await start_app()
    async with library_charger(ocpp_url(app), AUTH_CHARGER_ID, ssl_context=client_ssl, password=PASSWORD) as calm:
        await calm.next_call("TriggerMessage")
        await calm.call(call.Heartbeat(), suppress=False)  # the TriggerMessage answer is in
        state = _stable(snapshot_view(app.hub.chargers[AUTH_CHARGER_ID]))
        async with raw_socket(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as ws:
            yield Arena(app=app, ws=ws, bystander=calm, bystander_state=state, probes=itertools.count())


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
    check_answer(expected, await arena.exchange(frame))
    await arena.assert_bystander_unaffected()
    assert _errors(caplog) == []


MV = (
    '[2, "{id}", "MeterValues", {{"evseId": 1, "meterValue": [{{"timestamp": "2026-11-26T10:00:00Z", '
    '"sampledValue": [{{"value": {value}{unit}}}]}}]}}]'
)


@pytest.mark.parametrize(
    ("frame", "answer"),
    [
        pytest.param("[" * 5000 + "]" * 5000, [4, "-1", "RpcFrameworkError"], id="frame-nested-5000-deep"),
        pytest.param(
            '[2, "d", "DataTransfer", {"vendorId": "v", "data": ' + "[" * 40 + "]" * 40 + "}]",
            [4, "d", "FormatViolation"],
            id="payload-nested-41-deep",
        ),
        pytest.param(MV.format(id="nan", value="NaN", unit=""), [4, "-1", "RpcFrameworkError"], id="NaN"),
        pytest.param(MV.format(id="inf", value="-Infinity", unit=""), [4, "-1", "RpcFrameworkError"], id="Infinity"),
        pytest.param(
            MV.format(id="mul", value="1", unit=', "unitOfMeasure": {"multiplier": 10000000}'),
            [3, "mul", {}],
            id="multiplier-10e7",
        ),
        pytest.param(MV.format(id="big", value="9" * 4000, unit=""), [3, "big", {}], id="4000-digit-value"),
        pytest.param(MV.format(id="e400", value="1e400", unit=""), [3, "e400", {}], id="overflowing-float"),
    ],
)
async def test_nasty_frame_is_answered_and_ignored(
    arena: Arena, caplog: pytest.LogCaptureFixture, frame: str, answer: list[Any]
) -> None:
    """Frames that once crashed or stalled the server get their exact answer within a second and change nothing."""
    before = await charger_snapshot(arena.app)
    async with asyncio.timeout(1.0):
        got = await arena.exchange(frame)
    assert got is not None
    assert got[: len(answer)] == answer
    after = await charger_snapshot(arena.app)
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
    assert arena.ws.close_code == 1009
    await arena.assert_bystander_unaffected()


async def test_frame_of_exactly_1_mib_is_handled(arena: Arena) -> None:
    """A frame of exactly 1 MiB is within the limit: it is answered and the connection stays open."""
    padding = "x" * (1024 * 1024 - len('[2,"max","DataTransfer",{"vendorId":"v","data":""}]'))
    text = json.dumps([2, "max", "DataTransfer", {"vendorId": "v", "data": padding}], separators=(",", ":"))
    assert len(text) == 1024 * 1024
    answer = await arena.exchange(text)
    assert answer == [3, "max", {"status": "UnknownVendorId"}]


async def test_flood_of_malformed_frames_costs_a_few_log_lines(arena: Arena, caplog: pytest.LogCaptureFixture) -> None:
    """500 malformed frames: five warnings, then one summary line when the connection ends, not 500 lines."""
    with caplog.at_level(logging.DEBUG, logger="bmw_wallbox.csms"):
        for index in range(500):
            answer = await arena.exchange(f"not json {index}")
            assert answer == [4, "-1", "RpcFrameworkError", "Frame is not valid JSON", {}]
        await arena.ws.close()
        await _wait_disconnected(arena.app)
    warnings = [r.getMessage() for r in caplog.records if r.name == "bmw_wallbox.csms" and r.levelno == logging.WARNING]
    assert warnings == [
        f"[{CHARGER_ID}] Malformed frame answered with RpcFrameworkError: Frame is not valid JSON"
    ] * 5 + [f"[{CHARGER_ID}] 495 more malformed or refused frames in the last 60 s (each logged at debug level)"]


async def _wait_disconnected(app: Application) -> None:
    async with asyncio.timeout(5):
        while CHARGER_ID in app.csms.connections:
            await asyncio.sleep(0.01)


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

"""The oracle of the OCPP-J frame fuzzer: what OCPP-J says the answer to a frame is.

Written from the OCPP-J 2.0.1 rules (part 4, section 4) and the policy table of
``csms/framing.py``, without using its code. :func:`expected_answer` says what a
frame must get; :func:`answer_mismatch` says how an answer differs from that
(None when it does not), so a test can assert on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ocpp.messages import get_validator
from ocpp.v201.enums import Action

from bmw_wallbox.csms.handlers import ChargerConnection

#: Deepest payload nesting the server promises to handle (``framing.MAX_DEPTH``).
MAX_DEPTH = 32
#: The longest message id OCPP-J allows.
MAX_ID_LENGTH = 36

#: Every charger-to-CSMS action this CSMS has a handler for.
HANDLED = frozenset(
    str(getattr(attr._on_action, "value", attr._on_action))
    for cls in ChargerConnection.__mro__
    for attr in vars(cls).values()
    if hasattr(attr, "_on_action")
)
OCPP_ACTIONS = frozenset(action.value for action in Action)
SCHEMA_CODES = frozenset(
    {"FormatViolation", "OccurrenceConstraintViolation", "TypeConstraintViolation", "PropertyConstraintViolation"}
)


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


def answer_mismatch(expected: Expected, answer: list[Any] | None) -> str | None:
    """How ``answer`` (None: no answer came before the probe's) differs from what ``expected`` demands, or None."""
    if isinstance(expected, NoAnswer):
        return None if answer is None else f"an answer to an answer: {answer}"
    if answer is None:
        return f"no answer, expected {expected}"
    if isinstance(expected, CallError):
        exact = len(answer) == 5 and answer[:3] == [4, expected.unique_id, expected.code]
        well_formed = exact and isinstance(answer[3], str) and answer[4] == {}
        return None if well_formed else f"expected {expected}, got {answer}"
    if answer[1] != expected.unique_id:
        return f"the answer is to {answer[1]!r}, not {expected.unique_id!r}"
    if answer[0] == 3:
        errors = list(get_validator(3, expected.action, "2.0.1").iter_errors(answer[2]))
        return f"our {expected.action} answer breaks the schema: {errors[0].message}" if errors else None
    if expected.schema_valid:
        return f"a valid {expected.action} got {answer}"
    if answer[0] != 4 or answer[2] not in SCHEMA_CODES:
        return f"an invalid {expected.action} got {answer}, not a schema CALLERROR"
    return None

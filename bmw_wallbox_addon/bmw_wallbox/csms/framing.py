"""OCPP-J frame checks: what to answer to a frame before any handler sees it.

These functions decide and do no I/O, so the whole error policy is testable
without sockets.

Error policy (OCPP-J 2.0.1, part 4, section 4):

============================================  ======================================
Frame                                         Answer
============================================  ======================================
binary frame, invalid UTF-8, not JSON (also   CALLERROR ``RpcFrameworkError``,
``NaN``/``Infinity``, or nested too deeply    id ``"-1"`` when the id is unreadable
to parse), not an array, no readable id
CALL with the wrong number of elements or     CALLERROR ``RpcFrameworkError``
an action that is not a string
CALL whose payload is not an object, or is    CALLERROR ``FormatViolation``
nested deeper than ``MAX_DEPTH`` levels
unknown message type number                   CALLERROR ``MessageTypeNotSupported``
malformed CALLRESULT / CALLERROR, or one      dropped and logged (an answer to an
nested deeper than ``MAX_DEPTH`` levels,      answer is not allowed)
or one that answers no call of ours
(checked in the session)
CALL payload that breaks the schema           optional fields with a wrong value
                                              are dropped and logged (lenient
                                              mode); otherwise the CALLERROR the
                                              schema violation names, described
                                              without quoting the value
============================================  ======================================
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import fastjsonschema
from ocpp.messages import get_validator

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError as SchemaError

CALL = 2
CALLRESULT = 3
CALLERROR = 4

#: The longest message id OCPP-J allows.
MAX_ID_LENGTH = 36

UNREADABLE_ID = "-1"

#: Deepest nesting of arrays and objects accepted in a payload. The deepest OCPP 2.0.1 payload
#: (a sales tariff in SetChargingProfile) has 9 levels; anything much deeper would only feed
#: recursion in the schema check, the library's key conversion and the trace.
MAX_DEPTH = 32


def _reject_constant(name: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity`` are Python extensions, not JSON (RFC 8259)."""
    raise ValueError(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


@dataclass(frozen=True, kw_only=True)
class FrameError:
    """A CALLERROR to send back instead of handling the frame."""

    unique_id: str
    code: str
    description: str

    def to_json(self) -> str:
        """The CALLERROR frame."""
        return json.dumps([CALLERROR, self.unique_id, self.code, self.description, {}], separators=(",", ":"))


@dataclass(frozen=True, kw_only=True)
class Frame:
    """A frame that passed the structural checks."""

    message_type: int
    unique_id: str
    action: str | None = None
    payload: Any = None
    description: str = ""
    details: Any = None


@dataclass(frozen=True, kw_only=True)
class Dropped:
    """A frame to ignore (it is logged), because OCPP-J allows no answer to it."""

    reason: str


def check_frame(raw: str | bytes) -> Frame | FrameError | Dropped:
    """Decide whether a raw frame can be routed, must be answered with a CALLERROR, or dropped."""
    message, problem = _decode(raw)
    readable = _readable_id(message)
    unique_id = readable or UNREADABLE_ID
    if isinstance(raw, bytes):
        return FrameError(
            unique_id=unique_id, code="RpcFrameworkError", description="OCPP-J frames must be text frames, not binary"
        )
    if problem:
        return FrameError(unique_id=unique_id, code="RpcFrameworkError", description=problem)
    if not isinstance(message, list) or not message:
        return FrameError(unique_id=unique_id, code="RpcFrameworkError", description="Frame is not a JSON array")
    message_type = message[0]
    if not isinstance(message_type, int) or isinstance(message_type, bool):
        return FrameError(unique_id=unique_id, code="RpcFrameworkError", description="MessageTypeId is not a number")
    if readable is None:  # a message id of "-1" is a readable one
        if message_type in (CALLRESULT, CALLERROR):
            return Dropped(reason="answer without a readable message id")
        return FrameError(
            unique_id=unique_id,
            code="RpcFrameworkError",
            description="MessageId is missing or not a string of at most 36 characters",
        )
    if message_type == CALL:
        return _call(message, unique_id)
    if message_type == CALLRESULT:
        return _call_result(message, unique_id)
    if message_type == CALLERROR:
        return _call_error(message, unique_id)
    return FrameError(
        unique_id=unique_id,
        code="MessageTypeNotSupported",
        description=f"MessageTypeId {message_type} is not supported",
    )


def _decode(raw: str | bytes) -> tuple[Any, str]:
    """The decoded JSON of a frame and ``""``, or ``None`` and what is wrong with it."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        return None, "Frame is not valid JSON"
    try:
        return _DECODER.decode(text), ""
    except ValueError:
        return None, "Frame is not valid JSON"
    except RecursionError:
        return None, "Frame is nested too deeply to be read"


def _call(message: list[Any], unique_id: str) -> Frame | FrameError:
    """A CALL ``[2, messageId, action, payload]``, or the CALLERROR its shape earns."""
    if len(message) != 4 or not isinstance(message[2], str):
        return FrameError(
            unique_id=unique_id, code="RpcFrameworkError", description="A CALL must be [2, messageId, action, payload]"
        )
    if not isinstance(message[3], dict):
        return FrameError(unique_id=unique_id, code="FormatViolation", description="CALL payload must be a JSON object")
    if _deeper_than(message[3], MAX_DEPTH):
        return FrameError(
            unique_id=unique_id,
            code="FormatViolation",
            description=f"CALL payload is nested deeper than {MAX_DEPTH} levels",
        )
    return Frame(message_type=CALL, unique_id=unique_id, action=message[2], payload=message[3])


def _call_result(message: list[Any], unique_id: str) -> Frame | Dropped:
    """A CALLRESULT ``[3, messageId, payload]``; a malformed one is dropped (no answer to an answer)."""
    if len(message) != 3 or not isinstance(message[2], dict):
        return Dropped(reason="CALLRESULT must be [3, messageId, payload]")
    if _deeper_than(message[2], MAX_DEPTH):
        return Dropped(reason=f"CALLRESULT payload nested deeper than {MAX_DEPTH} levels")
    return Frame(message_type=CALLRESULT, unique_id=unique_id, payload=message[2])


def _call_error(message: list[Any], unique_id: str) -> Frame | Dropped:
    """A CALLERROR ``[4, messageId, errorCode, errorDescription, errorDetails]``; a malformed one is dropped."""
    if len(message) != 5 or not isinstance(message[2], str):
        return Dropped(reason="CALLERROR must be [4, messageId, errorCode, errorDescription, errorDetails]")
    if _deeper_than(message[4], MAX_DEPTH):
        return Dropped(reason=f"CALLERROR details nested deeper than {MAX_DEPTH} levels")
    return Frame(
        message_type=CALLERROR,
        unique_id=unique_id,
        payload=message[2],
        description=str(message[3]),
        details=message[4],
    )


def _deeper_than(node: object, limit: int) -> bool:
    """True when arrays/objects in ``node`` nest more than ``limit`` levels (iterative: no recursion)."""
    stack: list[tuple[object, int]] = [(node, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _readable_id(message: object) -> str | None:
    """The message id of a decoded frame, None when it has none that OCPP-J allows."""
    if isinstance(message, list) and len(message) >= 2:
        unique_id = message[1]
        if isinstance(unique_id, str) and 0 < len(unique_id) <= MAX_ID_LENGTH:
            return unique_id
    return None


#: Which CALLERROR a schema violation gets (OCPP-J 2.0.1 table of error codes).
_SCHEMA_ERROR_CODES: dict[str, str] = {
    "required": "OccurrenceConstraintViolation",
    "minItems": "OccurrenceConstraintViolation",
    "maxItems": "OccurrenceConstraintViolation",
    "type": "TypeConstraintViolation",
    "maxLength": "TypeConstraintViolation",
    "minLength": "TypeConstraintViolation",
    "enum": "PropertyConstraintViolation",
    "minimum": "PropertyConstraintViolation",
    "maximum": "PropertyConstraintViolation",
    "additionalProperties": "FormatViolation",
}

#: Violations that lenient mode repairs by dropping the offending optional field.
_DROPPABLE = frozenset(
    {"enum", "maxLength", "minLength", "type", "minimum", "maximum", "additionalProperties", "format", "pattern"}
)


@dataclass(frozen=True, kw_only=True)
class Checked:
    """A CALL payload that may be handled, with the fields that were dropped to make it valid."""

    payload: dict[str, Any]
    dropped: list[str] = field(default_factory=list)


class PayloadError(Exception):
    """A CALL payload that breaks the schema and cannot be repaired."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def check_payload(action: str, payload: dict[str, Any], *, lenient: bool) -> Checked:
    """Validate a CALL payload against the OCPP 2.0.1 schema of ``action``.

    In lenient mode, fields that break the schema are dropped (a vendor quirk
    must not cost the whole message) as long as what remains is valid; the
    dropped paths are returned so the caller can log them. Raises
    :class:`PayloadError` with the OCPP-J error code otherwise.
    """
    if _fast_validator(action)(payload):
        return Checked(payload=payload)
    validator = get_validator(CALL, action, "2.0.1")
    errors = list(validator.iter_errors(payload))
    if not errors:
        return Checked(payload=payload)
    first = min(errors, key=lambda e: len(e.path))
    if lenient and all(e.validator in _DROPPABLE for e in errors):
        repaired = copy.deepcopy(payload)
        dropped = sorted(set(_drop(repaired, errors)))
        if dropped and not any(True for _ in validator.iter_errors(repaired)):
            return Checked(payload=repaired, dropped=dropped)
    code = _SCHEMA_ERROR_CODES.get(str(first.validator), "FormatViolation")
    where = "/".join(str(p) for p in first.path) or "payload"
    raise PayloadError(code, f"{action}: {where}: {violation(first)}"[:255])


def violation(error: SchemaError) -> str:
    """What a schema violation is, in words that never quote the offending value (it may be an idToken).

    The schema's own message (``'RFID-4711...' is too long``) repeats the
    value; this one names only the rule and its limit, which come from the schema.
    """
    rule, limit = str(error.validator), error.validator_value
    if rule == "required":
        return str(error.message)  # names the missing property, from the schema
    if rule == "enum" and isinstance(limit, list):
        return "is not one of " + ", ".join(str(v) for v in limit)
    texts = {
        "type": f"is not of type {limit}",
        "maxLength": f"is longer than {limit} characters",
        "minLength": f"is shorter than {limit} characters",
        "minimum": f"is less than the minimum of {limit}",
        "maximum": f"is more than the maximum of {limit}",
        "minItems": f"has fewer than {limit} items",
        "maxItems": f"has more than {limit} items",
        "additionalProperties": "has properties the schema does not allow",
    }
    return texts.get(rule, f"breaks the schema rule {rule}")


@functools.cache
def _fast_validator(action: str) -> Callable[[object], bool]:
    """A compiled check of the schema of ``action`` that only says valid or not (about 20 times faster).

    It judges exactly like the library's validator (Draft 4 rules, formats not checked), so a
    payload it accepts is one the library accepts; anything else goes to the library's validator,
    which names the violation.
    """
    schema = get_validator(CALL, action, "2.0.1").schema
    validate = fastjsonschema.compile(
        {**schema, "$schema": "http://json-schema.org/draft-04/schema#"},
        use_formats=False,
        detailed_exceptions=False,
    )

    def is_valid(payload: object) -> bool:
        try:
            validate(payload)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return is_valid


def _drop(payload: dict[str, Any], errors: Iterable[SchemaError]) -> Iterable[str]:
    """Remove the nodes the errors point at (deepest first); yield their paths."""
    for error in sorted(errors, key=lambda e: len(e.path), reverse=True):
        path = list(error.path)
        if error.validator == "additionalProperties":
            node = _resolve(payload, path)
            allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
            if isinstance(node, dict):
                for key in [k for k in node if k not in allowed]:
                    del node[key]
                    yield "/".join(str(p) for p in [*path, key])
            continue
        if not path:
            continue
        parent = _resolve(payload, path[:-1])
        leaf = path[-1]
        if isinstance(parent, dict) and leaf in parent:
            del parent[leaf]
            yield "/".join(str(p) for p in path)
        elif isinstance(parent, list) and isinstance(leaf, int) and leaf < len(parent):
            parent[leaf] = None
            yield "/".join(str(p) for p in path)
    _compact_lists(payload)


def _resolve(node: Any, path: list[Any]) -> Any:
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _compact_lists(node: Any) -> None:
    """Remove the ``None`` placeholders left where list items were dropped."""
    if isinstance(node, dict):
        for value in node.values():
            _compact_lists(value)
    elif isinstance(node, list):
        node[:] = [item for item in node if item is not None]
        for item in node:
            _compact_lists(item)

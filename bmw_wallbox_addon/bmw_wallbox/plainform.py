"""Plain dataclasses (text, numbers, flags, their lists and maps) read back from their saved JSON form.

Part of the state model: imports nothing of ours and does no I/O. :func:`plain`
refuses a value of the wrong kind or size, so a damaged file cannot put one into the model.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import fields
from typing import Any

#: Bounds of the plain numbers a saved part may hold (capabilities, limits).
MAX_PLAIN_NUMBER = 1e9


def _plain_ok(value: object, hint: object) -> bool:
    """Whether ``value`` fits a plain field's type: str, int, float, bool, their optionals, lists and dicts of them."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType):
        return any(_plain_ok(value, arg) for arg in args)
    origin = typing.get_origin(hint) or hint
    if origin is list:
        return isinstance(value, list) and len(value) <= 1000 and all(_plain_ok(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and len(value) <= 1000 and all(_plain_ok(v, args[1]) for v in value.values())
    if origin is type(None):
        return value is None
    if origin is bool or isinstance(value, bool):
        return origin is bool and isinstance(value, bool)
    if origin is int:
        return isinstance(value, int) and abs(value) <= MAX_PLAIN_NUMBER
    if origin is float:
        return isinstance(value, (int, float)) and math.isfinite(value) and abs(value) <= MAX_PLAIN_NUMBER
    return origin is str and isinstance(value, str) and len(value) <= 1000


def plain(cls: type[Any], data: object) -> Any:
    """A dataclass of plain fields from its saved form; a value of the wrong kind or size raises TypeError."""
    if not isinstance(data, dict):
        raise TypeError(f"expected an object, found {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for item in fields(cls):
        if item.name in data:
            value = data[item.name]
            if not _plain_ok(value, hints[item.name]):
                raise TypeError(f"{item.name} is {type(value).__name__} of the wrong kind or size")
            values[item.name] = float(value) if hints[item.name] == float | None and value is not None else value
    return cls(**values)

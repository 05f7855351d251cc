"""Typed entry points into the ``ocpp`` library, which ships no type information.

Everything the simulator takes from ``ocpp`` passes through this module, so the
``type: ignore`` comments live in one place. Library objects (payload dataclasses,
enums) stay ``Any`` to mypy; the aliases below say what such a value is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ocpp.charge_point import (  # type: ignore[import-untyped, unused-ignore]
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError  # type: ignore[import-untyped, unused-ignore]
from ocpp.exceptions import OCPPError  # type: ignore[import-untyped, unused-ignore]
from ocpp.messages import Call  # type: ignore[import-untyped, unused-ignore]
from ocpp.routing import on as _on  # type: ignore[import-untyped, unused-ignore]
from ocpp.v201 import (  # type: ignore[import-untyped, unused-ignore]
    ChargePoint,
    call,
    call_result,
    datatypes,
    enums,
)

__all__ = [
    "ChargePoint",
    "OCPPError",
    "OcppNotImplementedError",
    "OcppRequest",
    "call",
    "call_error_frame",
    "call_result",
    "datatypes",
    "enums",
    "on",
    "wire_payload",
]

#: An ``ocpp.v201.call`` dataclass instance: one charger -> CSMS request.
OcppRequest = Any

_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def on(action: str) -> Callable[[_Handler], _Handler]:
    """Mark a method as the handler of the CSMS call ``action`` (typed ``ocpp.routing.on``)."""
    decorator: Callable[[_Handler], _Handler] = _on(action)
    return decorator


def wire_payload(request: OcppRequest) -> dict[str, Any]:
    """Return ``request`` as the camelCase JSON object the library puts on the wire."""
    payload: dict[str, Any] = snake_to_camel_case(remove_nones(serialize_as_dict(request)))
    return payload


def call_error_frame(unique_id: str, action: str, error: Any) -> str:
    """Return the CALLERROR frame answering call ``unique_id`` with ``error`` (an ``OCPPError``)."""
    frame: str = Call(unique_id, action, {}).create_call_error(error).to_json()
    return frame

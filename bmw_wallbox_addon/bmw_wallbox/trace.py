"""The OCPP message trace: the last frames in both directions, with secrets masked.

Masked are the values under secret keys (``idToken``, ``password`` ...), the
values of secret device-model variables (``BasicAuthPassword``) wherever a
frame carries them, and every known secret value (configured passwords, the
id_token option, the Home Assistant token, the idTokens of the token list and of
tokens presented lately) wherever it appears.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: Keys whose values are secrets wherever they appear in a payload.
_SECRET_KEYS = frozenset(
    {
        "idToken",
        "additionalIdToken",
        "password",
        "basicAuthPassword",
        "certificateChain",
        "exiRequest",
        "exiResponse",
        "csr",
    }
)
#: Device-model variables whose values are secrets.
SECRET_VARIABLES = frozenset({"BasicAuthPassword", "IdentityKey"})
#: The keys that carry a variable's value, next to its ``variable`` (reports, GetVariables, SetVariables, events).
_VALUE_KEYS = frozenset({"attributeValue", "value", "actualValue"})

MASK = "***"
#: Longest frame kept in the trace, so a burst of huge frames cannot hold much memory.
MAX_FRAME_CHARS = 20000


@dataclass(frozen=True, kw_only=True)
class TraceEntry:
    """One frame: direction (``in`` from the charger, ``out`` to it), time, action and the raw frame.

    The raw frame is kept and masked only when it is read, so tracing costs
    the hot path almost nothing.
    """

    charger_id: str
    direction: str
    at: datetime
    action: str | None
    raw: str | bytes
    secrets: tuple[str, ...] = ()

    @property
    def frame(self) -> str:
        """The frame as text, with secrets masked."""
        return masked_text(self.raw, self.secrets)

    def to_json(self) -> dict[str, Any]:
        """The JSON form the panel shows."""
        return {
            "charger": self.charger_id,
            "direction": self.direction,
            "at": self.at.isoformat(),
            "action": self.action,
            "frame": self.frame,
        }


def mask_secrets(value: Any) -> Any:
    """Return a copy of a decoded frame with every secret value replaced by ``***``."""
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    if not isinstance(value, dict):
        return value
    masked: dict[str, Any] = {}
    variable = value.get("variable")
    secret_variable = isinstance(variable, dict) and variable.get("name") in SECRET_VARIABLES
    for key, item in value.items():
        if (key in _SECRET_KEYS and not isinstance(item, (dict, list))) or (secret_variable and key in _VALUE_KEYS):
            masked[key] = MASK
        elif secret_variable and key == "variableAttribute" and isinstance(item, list):
            masked[key] = [{**a, "value": MASK} if isinstance(a, dict) and "value" in a else a for a in item]
        else:
            masked[key] = mask_secrets(item)
    return masked


def masked_text(raw: str | bytes, secrets: Iterable[str] = ()) -> str:
    """The frame as text with secrets masked; frames that are not JSON are shown shortened."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        decoded = json.loads(text)
        text = json.dumps(mask_secrets(decoded), separators=(",", ":"))[:MAX_FRAME_CHARS]
    except (ValueError, RecursionError):  # RecursionError: a frame nested deeper than Python recurses
        text = text[:500]
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, MASK)
    return text


class Trace:
    """A bounded ring buffer of frames for all chargers, newest last."""

    def __init__(self, *, size: int = 500, secrets: Iterable[str] = ()) -> None:
        self._entries: deque[TraceEntry] = deque(maxlen=size)
        self._secrets = tuple(s for s in secrets if s)
        self._listeners: list[Callable[[TraceEntry], None]] = []

    def set_secrets(self, secrets: Iterable[str]) -> None:
        """Mask these values from now on (instead of the ones given before), e.g. when the token list changed."""
        self._secrets = tuple(s for s in secrets if s)

    def subscribe(self, listener: Callable[[TraceEntry], None]) -> Callable[[], None]:
        """Call ``listener(entry)`` for every frame recorded from now on; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def record(self, charger_id: str, direction: str, raw: str | bytes, action: str | None, *, at: datetime) -> None:
        """Keep one frame (masked when read; cut at ``MAX_FRAME_CHARS``)."""
        if len(raw) > MAX_FRAME_CHARS:
            raw = raw[:MAX_FRAME_CHARS]
        entry = TraceEntry(
            charger_id=charger_id, direction=direction, at=at, action=action, raw=raw, secrets=self._secrets
        )
        self._entries.append(entry)
        for listener in self._listeners:
            listener(entry)

    def entries(self, *, charger_id: str | None = None, action: str | None = None) -> list[TraceEntry]:
        """The kept frames, newest first, optionally only one charger's or one action's."""
        return [
            e
            for e in reversed(self._entries)
            if (charger_id is None or e.charger_id == charger_id) and (action is None or e.action == action)
        ]

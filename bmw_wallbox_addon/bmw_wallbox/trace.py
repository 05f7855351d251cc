"""The OCPP message trace: the last frames in both directions, with secrets masked.

Masked are the values under secret keys (``idToken``, ``password`` ...), the
values of secret device-model variables (``BasicAuthPassword``, see
:mod:`bmw_wallbox.masking`) wherever a frame carries them, and every known
secret value (configured passwords, the id_token option, the Home Assistant
token, the idTokens of the token list and of tokens presented lately) wherever
it appears. A frame that is not JSON (or cannot be read as JSON) is masked as
the log filter masks text (:func:`bmw_wallbox.logsafe.mask_text`). A frame is
always masked before it is cut: a frame longer than ``MAX_FRAME_CHARS`` is
masked when it is recorded and kept cut; shorter ones are kept as they came
and masked when read, so tracing costs the hot path almost nothing.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bmw_wallbox.logsafe import mask_text
from bmw_wallbox.masking import MASK, mask_secrets

#: Longest frame kept in the trace, so a burst of huge frames cannot hold much memory.
MAX_FRAME_CHARS = 20000
#: Characters of a frame that is not JSON shown in the trace.
MAX_MALFORMED_CHARS = 500


@dataclass(frozen=True, kw_only=True)
class TraceEntry:
    """One frame: direction (``in`` from the charger, ``out`` to it), time, action and the raw frame.

    ``raw`` is the frame as it came, or already masked and cut when it was
    longer than ``MAX_FRAME_CHARS``; :attr:`frame` masks it (again).
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


def masked_text(raw: str | bytes, secrets: Iterable[str] = (), *, limit: int = MAX_FRAME_CHARS) -> str:
    """The frame as text with secrets masked, then cut at ``limit``; text that is not JSON is cut shorter.

    A JSON frame is masked by its structure; anything else (a malformed frame,
    or one cut before) by :func:`~bmw_wallbox.logsafe.mask_text`, which finds
    secrets by their keys in plain text. Known secret values are masked in both.
    """
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        decoded = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: a frame nested deeper than Python recurses
        # Masked before it is cut, so a cut cannot part a key from its value; the work is bounded first.
        return mask_text(text[: 4 * limit], secrets)[: min(limit, MAX_MALFORMED_CHARS)]
    text = json.dumps(mask_secrets(decoded), separators=(",", ":"))
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, MASK)
    return text[:limit]


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
        """Keep one frame (masked when read; a longer one than ``MAX_FRAME_CHARS`` masked now, then cut)."""
        if len(raw) > MAX_FRAME_CHARS:
            raw = masked_text(raw, self._secrets)
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

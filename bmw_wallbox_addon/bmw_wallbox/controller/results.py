"""The honest outcome of a command, and how the JSON API maps it to HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bmw_wallbox.state import utcnow


class Outcome(StrEnum):
    """What happened to a command. Only ``accepted`` means the charger said yes."""

    ACCEPTED = "accepted"
    REBOOTING = "rebooting"
    REJECTED = "rejected"
    TIMEOUT = "timeout"
    NOT_CONNECTED = "not_connected"
    NOT_APPLICABLE = "not_applicable"
    INVALID = "invalid"
    UNKNOWN_CHARGER = "unknown_charger"


#: HTTP status of each outcome in the JSON API.
HTTP_STATUS: dict[Outcome, int] = {
    Outcome.ACCEPTED: 200,
    Outcome.REBOOTING: 202,
    Outcome.UNKNOWN_CHARGER: 404,
    Outcome.NOT_APPLICABLE: 409,
    Outcome.INVALID: 422,
    Outcome.REJECTED: 502,
    Outcome.NOT_CONNECTED: 503,
    Outcome.TIMEOUT: 504,
}


@dataclass(frozen=True, kw_only=True)
class CommandResult:
    """A command's outcome with a sentence a user can read, and details (e.g. the applied limit)."""

    command: str
    outcome: Outcome
    detail: str
    data: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=utcnow)

    @property
    def ok(self) -> bool:
        """True when the charger accepted the command."""
        return self.outcome is Outcome.ACCEPTED

    def to_json(self) -> dict[str, Any]:
        """The JSON body of the API answer."""
        return {
            "command": self.command,
            "outcome": str(self.outcome),
            "detail": self.detail,
            "at": self.at.isoformat(),
            **self.data,
        }

"""The honest outcome of a command."""

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
    NOT_SUPPORTED = "not_supported"
    INVALID = "invalid"
    UNKNOWN_CHARGER = "unknown_charger"


@dataclass(frozen=True, kw_only=True)
class CommandResult:
    """A command's outcome with a sentence a user can read, and details (e.g. the applied limit).

    ``warning`` qualifies an accepted command (a start whose limit is not
    enforced); ``curable_by_reset`` marks a refusal that a reboot of the
    charger is known to cure (every way refused with status Rejected).
    """

    command: str
    outcome: Outcome
    detail: str
    data: dict[str, Any] = field(default_factory=dict)
    warning: str | None = None
    curable_by_reset: bool = False
    at: datetime = field(default_factory=utcnow)

    @property
    def ok(self) -> bool:
        """True when the charger accepted the command."""
        return self.outcome is Outcome.ACCEPTED

    def renamed(self, command: str) -> CommandResult:
        """The same outcome reported for another command name (a coalesced or late result)."""
        return CommandResult(
            command=command,
            outcome=self.outcome,
            detail=self.detail,
            data=self.data,
            warning=self.warning,
            curable_by_reset=self.curable_by_reset,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON form: the API's answer body and the result event's data."""
        body: dict[str, Any] = {
            "command": self.command,
            "outcome": str(self.outcome),
            "detail": self.detail,
            "at": self.at.isoformat(),
            **self.data,
        }
        if self.warning is not None:
            body["warning"] = self.warning
        return body

"""The honest outcome of a command, and the one place that words the common outcomes.

Neutral ground for the controller and the token service: it imports only the
state model and the charger errors. :func:`from_error` is the one mapping
of a failed charger call to an outcome:

==========================================  ==============
The call failed with                        Outcome
==========================================  ==============
no answer within the message timeout        timeout
the connection closed                       not_connected
CALLERROR NotImplemented or NotSupported    not_supported
any other CALLERROR                         rejected
==========================================  ==============
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bmw_wallbox.errors import ChargerCallError, ChargerNotConnectedError, ChargerTimeoutError
from bmw_wallbox.state import utcnow

#: CALLERROR codes that mean "this charger does not have this at all".
UNSUPPORTED_CODES = frozenset({"NotImplemented", "NotSupported"})
#: What a charger call can fail with (see :func:`from_error`).
CALL_ERRORS = (ChargerTimeoutError, ChargerNotConnectedError, ChargerCallError)


class Outcome(StrEnum):
    """What happened to a command. Only ``accepted`` means the charger said yes."""

    ACCEPTED = "accepted"
    REBOOTING = "rebooting"
    REJECTED = "rejected"
    TIMEOUT = "timeout"
    NOT_CONNECTED = "not_connected"
    NOT_READY = "not_ready"
    NOT_APPLICABLE = "not_applicable"
    NOT_SUPPORTED = "not_supported"
    INVALID = "invalid"
    UNKNOWN_CHARGER = "unknown_charger"


@dataclass(frozen=True, kw_only=True)
class CommandResult:
    """A command's outcome with a sentence a user can read, and details (e.g. the applied limit).

    ``warning`` qualifies an accepted command (a start whose limit is not
    enforced); ``curable_by_reset`` marks a refusal that a reboot of the
    charger is known to cure (every way refused with status Rejected);
    ``retry_after_s`` says when asking again makes sense (``not_ready``).
    """

    command: str
    outcome: Outcome
    detail: str
    data: dict[str, Any] = field(default_factory=dict)
    warning: str | None = None
    curable_by_reset: bool = False
    retry_after_s: int | None = None
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
            retry_after_s=self.retry_after_s,
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


#: Runs one user command: ``runner(command, charger_id, work)`` gives ``work()`` the user-command
#: priority and deadline, records and announces its result (see :func:`bmw_wallbox.controller.commands.run_user`).
CommandRunner = Callable[[str, str, Callable[[], Awaitable[CommandResult]]], Awaitable[CommandResult]]


def unknown_charger(command: str, charger_id: str) -> CommandResult:
    """The answer for a charger id that is not configured."""
    return CommandResult(
        command=command, outcome=Outcome.UNKNOWN_CHARGER, detail=f"no charger with id {charger_id!r} is configured"
    )


def not_connected(command: str) -> CommandResult:
    """The answer while the charger is offline."""
    return CommandResult(
        command=command,
        outcome=Outcome.NOT_CONNECTED,
        detail="the charger is not connected; the desired state is kept and applied when it connects",
    )


def not_supported(command: str, code: str | None = None) -> CommandResult:
    """The answer for limit commands on a charger without smart charging (nothing is sent)."""
    why = f" (it answered {code})" if code else ""
    return CommandResult(
        command=command,
        outcome=Outcome.NOT_SUPPORTED,
        detail=f"this charger does not support current limits{why}: pause, resume and limits cannot work",
    )


def timed_out(command: str, deadline_s: float) -> CommandResult:
    """The answer when a user command's deadline passed (what was sent may still take effect)."""
    return CommandResult(
        command=command,
        outcome=Outcome.TIMEOUT,
        detail=f"no answer from the charger within {deadline_s:.0f} s; what was sent may still take effect",
    )


def from_error(command: str, err: Exception, *, mask: Callable[[str], str] = str) -> CommandResult:
    """A charger call that failed, as the command's honest result (the table in the module docstring).

    ``mask`` cleans the charger's own error text before it is shown (idTokens).
    """
    if isinstance(err, ChargerTimeoutError):
        return CommandResult(command=command, outcome=Outcome.TIMEOUT, detail=mask(str(err)))
    if isinstance(err, ChargerNotConnectedError):
        return CommandResult(command=command, outcome=Outcome.NOT_CONNECTED, detail="the connection closed")
    code = err.code if isinstance(err, ChargerCallError) else None
    outcome = Outcome.NOT_SUPPORTED if code in UNSUPPORTED_CODES else Outcome.REJECTED
    return CommandResult(command=command, outcome=outcome, detail=f"the charger answered CALLERROR {mask(str(err))}")

"""The one command table: every way in (JSON API, panel, Home Assistant events and helpers) runs commands here.

:func:`run` takes a :class:`Command`, a charger id and, for
``set_current_limit``, ``amps`` in any form a caller may have (a number, or
the text a Home Assistant template renders), checks ``amps`` with the one
parser :func:`parse_amps`, and runs the command as a *user command*: its
charger calls go before background calls, and it has one deadline of
:attr:`Controller.command_deadline_s` seconds (35 s unless set otherwise)
from the moment it arrives. When that passes, the answer is ``timeout`` (what was sent may still take effect; its
outcome is recorded when the charger answers).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from enum import StrEnum

from bmw_wallbox.controller.controller import Controller, unknown_charger
from bmw_wallbox.controller.port import USER_COMMAND
from bmw_wallbox.controller.results import CommandResult, Outcome
from bmw_wallbox.options import MIN_CURRENT_A


class Command(StrEnum):
    """What a user can ask of a charger."""

    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    RESET = "reset"
    SET_CURRENT_LIMIT = "set_current_limit"
    SET_MAX_CURRENT = "set_max_current"
    """The limit without resuming a pause (what evcc's ``maxcurrent`` means)."""


#: Commands that take no argument, as the JSON API routes and the Home Assistant buttons offer them.
SIMPLE_COMMANDS = (Command.START, Command.PAUSE, Command.RESUME, Command.STOP, Command.RESET)

_HANDLERS: dict[Command, Callable[[Controller, str], Awaitable[CommandResult]]] = {
    Command.START: Controller.start,
    Command.PAUSE: Controller.pause,
    Command.RESUME: Controller.resume,
    Command.STOP: Controller.stop,
    Command.RESET: Controller.reset,
}


_WITH_AMPS = frozenset({Command.SET_CURRENT_LIMIT, Command.SET_MAX_CURRENT})


class InvalidAmpsError(ValueError):
    """``amps`` is not a number a limit can be."""


def parse_amps(value: object) -> float:
    """A current limit in A from a number or numeric text; raises :class:`InvalidAmpsError`.

    Accepted: a finite number >= 0 (``16``, ``16.5``, ``"16"``); booleans,
    empty or non-numeric text, NaN, infinities and negatives are refused.
    """
    if isinstance(value, str):
        text = value
        try:
            value = float(text.strip())
        except ValueError:
            raise InvalidAmpsError(f"amps must be a number, not {text[:20]!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidAmpsError(f"amps must be a number, not {type(value).__name__}")
    try:
        amps = float(value)
    except OverflowError:  # an int too big for a float
        raise InvalidAmpsError("amps is far too large") from None
    if not math.isfinite(amps) or amps < 0:
        raise InvalidAmpsError(f"amps must be 0 (pause) or at least {MIN_CURRENT_A}, not {amps!r}")
    return amps


def parse_command(name: object) -> Command | None:
    """The command with this name, or None."""
    return Command(name) if name in _NAMES else None


_NAMES = frozenset(c.value for c in Command)


async def run(
    controller: Controller,
    command: Command,
    charger_id: str,
    amps: object = None,
) -> CommandResult:
    """Run one user command and return its honest outcome (``timeout`` once the controller's deadline has passed)."""
    deadline_s = controller.command_deadline_s
    state = controller.state(charger_id)
    if state is None:
        return unknown_charger(command, charger_id)
    if command in _WITH_AMPS:
        try:
            limit = parse_amps(amps)
        except InvalidAmpsError as err:
            return CommandResult(
                command=command,
                outcome=Outcome.INVALID,
                detail=f"{err}; send 0 (pause) or {MIN_CURRENT_A} to {state.max_current_a} A",
            )
    token = USER_COMMAND.set(True)
    try:
        async with asyncio.timeout(deadline_s):
            if command in _WITH_AMPS:
                return await controller.set_current_limit(
                    charger_id, limit, resume=command is Command.SET_CURRENT_LIMIT, command=command
                )
            return await _HANDLERS[command](controller, charger_id)
    except TimeoutError:
        return controller.record(
            charger_id,
            CommandResult(
                command=command,
                outcome=Outcome.TIMEOUT,
                detail=f"no answer from the charger within {deadline_s:.0f} s; what was sent may still take effect",
            ),
        )
    finally:
        USER_COMMAND.reset(token)

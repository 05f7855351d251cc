"""The one command table: every user command, whichever way it comes in, runs through :func:`run_user`.

Charging commands (:class:`Command`, from the JSON API, the panel, Home
Assistant events and helpers, MQTT and evcc) enter through :func:`run`,
which checks ``amps`` with the one parser :func:`parse_amps`. The token
service's charger commands (authorization switches, local-list pushes, the
cache clear after a block) enter through :func:`run_user` itself, handed to
it by the composition root as a :data:`~bmw_wallbox.results.CommandRunner`.

:func:`run_user` runs the command as a *user command*: its charger calls go
before background calls, and it has one deadline of
:attr:`Controller.command_deadline_s` seconds (35 s unless set otherwise)
from the moment it arrives. When that passes, the answer is ``timeout`` (what
was sent may still take effect; its outcome is recorded when the charger
answers). Every outcome for a configured charger, ``invalid`` included, is
recorded as its ``last_command`` and announced to the controller's result
listeners, the same way.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from enum import StrEnum

from bmw_wallbox.controller.controller import Controller
from bmw_wallbox.options import MIN_CURRENT_A
from bmw_wallbox.ports import USER_COMMAND
from bmw_wallbox.results import CommandResult, CommandRunner, Outcome, timed_out, unknown_charger
from bmw_wallbox.state import MAX_EVSES


class Command(StrEnum):
    """What a user can ask of a charger."""

    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    RESET = "reset"
    SET_CURRENT_LIMIT = "set_current_limit"
    """The limit; a positive one also resumes a pause."""
    SET_LIMIT_KEEP_PAUSE = "set_max_current"
    """The limit without resuming a pause (evcc's ``maxcurrent``; the wire word stays ``set_max_current``)."""


#: Commands that take no argument, as the JSON API routes and the Home Assistant buttons offer them.
SIMPLE_COMMANDS = (Command.START, Command.PAUSE, Command.RESUME, Command.STOP, Command.RESET)

_HANDLERS: dict[Command, Callable[[Controller, str, int | None], Awaitable[CommandResult]]] = {
    Command.START: Controller.start,
    Command.PAUSE: Controller.pause,
    Command.RESUME: Controller.resume,
    Command.STOP: Controller.stop,
    Command.RESET: lambda controller, charger_id, _evse_id: controller.reset(charger_id),
}


_WITH_AMPS = frozenset({Command.SET_CURRENT_LIMIT, Command.SET_LIMIT_KEEP_PAUSE})


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


class InvalidEvseError(ValueError):
    """``evse_id`` is not an EVSE id."""


def parse_evse_id(value: object) -> int | None:
    """An EVSE id: a whole number 1 .. ``MAX_EVSES`` (or its text), None for None; else :class:`InvalidEvseError`."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 3:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EVSES:
        raise InvalidEvseError(f"evse_id must be a whole number from 1 to {MAX_EVSES}")
    return value


def parse_command(name: object) -> Command | None:
    """The command with this name, or None."""
    return Command(name) if name in _NAMES else None


_NAMES = frozenset(c.value for c in Command)


async def run(
    controller: Controller,
    command: Command,
    charger_id: str,
    amps: object = None,
    *,
    evse_id: object = None,
) -> CommandResult:
    """Run one charging command and return its honest outcome (an invalid ``amps`` or ``evse_id`` is ``invalid``).

    ``evse_id`` names the EVSE (see :mod:`~bmw_wallbox.controller.evses`); a
    reset restarts the whole charger and takes none.
    """
    state = controller.state(charger_id)
    if state is None:
        return unknown_charger(command, charger_id)
    try:
        evse = parse_evse_id(evse_id)
        if evse is not None and command is Command.RESET:
            raise InvalidEvseError("a reset restarts the whole charger: send no evse_id")
        limit = parse_amps(amps) if command in _WITH_AMPS else 0.0
    except InvalidAmpsError as err:
        return await _invalid(
            controller, command, charger_id, f"{err}; send 0 (pause) or {MIN_CURRENT_A} to {state.max_current_a} A"
        )
    except InvalidEvseError as err:
        return await _invalid(controller, command, charger_id, str(err))
    if command not in _WITH_AMPS:
        return await run_user(controller, command, charger_id, lambda: _HANDLERS[command](controller, charger_id, evse))
    resume = command is Command.SET_CURRENT_LIMIT
    return await run_user(
        controller,
        command,
        charger_id,
        lambda: controller.set_current_limit(charger_id, limit, resume=resume, command=command, evse_id=evse),
    )


async def _invalid(controller: Controller, command: Command, charger_id: str, detail: str) -> CommandResult:
    """Record and return an ``invalid`` outcome."""
    return await controller.record(charger_id, CommandResult(command=command, outcome=Outcome.INVALID, detail=detail))


async def run_user(
    controller: Controller, command: str, charger_id: str, work: Callable[[], Awaitable[CommandResult]]
) -> CommandResult:
    """Run ``work()`` as a user command (priority, one deadline); a missed deadline is recorded as ``timeout``.

    ``work`` records its own outcome through :meth:`Controller.record` (the
    controller's commands do; :func:`runner` wraps the token service's).
    """
    deadline_s = controller.command_deadline_s
    if controller.state(charger_id) is None:
        return unknown_charger(command, charger_id)
    token = USER_COMMAND.set(True)
    try:
        async with asyncio.timeout(deadline_s):
            return await work()
    except TimeoutError:
        return await controller.record(charger_id, timed_out(command, deadline_s))
    finally:
        USER_COMMAND.reset(token)


def runner(controller: Controller) -> CommandRunner:
    """The :data:`~bmw_wallbox.results.CommandRunner` for commands from outside the controller (the token service).

    Their ``work`` returns an outcome without recording it; the runner records it like the controller's own.
    """

    async def run_recorded(
        command: str, charger_id: str, work: Callable[[], Awaitable[CommandResult]]
    ) -> CommandResult:
        async def recorded() -> CommandResult:
            return await controller.record(charger_id, await work())

        return await run_user(controller, command, charger_id, recorded)

    return run_recorded

"""Charging control: desired state, charging profiles, commands with honest results."""

from bmw_wallbox.controller.commands import (
    SIMPLE_COMMANDS,
    Command,
    parse_amps,
    parse_command,
    run,
    run_user,
    runner,
)
from bmw_wallbox.controller.controller import COMMAND_DEADLINE_S, Controller
from bmw_wallbox.results import CommandResult, Outcome

__all__ = [
    "COMMAND_DEADLINE_S",
    "SIMPLE_COMMANDS",
    "Command",
    "CommandResult",
    "Controller",
    "Outcome",
    "parse_amps",
    "parse_command",
    "run",
    "run_user",
    "runner",
]

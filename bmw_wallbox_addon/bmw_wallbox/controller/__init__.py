"""Charging control: desired state, charging profiles, commands with honest results."""

from bmw_wallbox.controller.controller import Controller
from bmw_wallbox.controller.results import HTTP_STATUS, CommandResult, Outcome

__all__ = ["HTTP_STATUS", "CommandResult", "Controller", "Outcome"]

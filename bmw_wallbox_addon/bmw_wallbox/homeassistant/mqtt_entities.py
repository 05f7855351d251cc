"""The controls and the event entity of a charger in Home Assistant through MQTT, declared once as data.

The sensors and binary sensors are :data:`bmw_wallbox.homeassistant.entities.ENTITIES`;
this module adds what only MQTT can offer: a number, a switch and buttons that
Home Assistant sends commands through, and an event entity. Each control says
how a payload from Home Assistant becomes a command of the one command table
(:func:`bmw_wallbox.controller.run`), so adding a control means adding a description.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bmw_wallbox.controller import Command
from bmw_wallbox.homeassistant.entities import Category, StateValue
from bmw_wallbox.state import ChargerState

ControlPlatform = Literal["number", "switch", "button"]
#: What a payload asks for: the command and its ``amps`` (None for commands without one).
CommandRequest = tuple[Command, object]

#: The payloads of Home Assistant's MQTT switch and button (their defaults).
ON, OFF, PRESS = "ON", "OFF", "PRESS"
#: The event entity's event types: sessions, and every command's outcome (from anywhere).
EVENT_TYPES = ("session_started", "session_ended", "command_result")


@dataclass(frozen=True, kw_only=True)
class ControlDescription:
    """One control of a charger.

    ``command_fn(charger, payload)`` turns what Home Assistant sent into the
    command to run, or None when the payload means nothing (it is logged and
    ignored). ``value_fn`` is the state a number or switch shows (buttons have
    none). ``range_fn`` gives a number's (min, max, step). With
    ``needs_connection`` the control is unavailable while the charger is offline;
    without it (the default) it stays usable, and what it sets is applied when
    the charger connects.
    """

    key: str
    name: str
    platform: ControlPlatform
    icon: str
    unit: str | None = None
    device_class: str | None = None
    category: Category | None = None
    needs_connection: bool = False
    value_fn: Callable[[ChargerState], StateValue] | None = None
    range_fn: Callable[[ChargerState], tuple[float, float, float]] | None = None
    command_fn: Callable[[ChargerState, str], CommandRequest | None]


def enable_command(charger: ChargerState) -> Command:
    """What "charge" means now: start a session when a car waits without one, else resume (the session stays open)."""
    evse = charger.main_evse
    if evse.transaction is None and evse.car_present:
        return Command.START
    return Command.RESUME


def _switch(charger: ChargerState, payload: str) -> CommandRequest | None:
    if payload == ON:
        return enable_command(charger), None
    return (Command.PAUSE, None) if payload == OFF else None


def _button(command: Command) -> Callable[[ChargerState, str], CommandRequest | None]:
    return lambda charger, payload: (command, None) if payload == PRESS else None


#: Every control of a charger.
CONTROLS: tuple[ControlDescription, ...] = (
    ControlDescription(
        key="limit", name="Current limit", platform="number", icon="mdi:current-ac", unit="A",
        device_class="current", value_fn=lambda c: c.desired.target_a,
        range_fn=lambda c: (0.0, float(c.max_current_a), 1.0),
        command_fn=lambda c, payload: (Command.SET_CURRENT_LIMIT, payload),
    ),
    ControlDescription(
        key="charging_enabled", name="Charging enabled", platform="switch", icon="mdi:ev-station",
        value_fn=lambda c: not c.desired.paused, command_fn=_switch,
    ),
    ControlDescription(
        key="start", name="Start", platform="button", icon="mdi:play", needs_connection=True,
        command_fn=_button(Command.START),
    ),
    ControlDescription(
        key="stop", name="Stop", platform="button", icon="mdi:stop", needs_connection=True,
        command_fn=_button(Command.STOP),
    ),
    ControlDescription(
        key="reboot", name="Reboot", platform="button", icon="mdi:restart", device_class="restart", category="config",
        needs_connection=True, command_fn=_button(Command.RESET),
    ),
)  # fmt: skip

"""The controls of a charger in Home Assistant, declared once as data: a number, a switch and buttons.

Each :class:`ControlDescription` says what the control shows and which
command of the one command table (:func:`bmw_wallbox.controller.run`) it
sends. Both transports derive their controls from :data:`CONTROLS`, with the
same names: the REST API as input helpers (``input_number``, ``input_button``;
it has no switch: its Pause and Resume buttons do that job), MQTT as number,
switch and buttons. Adding a control means adding a description.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bmw_wallbox.controller import Command
from bmw_wallbox.homeassistant.model.entities import Category
from bmw_wallbox.homeassistant.model.values import StateValue
from bmw_wallbox.state import ChargerState

ControlPlatform = Literal["number", "switch", "button"]
#: What a control asks for: the command and its ``amps`` (None for commands without one).
CommandRequest = tuple[Command, object]
#: What a user did to a control: pressed a button (None), moved a number (its value as sent), turned a switch (bool).
ControlInput = object


@dataclass(frozen=True, kw_only=True)
class ControlDescription:
    """One control of a charger.

    ``key`` names it in MQTT topics and unique ids; its entity id comes from
    ``name`` (``number.bmw_wallbox_current_limit``). A button sends ``command``;
    a number sends ``command`` with the value as ``amps`` (checked by the command
    table); a switch sends :func:`enable_command` when turned on and ``command``
    when turned off. ``value_fn`` is what a number or switch shows (buttons show
    none); ``range_fn`` a number's (min, max, step). With ``needs_connection``
    the control is unavailable while the charger is offline; without it (the
    default) it stays usable, and what it sets is applied when the charger
    connects. ``former_names`` are names it had before (a helper of that name is
    still ours).
    """

    key: str
    name: str
    platform: ControlPlatform
    icon: str
    command: Command
    unit: str | None = None
    device_class: str | None = None
    category: Category | None = None
    needs_connection: bool = False
    value_fn: Callable[[ChargerState], StateValue] | None = None
    range_fn: Callable[[ChargerState], tuple[float, float, float]] | None = None
    former_names: tuple[str, ...] = ()

    def request(self, charger: ChargerState, value: ControlInput = None) -> CommandRequest:
        """The command a press (None), a number's value or a switch position (bool) asks for."""
        if self.platform == "number":
            return self.command, value
        if self.platform == "switch" and value is True:
            return enable_command(charger), None
        return self.command, None


def enable_command(charger: ChargerState, evse_id: int | None = None) -> Command:
    """What "charge" means now: start a session when a car waits without one, else resume (the session stays open).

    With ``evse_id``, on that EVSE (one the charger does not have: resume, which the command table refuses).
    """
    evse = charger.main_evse if evse_id is None else charger.evses.get(evse_id)
    if evse is not None and evse.transaction is None and evse.car_present:
        return Command.START
    return Command.RESUME


#: Every control of a charger; the desired limit (0 while paused) is the number, the applied one a sensor.
CONTROLS: tuple[ControlDescription, ...] = (
    ControlDescription(
        key="limit", name="Current limit", platform="number", icon="mdi:current-ac", unit="A",
        device_class="current", command=Command.SET_CURRENT_LIMIT, value_fn=lambda c: c.desired.target_a,
        range_fn=lambda c: (0.0, float(c.max_current_a), 1.0),
    ),
    ControlDescription(
        key="charging_enabled", name="Charging enabled", platform="switch", icon="mdi:ev-station",
        command=Command.PAUSE, value_fn=lambda c: not c.desired.paused,
    ),
    ControlDescription(
        key="start", name="Start", platform="button", icon="mdi:play", command=Command.START, needs_connection=True,
    ),
    ControlDescription(key="pause", name="Pause", platform="button", icon="mdi:pause", command=Command.PAUSE),
    ControlDescription(key="resume", name="Resume", platform="button", icon="mdi:play-pause", command=Command.RESUME),
    ControlDescription(
        key="stop", name="Stop", platform="button", icon="mdi:stop", command=Command.STOP, needs_connection=True,
    ),
    ControlDescription(
        key="reboot", name="Reboot", platform="button", icon="mdi:restart", command=Command.RESET,
        device_class="restart", category="config", needs_connection=True, former_names=("Reset",),
    ),
)  # fmt: skip

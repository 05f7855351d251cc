"""The controls of a charger in Home Assistant, declared once as data: a number, a switch and buttons.

Each :class:`ControlDescription` says what the control shows and which
command of the one command table (:func:`bmw_wallbox.controller.run`) it
sends. Both transports derive their controls from :data:`CONTROLS`, with the
same names: the REST API as input helpers (``input_number``, ``input_button``;
it has no switch: its Pause and Resume buttons do that job), MQTT as number,
switch and buttons. Adding a control means adding a description.

A charger with several EVSEs has, besides, the same controls for each EVSE
(:func:`evse_controls`, all but Reboot, which restarts the whole charger):
"EVSE 2 current limit", "EVSE 2 charging enabled", "EVSE 2 start", ... with
keys ``evse2_limit``, ``evse2_charging_enabled``, ``evse2_start`` ...; they send
the same commands with that ``evse_id``. :func:`charger_controls` is every
control of one charger now.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bmw_wallbox.controller import Command
from bmw_wallbox.homeassistant.model.entities import Category
from bmw_wallbox.homeassistant.model.evses import evse_ids
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
    still ours). ``evse_id`` names the EVSE its commands are for (None: the charger).
    """

    key: str
    name: str
    platform: ControlPlatform
    icon: str
    command: Command
    #: The EVSE the control acts on (None: the charger).
    evse_id: int | None = None
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
            return enable_command(charger, self.evse_id), None
        return self.command, None


def enable_command(charger: ChargerState, evse_id: int | None = None) -> Command:
    """What "charge" means now: start a session when a car waits without one, else resume (the session stays open).

    With ``evse_id``, on that EVSE (one the charger does not have: resume, which the command table refuses).
    """
    evse = charger.main_evse if evse_id is None else charger.evses.get(evse_id)
    if evse is not None and evse.transaction is None and evse.car_present:
        return Command.START
    return Command.RESUME


def _target(charger: ChargerState, evse_id: int | None) -> float:
    """The desired limit of the charger (or of one EVSE): 0 while paused."""
    return charger.desired.target_a if evse_id is None else charger.evse_target_a(evse_id)


def _enabled(charger: ChargerState, evse_id: int | None) -> bool:
    return not (charger.desired.paused if evse_id is None else charger.is_paused(evse_id))


def _controls(evse_id: int | None) -> tuple[ControlDescription, ...]:
    """The controls of the charger (``evse_id`` None) or of one of its EVSEs (without Reboot)."""
    n = evse_id
    key = "" if n is None else f"evse{n}_"

    def name(words: str) -> str:  # "Current limit", or "EVSE 2 current limit"
        return words if n is None else f"EVSE {n} {words.lower()}"

    controls = (
        ControlDescription(
            key=f"{key}limit", name=name("Current limit"), platform="number", icon="mdi:current-ac", unit="A",
            device_class="current", command=Command.SET_CURRENT_LIMIT, evse_id=n, value_fn=lambda c: _target(c, n),
            range_fn=lambda c: (0.0, float(c.max_current_a), 1.0),
        ),
        ControlDescription(
            key=f"{key}charging_enabled", name=name("Charging enabled"), platform="switch", icon="mdi:ev-station",
            command=Command.PAUSE, evse_id=n, value_fn=lambda c: _enabled(c, n),
        ),
        *(
            ControlDescription(
                key=f"{key}{word.lower()}", name=name(word), platform="button", icon=icon, command=command,
                needs_connection=command in (Command.START, Command.STOP), evse_id=n,
            )
            for word, icon, command in (
                ("Start", "mdi:play", Command.START),
                ("Pause", "mdi:pause", Command.PAUSE),
                ("Resume", "mdi:play-pause", Command.RESUME),
                ("Stop", "mdi:stop", Command.STOP),
            )
        ),
    )  # fmt: skip
    if n is not None:
        return controls
    reboot = ControlDescription(
        key="reboot", name="Reboot", platform="button", icon="mdi:restart", command=Command.RESET,
        device_class="restart", category="config", needs_connection=True, former_names=("Reset",),
    )  # fmt: skip
    return (*controls, reboot)


#: Every control of a charger; the desired limit (0 while paused) is the number, the applied one a sensor.
CONTROLS: tuple[ControlDescription, ...] = _controls(None)


@functools.cache
def evse_controls(evse_id: int) -> tuple[ControlDescription, ...]:
    """The controls of EVSE ``evse_id`` of a charger with several (see the module docstring); made once per EVSE."""
    return _controls(evse_id)


def charger_controls(charger: ChargerState) -> tuple[ControlDescription, ...]:
    """Every control of this charger now: the charger's, and each EVSE's when it has several."""
    return (*CONTROLS, *(control for n in evse_ids(charger) for control in evse_controls(n)))

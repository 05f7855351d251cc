"""Plain MQTT topics for evcc's custom charger, decided without I/O.

Under ``<base>/<node>/evcc/`` (retained, updated when they change):

- ``status``: ``A`` no car, ``B`` car connected, not charging, ``C`` charging,
  ``F`` the charger is offline or reports a fault (evcc then shows an error);
- ``enabled``: ``true`` unless charging is paused;
- ``power``: active power in W (``0`` when unknown);
- ``energy``: the lifetime energy register in kWh (``0`` when unknown);
- ``currents``: ``[L1, L2, L3]`` in A as JSON (``0`` for a phase without a reading).

Commands in: ``.../evcc/enable/set`` (``true``/``false``, also ``1``/``0``,
``on``/``off``): pause or resume, the session stays open (start when a car
waits without a session); ``.../evcc/maxcurrent/set`` (A): the limit for
when charging is enabled, through the command table's ``set_max_current``
(0 pauses, 1 to 5 A become 6 A; it never resumes a pause: only ``enable``
does). Quick toggles are coalesced by the controller like any other command.
Values go through the one formatter with :data:`EVCC_WORDS`; no payload is ever
``nan`` or ``inf``.
"""

from __future__ import annotations

import math

from bmw_wallbox.controller import Command
from bmw_wallbox.homeassistant.model.controls import CommandRequest, enable_command
from bmw_wallbox.homeassistant.model.entities import car_state
from bmw_wallbox.homeassistant.model.values import Words, format_value, json_text
from bmw_wallbox.homeassistant.mqtt.discovery import Topics
from bmw_wallbox.state import ChargerState, ConnectorStatus, kwh

#: evcc's status letters for the charge status sensor's states.
STATUS_LETTERS = {"disconnected": "A", "connected": "B", "charging": "C"}
#: The commands evcc sends, by the name in ``.../evcc/<name>/set``.
COMMANDS = ("enable", "maxcurrent")
#: evcc's words: a number it cannot get is 0.
EVCC_WORDS = Words(unknown="0", on="true", off="false")
_TRUE = frozenset({"true", "1", "on"})
_FALSE = frozenset({"false", "0", "off"})


def evcc_topic(topics: Topics, name: str) -> str:
    """``<base>/<node>/evcc/<name>``."""
    return f"{topics.base}/{topics.node}/evcc/{name}"


def status_letter(charger: ChargerState) -> str:
    """evcc's charger status: A, B, C, or F while the charger is offline or faulted."""
    if not charger.connected or charger.main_evse.connector_status is ConnectorStatus.FAULTED:
        return "F"
    return STATUS_LETTERS[car_state(charger)]


def render_evcc(charger: ChargerState, topics: Topics) -> dict[str, str]:
    """Every evcc topic of one charger and its payload now."""
    meter = charger.main_evse.meter
    phases = meter.current_phases_a
    currents = [phases.get(phase, 0.0) for phase in ("L1", "L2", "L3")]
    if not phases and meter.current_a is not None:
        currents = [meter.current_a, 0.0, 0.0]
    currents = [round(value, 2) if math.isfinite(value) else 0.0 for value in currents]
    return {
        evcc_topic(topics, "status"): status_letter(charger),
        evcc_topic(topics, "enabled"): format_value(not charger.desired.paused, None, EVCC_WORDS),
        evcc_topic(topics, "power"): _number(meter.power_w if charger.connected else 0.0),
        evcc_topic(topics, "energy"): _number(kwh(meter.energy_wh)),
        evcc_topic(topics, "currents"): json_text(currents if charger.connected else [0.0] * 3),
    }


def _number(value: float | None) -> str:
    """A number as evcc reads it: rounded to 3 decimals, 0 when unknown or not finite."""
    return format_value(value if value is None else float(value), 3, EVCC_WORDS)


def evcc_command(topic: str, topics: Topics) -> str | None:
    """The evcc command name of a ``.../evcc/<name>/set`` topic of this charger, or None."""
    prefix = evcc_topic(topics, "")
    if not (topic.startswith(prefix) and topic.endswith("/set")):
        return None
    name = topic[len(prefix) : -len("/set")]
    return name if name in COMMANDS else None


def parse_evcc(name: str, payload: str, charger: ChargerState) -> CommandRequest | None:
    """The command an evcc message asks for, or None when its payload means nothing."""
    text = payload.strip().lower()
    if name == "enable":
        if text in _TRUE:
            return enable_command(charger), None
        return (Command.PAUSE, None) if text in _FALSE else None
    return (Command.SET_LIMIT_KEEP_PAUSE, text) if text else None

"""Plain MQTT topics for evcc's custom charger, decided without I/O.

Under ``<base>/<node>/evcc/`` (retained, updated when they change), the charger
as a whole:

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

A charger with several EVSEs has, besides, the same topics for each EVSE under
``.../evcc/evse<n>/`` (each EVSE is one evcc charger): that EVSE's status,
pause, power, register and currents, and ``.../evcc/evse<n>/enable/set`` and
``.../evcc/evse<n>/maxcurrent/set`` act on that EVSE alone (its own pause and
limit, under the charger's). The charger's own topics are then the sums of its
EVSEs (status: the most of them, ``C`` over ``B`` over ``A``), and its commands
act on the charger as a whole.

Values go through the one formatter with :data:`EVCC_WORDS`; no payload is ever
``nan`` or ``inf``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from bmw_wallbox.controller import Command
from bmw_wallbox.evse_state import EvseState, total
from bmw_wallbox.homeassistant.model.controls import CommandRequest, enable_command
from bmw_wallbox.homeassistant.model.entities import evse_car_state
from bmw_wallbox.homeassistant.model.evses import evse_ids
from bmw_wallbox.homeassistant.model.values import Words, format_value, json_text
from bmw_wallbox.homeassistant.mqtt.discovery import Topics
from bmw_wallbox.state import MAX_EVSES, ChargerState, ConnectorStatus, kwh

#: evcc's status letters for the charge status sensor's states, weakest first.
STATUS_LETTERS = {"disconnected": "A", "connected": "B", "charging": "C"}
#: The commands evcc sends, by the name in ``.../evcc/<name>/set``.
COMMANDS = ("enable", "maxcurrent")
#: evcc's words: a number it cannot get is 0.
EVCC_WORDS = Words(unknown="0", on="true", off="false")
#: The level of an EVSE's own topics: ``evse<n>``.
EVSE_SCOPE = "evse"
PHASES = ("L1", "L2", "L3")
_TRUE = frozenset({"true", "1", "on"})
_FALSE = frozenset({"false", "0", "off"})
_EVSE_NUMBERS = frozenset(str(n) for n in range(1, MAX_EVSES + 1))


@dataclass(frozen=True)
class EvccCommand:
    """An evcc command topic of one charger: the command's name and the EVSE it names (None: the charger)."""

    name: str
    evse_id: int | None = None


def evcc_topic(topics: Topics, name: str, evse_id: int | None = None) -> str:
    """``<base>/<node>/evcc/<name>``, or ``<base>/<node>/evcc/evse<n>/<name>`` for EVSE ``n``."""
    scope = "" if evse_id is None else f"{EVSE_SCOPE}{evse_id}/"
    return f"{topics.base}/{topics.node}/evcc/{scope}{name}"


def _letter(evse: EvseState) -> str:
    return "F" if evse.connector_status is ConnectorStatus.FAULTED else STATUS_LETTERS[evse_car_state(evse)]


def status_letter(charger: ChargerState, evse_id: int | None = None) -> str:
    """evcc's status of the charger (or of one EVSE): A, B, C, or F while offline or faulted.

    The charger as a whole is F when every EVSE is faulted, else the most of its other EVSEs' letters.
    """
    if not charger.connected:
        return "F"
    if evse_id is not None:
        return _letter(charger.evse(evse_id))
    letters = [_letter(evse) for evse in charger.evses.values()] or [_letter(charger.main_evse)]
    working = [letter for letter in letters if letter != "F"]
    return max(working) if working else "F"


def _currents(evses: Iterable[EvseState]) -> list[float]:
    """The currents per phase summed over ``evses`` (an EVSE with only a total current counts it on L1)."""
    sums = [0.0, 0.0, 0.0]
    for evse in evses:
        meter = evse.meter
        phases = meter.current_phases_a or ({"L1": meter.current_a} if meter.current_a is not None else {})
        for index, phase in enumerate(PHASES):
            value = phases.get(phase, 0.0)
            sums[index] += value if math.isfinite(value) else 0.0
    return [round(value, 2) if math.isfinite(value) else 0.0 for value in sums]


def _payloads(
    charger: ChargerState, topics: Topics, evse_id: int | None, evses: list[EvseState], enabled: bool
) -> dict[str, str]:
    connected = charger.connected
    return {
        evcc_topic(topics, "status", evse_id): status_letter(charger, evse_id),
        evcc_topic(topics, "enabled", evse_id): format_value(enabled, None, EVCC_WORDS),
        evcc_topic(topics, "power", evse_id): _number(total(e.meter.power_w for e in evses) if connected else 0.0),
        evcc_topic(topics, "energy", evse_id): _number(kwh(total(e.meter.energy_wh for e in evses))),
        evcc_topic(topics, "currents", evse_id): json_text(_currents(evses) if connected else [0.0] * 3),
    }


def render_evcc(charger: ChargerState, topics: Topics) -> dict[str, str]:
    """Every evcc topic of one charger (and of each of its EVSEs when it has several) and its payload now."""
    evses = list(charger.evses.values()) or [charger.main_evse]
    payloads = _payloads(charger, topics, None, evses, not charger.desired.paused)
    for evse_id in evse_ids(charger):
        payloads.update(_payloads(charger, topics, evse_id, [charger.evse(evse_id)], not charger.is_paused(evse_id)))
    return payloads


def _number(value: float | None) -> str:
    """A number as evcc reads it: rounded to 3 decimals, 0 when unknown or not finite."""
    return format_value(value if value is None else float(value), 3, EVCC_WORDS)


def evcc_command(topic: str, topics: Topics) -> EvccCommand | None:
    """The evcc command of a ``.../evcc/<name>/set`` or ``.../evcc/evse<n>/<name>/set`` topic of this charger."""
    prefix = evcc_topic(topics, "")
    if not (topic.startswith(prefix) and topic.endswith("/set")):
        return None
    levels = topic[len(prefix) : -len("/set")].split("/")
    evse_id: int | None = None
    if len(levels) == 2:
        scope, number = levels[0][: len(EVSE_SCOPE)], levels[0][len(EVSE_SCOPE) :]
        if scope != EVSE_SCOPE or number not in _EVSE_NUMBERS:
            return None
        evse_id = int(number)
    elif len(levels) != 1:
        return None
    return EvccCommand(levels[-1], evse_id) if levels[-1] in COMMANDS else None


def parse_evcc(command: EvccCommand, payload: str, charger: ChargerState) -> CommandRequest | None:
    """The command an evcc message asks for (on the EVSE it names, if any), or None when its payload means nothing."""
    text = payload.strip().lower()
    if command.name == "enable":
        if text in _TRUE:
            return enable_command(charger, command.evse_id), None
        return (Command.PAUSE, None) if text in _FALSE else None
    return (Command.SET_LIMIT_KEEP_PAUSE, text) if text else None

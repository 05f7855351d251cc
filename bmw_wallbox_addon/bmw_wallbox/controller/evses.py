"""Which EVSE a command is for, decided without I/O.

A command may name its EVSE (``evse_id``). Without one, on a charger with one
EVSE the command acts as it always did. On a charger with several EVSEs:

- ``start`` picks the EVSE with a car and no session (else a paused session, which it resumes);
- ``pause`` picks the EVSE with a running session that is not paused, ``resume`` one that is paused,
  ``stop`` the one with a running session (each falls back to "the EVSE with a session" when its
  preference finds none);
- when two or more EVSEs fit, the answer is ``not_applicable`` (409) naming them; when none does,
  ``start`` and ``stop`` take the EVSE the flat snapshot shows (their usual "no car" / "no transaction"
  answers follow) and ``pause``/``resume`` act on the whole charger;
- a limit without ``evse_id`` is the charger's (None).

An ``evse_id`` the charger has not reported is ``invalid`` (422), naming the EVSEs it has.
"""

from __future__ import annotations

from dataclasses import replace

from bmw_wallbox.results import CommandResult, Outcome
from bmw_wallbox.state import ChargerState, EvseState, Setpoint

#: The charger's setpoint and each EVSE's own (limit, paused), to put back when a change cannot take effect.
Setpoints = tuple[Setpoint, dict[int, tuple[float | None, bool]]]

#: The word each command's ambiguity is described with.
_WHAT = {
    "start": "cars wait",
    "pause": "sessions run",
    "resume": "paused sessions wait",
    "stop": "sessions run",
}


def _names(evses: list[EvseState]) -> str:
    ids = [str(e.evse_id) for e in evses]
    return ", ".join(ids[:-1]) + f" and {ids[-1]}" if len(ids) > 1 else ids[0]


def known(state: ChargerState, command: str, evse_id: int) -> CommandResult | None:
    """``invalid`` when the charger has no EVSE ``evse_id`` (a charger that reported none has EVSE 1), else None."""
    if evse_id in state.evses or (evse_id == 1 and not state.evses):
        return None
    have = ", ".join(str(i) for i in sorted(state.evses)) or "1"
    return CommandResult(
        command=command,
        outcome=Outcome.INVALID,
        detail=f"this charger has no EVSE {evse_id} (its EVSEs: {have})",
        data={"evse_ids": sorted(state.evses) or [1]},
    )


def choose(state: ChargerState, command: str, evse_id: int | None) -> int | CommandResult | None:
    """The EVSE ``command`` acts on (None: the whole charger), or the outcome when that cannot be decided."""
    if evse_id is not None:
        return known(state, command, evse_id) or evse_id
    if command not in _WHAT:
        return None
    if not state.several:
        return state.main_evse.evse_id if command in ("start", "stop") else None
    evses = sorted(state.evses.values(), key=lambda e: e.evse_id)
    running = [e for e in evses if e.transaction is not None]
    if command == "start":
        fits = [e for e in evses if e.transaction is None and e.car_present]
        fits = fits or [e for e in running if state.is_paused(e.evse_id)]
    elif command == "stop":
        fits = running
    else:
        preferred = [e for e in running if state.is_paused(e.evse_id) == (command == "resume")]
        fits = preferred or running
    if len(fits) == 1:
        return fits[0].evse_id
    if len(fits) > 1:
        return CommandResult(
            command=command,
            outcome=Outcome.NOT_APPLICABLE,
            detail=f"{_WHAT[command]} on EVSEs {_names(fits)}: name one with evse_id",
            data={"evse_ids": [e.evse_id for e in fits]},
        )
    return state.main_evse.evse_id if command in ("start", "stop") else None


def setpoints(state: ChargerState) -> Setpoints:
    """The desired state of the charger and of each EVSE, as it is now."""
    return replace(state.desired), {e.evse_id: (e.limit_a, e.paused) for e in state.evses.values()}


def put_back(state: ChargerState, saved: Setpoints) -> None:
    """Restore what :func:`setpoints` gave (a change the charger cannot take)."""
    desired, own = saved
    state.want(paused=desired.paused, limit_a=desired.limit_a)
    for evse_id, (limit_a, paused) in own.items():
        state.want(paused=paused, limit_a=limit_a, evse_id=evse_id)

"""Putting the limits on a charger with several EVSEs: the charger's limit on EVSE 0, each EVSE's on itself.

- The charger's limit (:attr:`~bmw_wallbox.state.ChargerState.enforced_a`: the
  desired limit under the site budget, 0 while the whole charger is paused) goes
  out as a ChargingStationMaxProfile on EVSE 0, so the charger keeps the sum of
  its EVSEs under it.
- Each EVSE gets a TxDefaultProfile on its own evseId with its target
  (:meth:`~bmw_wallbox.state.ChargerState.evse_target_a`: 0 while paused, else
  its own limit or the charger's, never above the charger's); when that is
  refused, a TxProfile bound to its running transaction.
- A charger that refuses the station profile gets each EVSE's target capped at
  an equal share of the charger's limit (rounded down to 0.1 A), so the sum
  still never exceeds it.

The outcome is ``accepted`` when every EVSE took its limit, else ``rejected``
naming what was refused (never cured by a reboot: that would stop every EVSE).
Then each EVSE's limit in force is read back (GetCompositeSchedule on its
evseId): the charger's ``limit_in_sync`` is True when every EVSE enforces what
it took, False when one does not, None when the charger cannot tell.
"""

from __future__ import annotations

import logging
import math

from bmw_wallbox.controller.apply import read_back, send, why_not_now
from bmw_wallbox.errors import ChargerCallError
from bmw_wallbox.ports import Answer, ChargerPort, Strategy
from bmw_wallbox.results import CommandResult, Outcome

_LOGGER = logging.getLogger(__name__)

#: The ways one EVSE's limit is tried, in order.
EVSE_STRATEGIES = (Strategy.TX_DEFAULT, Strategy.TX_PROFILE)
#: What :attr:`ChargerState.profile_strategy` says when the charger's limit is kept by equal shares.
SHARES = "evse_shares"


def _word(target: float) -> str:
    return "pause (0 A)" if target == 0 else f"{target:g} A"


def _refusal(answer: Answer | ChargerCallError) -> str:
    return f"CALLERROR {answer}" if isinstance(answer, ChargerCallError) else answer.describe()


async def _one_evse(port: ChargerPort, evse_id: int, target: float, *, command: str) -> str | CommandResult | None:
    """Put ``target`` A on one EVSE: None when accepted, the reasons when refused every way, or a final result."""
    reasons: list[str] = []
    for strategy in EVSE_STRATEGIES:
        tx = port.state.evse(evse_id).transaction
        why_not = await why_not_now(port, strategy, tx)
        if why_not is not None:
            reasons.append(f"{strategy}: {why_not}")
            continue
        answer = await send(port, strategy, target, command=command, evse_id=evse_id, tx=tx)
        if isinstance(answer, CommandResult):
            return answer
        if isinstance(answer, Answer) and answer.accepted:
            return None
        reasons.append(f"{strategy}: {_refusal(answer)}")
    return "; ".join(reasons)


async def _read_back(port: ChargerPort, applied: dict[int, float]) -> bool | None:
    """Whether every EVSE's limit in force (GetCompositeSchedule) is the one it took; None when the charger cannot tell.

    One EVSE off is False; the charger is in sync only when every EVSE said so.
    """
    seen = [await read_back(port, target, evse_id=evse_id) for evse_id, target in applied.items()]
    if False in seen:
        return False
    return True if seen and all(seen) else None


async def apply_evses(port: ChargerPort, *, command: str) -> CommandResult:
    """Apply the charger's limit and each EVSE's (see the module docstring); say what the charger took."""
    state = port.state
    station = state.enforced_a
    answer = await send(port, Strategy.STATION_MAX, station, command=command, evse_id=0, tx=None)
    if isinstance(answer, CommandResult):
        return answer
    station_ok = isinstance(answer, Answer) and answer.accepted
    refused = [] if station_ok else [f"station maximum: {_refusal(answer)}"]
    share = None if station_ok else math.floor(station / len(state.evses) * 10) / 10
    applied: dict[int, float] = {}
    for evse_id in sorted(state.evses):
        target = state.evse_target_a(evse_id)
        target = target if share is None else min(target, share)
        outcome = await _one_evse(port, evse_id, target, command=command)
        if isinstance(outcome, CommandResult):
            return outcome
        if outcome is None:
            applied[evse_id] = target
        else:
            refused.append(f"EVSE {evse_id}: {outcome}")
    strategy = str(Strategy.STATION_MAX) if station_ok else SHARES
    complete = len(applied) == len(state.evses)
    in_sync = await _read_back(port, applied) if complete else None
    state.limit_applied(strategy=strategy, limit_a=station, in_sync=in_sync, evse_limits=applied)
    each = ", ".join(f"EVSE {i} {_word(a)}" for i, a in applied.items())
    data = {
        "applied_limit_a": station,
        "strategy": strategy,
        "evse_limits_a": {str(i): a for i, a in applied.items()},
        "limit_in_sync": in_sync,
    }
    if complete:
        how = "station maximum" if station_ok else f"equal shares, the station maximum was refused: {refused[0]}"
        _LOGGER.info("[%s] Limit %.1f A applied (%s); %s (in sync: %s)", state.charger_id, station, how, each, in_sync)
        detail = f"limit {_word(station)} for the charger ({how}); {each} accepted by the charger"
        return CommandResult(command=command, outcome=Outcome.ACCEPTED, detail=detail, data=data)
    state.limit_refused("; ".join(refused))
    _LOGGER.warning("[%s] Limits not accepted: %s", state.charger_id, state.last_rejection)
    return CommandResult(
        command=command,
        outcome=Outcome.REJECTED,
        detail=f"the charger refused limits ({state.last_rejection})" + (f"; accepted: {each}" if each else ""),
        data=data,
    )

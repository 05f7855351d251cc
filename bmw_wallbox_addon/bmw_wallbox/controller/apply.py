"""Putting the desired limit on one charger: try each allowed strategy, read back, report honestly."""

from __future__ import annotations

import logging

from bmw_wallbox.controller.profiles import applicable, limit_profile, strategy_order
from bmw_wallbox.errors import ChargerCallError
from bmw_wallbox.ports import Answer, ChargerPort, Strategy
from bmw_wallbox.results import (
    CALL_ERRORS,
    UNSUPPORTED_CODES,
    CommandResult,
    Outcome,
    from_error,
    not_supported,
)
from bmw_wallbox.state import Transaction

_LOGGER = logging.getLogger(__name__)


async def apply_setpoint(port: ChargerPort, *, command: str) -> CommandResult:
    """Apply ``state.enforced_a`` (the desired target under the site budget) to a charger with one EVSE.

    Says which way worked (chargers with several EVSEs: :mod:`~bmw_wallbox.controller.apply_evses`).
    The strategy that worked is remembered in the state and tried first next
    time. ClearChargingProfile is never sent, so the charger always keeps the
    last limit it accepted. A CALLERROR NotImplemented/NotSupported marks the
    charger as taking no limits (until it connects again); only refusals with
    status Rejected on every way are ``curable_by_reset``.
    """
    state = port.state
    target = state.enforced_a
    evse = state.main_evse
    order = strategy_order(state)
    if not order:
        return not_supported(command, state.limits_refused)
    reasons: list[str] = []
    all_status_refusals = True
    for strategy in order:
        why_not = await why_not_now(port, strategy, evse.transaction)
        if why_not is not None:
            reasons.append(f"{strategy}: {why_not}")
            continue
        answer = await send(port, strategy, target, command=command, evse_id=evse.evse_id, tx=evse.transaction)
        if isinstance(answer, CommandResult):
            return answer  # the charger cannot take limits, or the call failed for good
        if isinstance(answer, ChargerCallError):
            reasons.append(f"{strategy}: CALLERROR {answer}")
            all_status_refusals = False
            continue
        if answer.accepted:
            return await _accepted(port, strategy, target, command=command, evse_id=evse.evse_id)
        reasons.append(f"{strategy}: {answer.describe()}")
        _LOGGER.warning("[%s] %s limit %.1f A not accepted: %s", state.charger_id, strategy, target, answer.describe())
    state.limit_refused("; ".join(reasons))
    return CommandResult(
        command=command,
        outcome=Outcome.REJECTED,
        detail=f"the charger refused the {target:g} A limit every allowed way ({state.last_rejection})",
        data={"target_a": target},
        curable_by_reset=all_status_refusals,
    )


async def why_not_now(port: ChargerPort, strategy: Strategy, tx: Transaction | None) -> str | None:
    """Why this strategy cannot be used now (a TxProfile needs a transaction the charger confirms), or None."""
    why_not = applicable(
        strategy, transaction_id=tx.transaction_id if tx else None, charging_state=tx.charging_state if tx else None
    )
    if why_not is None and strategy is Strategy.TX_PROFILE and tx is not None:
        why_not = await _confirm_transaction(port, tx.transaction_id)
    return why_not


async def send(
    port: ChargerPort, strategy: Strategy, target: float, *, command: str, evse_id: int, tx: Transaction | None
) -> Answer | ChargerCallError | CommandResult:
    """SetChargingProfile of ``target`` A one way on one EVSE: the answer, a CALLERROR to try the next way, or the
    result (the charger takes no limits, or the call failed for good)."""
    state = port.state
    profile = limit_profile(
        strategy,
        target,
        evse_id=evse_id,
        caps=state.capabilities,
        transaction_id=tx.transaction_id if tx else None,
    )
    try:
        return await port.set_limit(profile)
    except ChargerCallError as err:
        if err.code not in UNSUPPORTED_CODES:
            return err
        _LOGGER.warning(
            "[%s] The charger answered %s to a charging profile: it takes no current limits", state.charger_id, err.code
        )
        state.limits_unsupported(err.code)
        return not_supported(command, err.code)
    except CALL_ERRORS as err:
        return from_error(command, err)


async def _accepted(
    port: ChargerPort, strategy: Strategy, target: float, *, command: str, evse_id: int
) -> CommandResult:
    state = port.state
    in_sync = await read_back(port, target, evse_id=evse_id)
    state.limit_applied(strategy=str(strategy), limit_a=target, in_sync=in_sync)
    _LOGGER.info("[%s] Limit %.1f A applied as %s (in sync: %s)", state.charger_id, target, strategy, in_sync)
    word = "pause (0 A)" if target == 0 else f"limit {target:g} A"
    return CommandResult(
        command=command,
        outcome=Outcome.ACCEPTED,
        detail=f"{word} accepted by the charger ({strategy})",
        data={"applied_limit_a": target, "strategy": str(strategy), "limit_in_sync": in_sync},
    )


async def _confirm_transaction(port: ChargerPort, transaction_id: str) -> str | None:
    """Check with the charger that the transaction still runs (a TxProfile for a dead one is refused)."""
    try:
        status = await port.transaction_status(transaction_id)
    except CALL_ERRORS:
        return None  # cannot confirm; let the charger decide (or the next connect)
    if status.ongoing is False:
        return f"transaction {transaction_id} is no longer running"
    return None


async def read_back(port: ChargerPort, target: float, *, evse_id: int) -> bool | None:
    """Ask the charger for the limit in force on an EVSE (GetCompositeSchedule); None when it cannot tell."""
    state = port.state
    if state.capabilities.composite_schedule is False:
        return None
    try:
        limit = await port.composite_limit(evse_id=evse_id, duration_s=60)
    except ChargerCallError:
        state.learned(composite_schedule=False)  # not supported: do not ask again
        return None
    except CALL_ERRORS:
        return None
    state.learned(composite_schedule=True)
    if limit is None:
        return None
    return abs(limit - target) < 0.05

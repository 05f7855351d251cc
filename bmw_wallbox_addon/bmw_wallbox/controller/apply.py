"""Putting the desired limit on one charger: try each allowed strategy, read back, report honestly."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from ocpp.v201 import call

from bmw_wallbox.controller.profiles import (
    Strategy,
    applicable,
    composite_limit,
    reason_of,
    set_profile_request,
    strategy_order,
)
from bmw_wallbox.controller.results import CommandResult, Outcome
from bmw_wallbox.errors import ChargerCallError, ChargerNotConnectedError, ChargerTimeoutError
from bmw_wallbox.state import ChargerState

_LOGGER = logging.getLogger(__name__)


class ChargerLink(Protocol):
    """What the controller needs of a connected charger: its state and one call at a time."""

    state: ChargerState

    async def request(self, payload: Any) -> Any:
        """Send a CSMS-to-charger call; raise our errors on timeout, CALLERROR or a closed link."""


async def apply_setpoint(link: ChargerLink, *, command: str) -> CommandResult:
    """Apply ``state.desired`` to the charger; the result says which way worked or why none did.

    The strategy that worked is remembered in the state and tried first next
    time. ClearChargingProfile is never sent, so the charger always keeps the
    last limit it accepted.
    """
    state = link.state
    target = state.desired.target_a
    evse = state.main_evse
    tx = evse.transaction
    order = strategy_order(state.profile_strategy, caps=state.capabilities)
    if not order:
        return CommandResult(
            command=command,
            outcome=Outcome.NOT_APPLICABLE,
            detail="the charger reports no current-based smart charging",
        )
    reasons: list[str] = []
    for strategy in order:
        why_not = applicable(
            strategy, transaction_id=tx.transaction_id if tx else None, charging_state=tx.charging_state if tx else None
        )
        if why_not is None and strategy is Strategy.TX_PROFILE and tx is not None:
            why_not = await _confirm_transaction(link, tx.transaction_id)
        if why_not is not None:
            reasons.append(f"{strategy}: {why_not}")
            continue
        request = set_profile_request(
            strategy, target, evse_id=evse.evse_id, transaction_id=tx.transaction_id if tx else None
        )
        try:
            result = await link.request(request)
        except ChargerTimeoutError as err:
            return CommandResult(command=command, outcome=Outcome.TIMEOUT, detail=str(err))
        except ChargerNotConnectedError:
            return CommandResult(command=command, outcome=Outcome.NOT_CONNECTED, detail="the charger disconnected")
        except ChargerCallError as err:
            reasons.append(f"{strategy}: CALLERROR {err}")
            continue
        if result.status == "Accepted":
            return await _accepted(link, strategy, target, command=command)
        reasons.append(f"{strategy}: {reason_of(result)}")
        _LOGGER.warning("[%s] %s limit %.1f A not accepted: %s", state.charger_id, strategy, target, reason_of(result))
    state.last_rejection = "; ".join(reasons)
    state.limit_in_sync = False
    return CommandResult(
        command=command,
        outcome=Outcome.REJECTED,
        detail=f"the charger refused the {target:g} A limit every allowed way ({state.last_rejection})",
        data={"target_limit_a": target},
    )


async def _accepted(link: ChargerLink, strategy: Strategy, target: float, *, command: str) -> CommandResult:
    state = link.state
    state.profile_strategy = str(strategy)
    if str(strategy) not in state.installed_profiles:
        state.installed_profiles.append(str(strategy))
    state.current_limit_a = target
    state.last_rejection = None
    state.limit_in_sync = await read_back(link, target)
    _LOGGER.info(
        "[%s] Limit %.1f A applied as %s (in sync: %s)", state.charger_id, target, strategy, state.limit_in_sync
    )
    word = "pause (0 A)" if target == 0 else f"limit {target:g} A"
    return CommandResult(
        command=command,
        outcome=Outcome.ACCEPTED,
        detail=f"{word} accepted by the charger ({strategy})",
        data={"applied_limit_a": target, "strategy": str(strategy), "limit_in_sync": state.limit_in_sync},
    )


async def _confirm_transaction(link: ChargerLink, transaction_id: str) -> str | None:
    """Check with the charger that the transaction still runs (a TxProfile for a dead one is refused)."""
    try:
        status = await link.request(call.GetTransactionStatus(transaction_id=transaction_id))
    except (ChargerCallError, ChargerTimeoutError):
        return None  # cannot confirm; let the charger decide
    if getattr(status, "ongoing_indicator", True) is False:
        return f"transaction {transaction_id} is no longer running"
    return None


async def read_back(link: ChargerLink, target: float) -> bool | None:
    """Ask the charger for the limit in force (GetCompositeSchedule); None when it cannot tell."""
    caps = link.state.capabilities
    if caps.composite_schedule is False:
        return None
    evse_id = link.state.main_evse.evse_id
    try:
        result = await link.request(call.GetCompositeSchedule(duration=60, evse_id=evse_id, charging_rate_unit="A"))
    except ChargerCallError:
        caps.composite_schedule = False  # not supported: do not ask again
        return None
    except ChargerTimeoutError:
        return None
    caps.composite_schedule = True
    if result.status != "Accepted":
        return None
    limit = composite_limit(result.schedule)
    if limit is None:
        return None
    return abs(limit - target) < 0.05

"""The last resort: reboot a charger that refuses every way to take a limit."""

from __future__ import annotations

import logging
from datetime import timedelta

from bmw_wallbox.ports import ChargerPort
from bmw_wallbox.results import CALL_ERRORS, CommandResult, Outcome
from bmw_wallbox.state import utcnow

_LOGGER = logging.getLogger(__name__)

#: No second automatic reset within this time.
AUTO_RESET_COOLDOWN = timedelta(minutes=10)


async def reboot_as_last_resort(port: ChargerPort, failed: CommandResult) -> CommandResult:
    """Reset(Immediate) for a refusal a reboot is known to cure; ``failed`` itself when not allowed or refused.

    Only when a car is connected and no automatic reset happened in the last
    10 minutes (the caller checks option ``reset_recovery`` and that the
    refusal is ``curable_by_reset``). The outcome is reported as
    ``rebooting``; the real outcome follows after the reconnect.
    """
    state = port.state
    if not state.main_evse.car_present:
        return failed
    now = utcnow()
    if state.last_auto_reset_at is not None and now - state.last_auto_reset_at < AUTO_RESET_COOLDOWN:
        return failed
    _LOGGER.warning(
        "[%s] The charger refuses every way to take the limit: rebooting it as the last resort", state.charger_id
    )
    state.auto_reset_sent(now)
    try:
        answer = await port.reset()
    except CALL_ERRORS:
        return failed
    if not answer.accepted:
        return failed
    return CommandResult(
        command=failed.command,
        outcome=Outcome.REBOOTING,
        detail=f"{failed.detail}; rebooting the charger as the last resort, the outcome follows when it is back",
    )

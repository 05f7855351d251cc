"""Charging control, EVCC-style: the desired state is persisted and reconciled onto the charger.

- start: resume a paused transaction, else RequestStartTransaction followed at once by the limit;
- pause: a 0 A limit, the transaction stays alive (a remote stop would block the next start);
- resume: the limit again;
- stop: RequestStopTransaction (this wallbox then needs an unplug before it starts again);
- set_current_limit: clamp to 6 A .. max_current, 0 means pause;
- reset: Reset(Immediate); automatically only as the last resort (see :meth:`Controller._recover`).

The limit is re-applied at every connect, on every new transaction and every
return from a suspension to Charging. Rapid changes are coalesced per
charger: the latest value wins, and at most one apply runs per
``min_interval_s`` (the connect-time apply and start are not delayed).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from ocpp.v201 import call
from ocpp.v201.enums import RequestStartStopStatusEnumType, ResetEnumType

from bmw_wallbox.controller.apply import ChargerLink, apply_setpoint
from bmw_wallbox.controller.coalesce import Coalescer
from bmw_wallbox.controller.profiles import reason_of
from bmw_wallbox.controller.results import CommandResult, Outcome
from bmw_wallbox.errors import ChargerCallError, ChargerNotConnectedError, ChargerTimeoutError
from bmw_wallbox.options import MIN_CURRENT_A
from bmw_wallbox.state import CHARGING, SUSPENDED_EV, SUSPENDED_EVSE, ChargerState, CommandRecord, StateHub, utcnow

_LOGGER = logging.getLogger(__name__)

#: No second automatic reset within this time.
AUTO_RESET_COOLDOWN = timedelta(minutes=10)
#: Connector states in which a car is plugged in.
CAR_PRESENT = frozenset({"Occupied", "Reserved"})

LinkLookup = Callable[[str], ChargerLink | None]
ResultListener = Callable[[str, CommandResult], None]

_remote_start_ids = itertools.count(int(time.time()) % 1_000_000)


class Controller:
    """Decides what to send to each charger to make it follow the desired state."""

    def __init__(
        self,
        hub: StateHub,
        *,
        links: LinkLookup,
        persist: Callable[[str], None],
        id_token: str | None = None,
        reset_recovery: bool = True,
        min_interval_s: float = 2.0,
    ) -> None:
        self._hub = hub
        self._links = links
        self._persist = persist
        self._id_token = id_token
        self._reset_recovery = reset_recovery
        self._min_interval_s = min_interval_s
        self._coalescer = Coalescer(self._apply_now, min_interval_s=min_interval_s)
        self._seen: dict[str, tuple[str | None, str | None]] = {}
        self._remote_stopped: set[str] = set()
        self._awaiting_reboot: dict[str, str] = {}
        self._listeners: list[ResultListener] = []
        self._unsubscribe: Callable[[], None] | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def attach(self) -> None:
        """Start watching state changes (call inside the running loop)."""
        self._unsubscribe = self._hub.subscribe(self._on_state_changed)

    async def close(self) -> None:
        """Stop every apply loop; pending commands are answered as not connected."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        await self._coalescer.close()

    def subscribe_results(self, listener: ResultListener) -> Callable[[], None]:
        """Call ``listener(charger_id, result)`` for every command outcome, including late ones.

        Returns a function that unsubscribes the listener.
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # --- commands ------------------------------------------------------------------------

    async def start(self, charger_id: str) -> CommandResult:
        """Resume a paused transaction, or start one and send the limit right after."""
        state = self._state(charger_id)
        if state is None:
            return self._unknown("start", charger_id)
        evse = state.main_evse
        link = self._links(charger_id)
        if evse.transaction is not None or link is None:
            state.desired.paused = False
            self._persist(charger_id)
            if link is None:
                return self._record(charger_id, _not_connected("start"))
            result = await self._apply(charger_id, "start", urgent=True)
            return self._record(charger_id, result)
        if evse.connector_status not in CAR_PRESENT:
            status = evse.connector_status or "unknown"
            return self._record(
                charger_id,
                CommandResult(
                    command="start", outcome=Outcome.NOT_APPLICABLE, detail=f"no car connected (connector {status})"
                ),
            )
        id_token = {"id_token": self._id_token or "", "type": "Central" if self._id_token else "NoAuthorization"}
        request = call.RequestStartTransaction(
            id_token=id_token, remote_start_id=next(_remote_start_ids), evse_id=evse.evse_id
        )
        answer = await self._send("start", link, request)
        if isinstance(answer, CommandResult):
            return self._record(charger_id, answer)
        if answer.status != RequestStartStopStatusEnumType.accepted:
            detail = f"the charger refused to start ({reason_of(answer)})"
            if charger_id in self._remote_stopped:
                detail += (
                    "; after a remote stop this wallbox starts again only after the car is unplugged"
                    " or a reboot: use pause instead of stop"
                )
            return self._record(charger_id, CommandResult(command="start", outcome=Outcome.REJECTED, detail=detail))
        state.desired.paused = False
        self._persist(charger_id)
        limit = await self._apply(charger_id, "start", urgent=True)
        if limit.ok:
            result = CommandResult(
                command="start", outcome=Outcome.ACCEPTED, detail=f"start accepted; {limit.detail}", data=limit.data
            )
        else:
            result = CommandResult(
                command="start",
                outcome=limit.outcome,
                detail=f"start accepted, but the limit was not: {limit.detail}",
                data=limit.data,
            )
        return self._record(charger_id, result)

    async def pause(self, charger_id: str) -> CommandResult:
        """Pause with a 0 A limit; the transaction stays alive."""
        return await self._change("pause", charger_id, paused=True)

    async def resume(self, charger_id: str) -> CommandResult:
        """Resume with the desired limit."""
        return await self._change("resume", charger_id, paused=False)

    async def set_current_limit(self, charger_id: str, amps: object) -> CommandResult:
        """Set the limit in A: clamped to 6 A .. max_current; 0 pauses; a positive value also resumes."""
        state = self._state(charger_id)
        if state is None:
            return self._unknown("set_current_limit", charger_id)
        if isinstance(amps, bool) or not isinstance(amps, (int, float)) or not _finite(amps) or amps < 0:
            return CommandResult(
                command="set_current_limit",
                outcome=Outcome.INVALID,
                detail=f"amps must be 0 (pause) or a number from {MIN_CURRENT_A} to {state.max_current_a}, "
                f"not {amps!r}",
            )
        if amps == 0:
            return await self._change("set_current_limit", charger_id, paused=True)
        limit = float(min(max(float(amps), MIN_CURRENT_A), state.max_current_a))
        return await self._change("set_current_limit", charger_id, paused=False, limit_a=limit)

    async def stop(self, charger_id: str) -> CommandResult:
        """End the transaction for real (RequestStopTransaction)."""
        state = self._state(charger_id)
        if state is None:
            return self._unknown("stop", charger_id)
        link = self._links(charger_id)
        if link is None:
            return self._record(charger_id, _not_connected("stop"))
        tx = state.main_evse.transaction
        if tx is None:
            return self._record(
                charger_id,
                CommandResult(command="stop", outcome=Outcome.NOT_APPLICABLE, detail="no transaction is running"),
            )
        answer = await self._send("stop", link, call.RequestStopTransaction(transaction_id=tx.transaction_id))
        if isinstance(answer, CommandResult):
            return self._record(charger_id, answer)
        if answer.status != RequestStartStopStatusEnumType.accepted:
            return self._record(
                charger_id,
                CommandResult(
                    command="stop",
                    outcome=Outcome.REJECTED,
                    detail=f"the charger refused to stop ({reason_of(answer)})",
                ),
            )
        self._remote_stopped.add(charger_id)
        detail = "transaction stopping; this wallbox needs the car unplugged before it can start again"
        return self._record(charger_id, CommandResult(command="stop", outcome=Outcome.ACCEPTED, detail=detail))

    async def reset(self, charger_id: str) -> CommandResult:
        """Reboot the charger now (Reset Immediate); the limit is applied again when it is back."""
        if self._state(charger_id) is None:
            return self._unknown("reset", charger_id)
        link = self._links(charger_id)
        if link is None:
            return self._record(charger_id, _not_connected("reset"))
        answer = await self._send("reset", link, call.Reset(type=ResetEnumType.immediate))
        if isinstance(answer, CommandResult):
            return self._record(charger_id, answer)
        if answer.status != "Accepted":
            return self._record(
                charger_id,
                CommandResult(
                    command="reset",
                    outcome=Outcome.REJECTED,
                    detail=f"the charger refused to reboot ({reason_of(answer)})",
                ),
            )
        return self._record(
            charger_id,
            CommandResult(
                command="reset", outcome=Outcome.ACCEPTED, detail="the charger is rebooting (about a minute)"
            ),
        )

    async def on_connected(self, link: ChargerLink) -> CommandResult:
        """Apply the desired state at once when a charger (re)connects, before anything else."""
        charger_id = link.state.charger_id
        self._remote_stopped.discard(charger_id)
        result = await self._apply(charger_id, "connect", urgent=True)
        recovering = self._awaiting_reboot.pop(charger_id, None)
        if recovering is not None:
            late = CommandResult(
                command=f"{recovering} (after automatic reboot)",
                outcome=result.outcome,
                detail=result.detail,
                data=result.data,
            )
            self._record(charger_id, late)
        return result

    # --- internals -----------------------------------------------------------------------

    def _state(self, charger_id: str) -> ChargerState | None:
        return self._hub.chargers.get(charger_id)

    def _unknown(self, command: str, charger_id: str) -> CommandResult:
        return CommandResult(
            command=command, outcome=Outcome.UNKNOWN_CHARGER, detail=f"no charger with id {charger_id!r} is configured"
        )

    async def _change(
        self, command: str, charger_id: str, *, paused: bool, limit_a: float | None = None
    ) -> CommandResult:
        state = self._state(charger_id)
        if state is None:
            return self._unknown(command, charger_id)
        state.desired.paused = paused
        if limit_a is not None:
            state.desired.limit_a = limit_a
        self._persist(charger_id)
        self._hub.changed(charger_id)
        if self._links(charger_id) is None:
            return self._record(charger_id, _not_connected(command))
        result = await self._apply(charger_id, command)
        if result.outcome is Outcome.REJECTED:
            result = await self._recover(charger_id, result)
        return self._record(charger_id, result)

    async def _send(self, command: str, link: ChargerLink, request: object) -> Any:
        """Send one request and return the charger's answer; a failure becomes the command's honest result."""
        try:
            return await link.request(request)
        except ChargerTimeoutError as err:
            return CommandResult(command=command, outcome=Outcome.TIMEOUT, detail=str(err))
        except ChargerNotConnectedError:
            return _not_connected(command)
        except ChargerCallError as err:
            return CommandResult(command=command, outcome=Outcome.REJECTED, detail=f"the charger answered {err}")

    async def _recover(self, charger_id: str, failed: CommandResult) -> CommandResult:
        """The last resort: reboot the charger when it refuses every way to take a limit.

        Only when a car is connected, option ``reset_recovery`` is on, and no
        automatic reset happened in the last 10 minutes. The outcome is
        reported as ``rebooting``; the real outcome follows after reconnect.
        """
        state = self._state(charger_id)
        link = self._links(charger_id)
        if state is None or link is None or not self._reset_recovery:
            return failed
        evse = state.main_evse
        if evse.transaction is None and evse.connector_status not in CAR_PRESENT:
            return failed
        now = utcnow()
        if state.last_auto_reset_at is not None and now - state.last_auto_reset_at < AUTO_RESET_COOLDOWN:
            return failed
        _LOGGER.warning(
            "[%s] The charger refuses every way to take the limit: rebooting it as the last resort", charger_id
        )
        state.last_auto_reset_at = now
        self._persist(charger_id)
        answer = await self._send(failed.command, link, call.Reset(type=ResetEnumType.immediate))
        if isinstance(answer, CommandResult) or getattr(answer, "status", None) != "Accepted":
            return failed
        self._awaiting_reboot[charger_id] = failed.command
        return CommandResult(
            command=failed.command,
            outcome=Outcome.REBOOTING,
            detail=f"{failed.detail}; rebooting the charger as the last resort, the outcome follows when it is back",
        )

    def _record(self, charger_id: str, result: CommandResult) -> CommandResult:
        state = self._state(charger_id)
        if state is not None:
            state.last_command = CommandRecord(
                command=result.command, at=result.at, outcome=str(result.outcome), detail=result.detail
            )
            self._hub.changed(charger_id)
        log = _LOGGER.info if result.ok else _LOGGER.warning
        log("[%s] %s: %s (%s)", charger_id, result.command, result.outcome, result.detail)
        for listener in list(self._listeners):
            listener(charger_id, result)
        return result

    async def _apply(self, charger_id: str, command: str, *, urgent: bool = False) -> CommandResult:
        """Queue an apply of the desired state and wait for the result of the apply that covers it."""
        return await self._coalescer.request(charger_id, command, urgent=urgent)

    async def _apply_now(self, charger_id: str, command: str) -> CommandResult:
        """One apply of the desired state (run by the coalescer)."""
        link = self._links(charger_id)
        if link is None:
            return _not_connected(command)
        result = await apply_setpoint(link, command=command)
        self._persist(charger_id)
        self._hub.changed(charger_id)
        return result

    def _on_state_changed(self, charger_id: str) -> None:
        """Re-apply on a new transaction and on every return from a suspension to Charging."""
        state = self._state(charger_id)
        if state is None:
            return
        tx = state.main_evse.transaction
        now_seen = (tx.transaction_id if tx else None, tx.charging_state if tx else None)
        before = self._seen.get(charger_id, (None, None))
        self._seen[charger_id] = now_seen
        if state.main_evse.connector_status == "Available":
            self._remote_stopped.discard(charger_id)
        if not state.connected or self._links(charger_id) is None or now_seen == before:
            return
        new_transaction = now_seen[0] is not None and now_seen[0] != before[0]
        resumed = before[1] in (SUSPENDED_EV, SUSPENDED_EVSE) and now_seen[1] == CHARGING
        if new_transaction or resumed:
            _LOGGER.debug(
                "[%s] %s: re-applying the limit", charger_id, "new transaction" if new_transaction else "charging again"
            )
            self._coalescer.schedule(charger_id)


def _finite(amps: float) -> bool:
    """True for a finite number that fits a float (a 400-digit int does not)."""
    try:
        return math.isfinite(amps)
    except OverflowError:
        return False


def _not_connected(command: str) -> CommandResult:
    return CommandResult(
        command=command,
        outcome=Outcome.NOT_CONNECTED,
        detail="the charger is not connected; the desired state is kept and applied when it connects",
    )

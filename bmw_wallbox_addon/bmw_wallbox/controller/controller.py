"""Charging control, EVCC-style: the desired state is persisted and reconciled onto the charger.

- start: resume a paused transaction, else RequestStartTransaction followed at once by the limit
  (concurrent Starts share one, see :mod:`bmw_wallbox.controller.start`);
- pause: a 0 A limit, the transaction stays alive (a remote stop would block the next start);
- resume: the limit again;
- stop: RequestStopTransaction (the Delta then needs an unplug before it starts again);
- set_current_limit: clamp to 6 A .. max_current, 0 means pause;
- reset: Reset(Immediate); automatically only as the last resort (see :mod:`bmw_wallbox.controller.recovery`).

The limit is re-applied at every connect, on every new transaction and every
return from a suspension to Charging. Rapid changes are coalesced per
charger: the latest value wins, and at most one apply runs per
``min_interval_s`` (the connect-time apply and start are not delayed). On a
charger without smart charging, pause, resume and limits answer
``not_supported`` at once and nothing is sent.

The controller talks to chargers only through :class:`~bmw_wallbox.ports.ChargerPort`
and imports nothing of the OCPP library. Every outcome is recorded through
:class:`~bmw_wallbox.controller.recorder.Recorder`: the charger's state is
committed durably before the command answers, at most once per short window.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Awaitable, Callable

from bmw_wallbox.controller import evses, start
from bmw_wallbox.controller.apply import apply_setpoint
from bmw_wallbox.controller.apply_evses import apply_evses
from bmw_wallbox.controller.coalesce import Coalescer
from bmw_wallbox.controller.recorder import COMMIT_WINDOW_S, Recorder, ResultListener
from bmw_wallbox.controller.recovery import reboot_as_last_resort
from bmw_wallbox.hub import StateHub
from bmw_wallbox.options import MIN_CURRENT_A
from bmw_wallbox.ports import Answer, ChargerPort, IdToken
from bmw_wallbox.results import (
    CALL_ERRORS,
    CommandResult,
    Outcome,
    from_error,
    not_connected,
    not_supported,
    unknown_charger,
)
from bmw_wallbox.state import SUSPENDED, ChargerState, ChargingState, ConnectorStatus, RemoteStart, Save, utcnow
from bmw_wallbox.tokenbook import Presented

_LOGGER = logging.getLogger(__name__)

#: Seconds a user command may take, from its arrival to its answer.
COMMAND_DEADLINE_S = 35.0
#: The token remote starts carry when option ``id_token`` is not set: a fixed Central token.
DEFAULT_ID_TOKEN = IdToken(value="HomeAssistant", kind="Central")

PortLookup = Callable[[str], ChargerPort | None]

_remote_start_ids = itertools.count(int(time.time()) % 1_000_000)


class Controller:
    """Decides what to send to each charger to make it follow the desired state."""

    def __init__(
        self,
        hub: StateHub,
        *,
        ports: PortLookup,
        id_token: IdToken | None = None,
        reset_recovery: bool = True,
        min_interval_s: float = 2.0,
        command_deadline_s: float = COMMAND_DEADLINE_S,
        commit_window_s: float = COMMIT_WINDOW_S,
    ) -> None:
        self._hub = hub
        #: Seconds a user command may take from its arrival to its answer (see :func:`commands.run_user`).
        self.command_deadline_s = command_deadline_s
        self._ports = ports
        self.id_token = id_token or DEFAULT_ID_TOKEN
        self._reset_recovery = reset_recovery
        self._coalescer = Coalescer(self._apply_now, min_interval_s=min_interval_s, unclaimed=self._unclaimed)
        self._seen: dict[str, dict[int, tuple[str, ChargingState | None]]] = {}
        self._evse_ids: dict[str, int] = {}
        self._remote_stopped: set[str] = set()
        self._awaiting_reboot: dict[str, str] = {}
        self._recorder = Recorder(hub, window_s=commit_window_s)
        self._starts = start.StartGate()
        self._unsubscribe: Callable[[], None] | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def attach(self) -> None:
        """Start watching state changes (call inside the running loop)."""
        self._unsubscribe = self._hub.subscribe(self._on_state_changed)

    async def close(self) -> None:
        """Stop every apply loop; pending commands are answered as not connected."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        await self._starts.close()
        await self._coalescer.close()
        self._recorder.close()

    def subscribe_results(self, listener: ResultListener) -> Callable[[], None]:
        """Call ``listener(charger_id, result)`` for every command outcome, including late ones.

        In a burst, the latest outcome of each command per commit window (see
        :class:`~bmw_wallbox.controller.recorder.Recorder`). Returns a function
        that unsubscribes the listener.
        """
        return self._recorder.subscribe(listener)

    def remote_start_token(self) -> IdToken:
        """The token a remote start carries: the listed token chosen for remote starts, else :attr:`id_token`."""
        chosen = self._hub.tokens.remote_start_token()
        return IdToken(value=chosen.value, kind=chosen.kind) if chosen is not None else self.id_token

    def state(self, charger_id: str) -> ChargerState | None:
        """The state of a configured charger."""
        return self._hub.chargers.get(charger_id)

    # --- commands ------------------------------------------------------------------------

    async def start(self, charger_id: str, evse_id: int | None = None) -> CommandResult:
        """Resume a paused transaction, or start one and send the limit right after.

        Without ``evse_id`` the EVSE is chosen (see :mod:`~bmw_wallbox.controller.evses`).
        Concurrent Starts for one EVSE (and Starts while an accepted one waits for
        its transaction) share one outcome and send one RequestStartTransaction
        (see :mod:`bmw_wallbox.controller.start`).
        """
        state = self.state(charger_id)
        if state is None:
            return unknown_charger("start", charger_id)
        chosen = evses.choose(state, "start", evse_id)
        if isinstance(chosen, CommandResult):
            return await self.record(charger_id, chosen)
        target = chosen if chosen is not None else state.main_evse.evse_id
        if state.evse(target).transaction is not None:
            self._starts.forget(charger_id, target)  # the transaction is here: decide anew (running, or paused)
        return await self._starts.start((charger_id, target), lambda: self._start(charger_id, state, target))

    async def _start(self, charger_id: str, state: ChargerState, evse_id: int) -> CommandResult:
        port = self._ports(charger_id)
        if port is None:
            state.want(paused=False, evse_id=evse_id)
            return await self.record(charger_id, not_connected("start"))
        refusal = start.blocked(state, evse_id, now=utcnow())
        if refusal is not None:
            return await self.record(charger_id, refusal)
        if state.evse(evse_id).transaction is not None:  # paused: resume it
            state.want(paused=False, evse_id=evse_id)
            return await self.record(charger_id, await self._apply("start", charger_id, urgent=True))
        id_token, remote_start_id = self.remote_start_token(), next(_remote_start_ids)
        try:
            answer = await port.request_start(evse_id=evse_id, remote_start_id=remote_start_id, id_token=id_token)
        except CALL_ERRORS as err:
            return await self.record(charger_id, from_error("start", err))
        if not answer.accepted:
            refused = start.refused(answer, after_remote_stop=charger_id in self._remote_stopped, boot=state.boot)
            return await self.record(charger_id, refused)
        use = self._hub.tokens.authorize(charger_id, Presented(value=id_token.value, kind=id_token.kind)).use
        state.remote_start_sent(
            RemoteStart(
                remote_start_id=remote_start_id, evse_id=evse_id, token=use, transaction_id=answer.transaction_id
            )
        )
        state.want(paused=False, evse_id=evse_id)
        limit = await self._apply("start", charger_id, urgent=True) if state.limits_supported else None
        result = start.started(limit)
        if state.evse(evse_id).transaction is None:  # not reported yet: Starts meanwhile get this outcome
            self._starts.requested((charger_id, evse_id), result)
        return await self.record(charger_id, result)

    async def pause(self, charger_id: str, evse_id: int | None = None) -> CommandResult:
        """Pause with a 0 A limit; the transaction stays alive (the EVSE chosen as in :mod:`.evses`)."""
        return await self._change("pause", charger_id, paused=True, evse_id=evse_id)

    async def resume(self, charger_id: str, evse_id: int | None = None) -> CommandResult:
        """Resume with the desired limit (the EVSE chosen as in :mod:`.evses`)."""
        return await self._change("resume", charger_id, paused=False, evse_id=evse_id)

    async def set_current_limit(
        self,
        charger_id: str,
        amps: float,
        *,
        resume: bool = True,
        command: str = "set_current_limit",
        evse_id: int | None = None,
    ) -> CommandResult:
        """Set the limit in A (a checked number >= 0): clamped to 6 A .. max_current; 0 means pause.

        A positive value also resumes a pause, unless ``resume`` is false (evcc's
        ``maxcurrent``, which only sets the current for when charging is enabled).
        With ``evse_id`` (on a charger with several EVSEs) it is that EVSE's own
        limit; without, the charger's (see :mod:`~bmw_wallbox.controller.apply_evses`).
        """
        state = self.state(charger_id)
        if state is None:
            return unknown_charger(command, charger_id)
        if amps == 0:
            return await self._change(command, charger_id, paused=True, evse_id=evse_id)
        limit = float(min(max(amps, MIN_CURRENT_A), state.max_current_a))
        paused = False if resume else None
        return await self._change(command, charger_id, paused=paused, limit_a=limit, evse_id=evse_id)

    async def stop(self, charger_id: str, evse_id: int | None = None) -> CommandResult:
        """End the transaction for real (RequestStopTransaction); the EVSE chosen as in :mod:`.evses`."""
        state = self.state(charger_id)
        if state is None:
            return unknown_charger("stop", charger_id)
        chosen = evses.choose(state, "stop", evse_id)
        if isinstance(chosen, CommandResult):
            return await self.record(charger_id, chosen)
        port = self._ports(charger_id)
        if port is None:
            return await self.record(charger_id, not_connected("stop"))
        tx = state.evse(chosen if chosen is not None else state.main_evse.evse_id).transaction
        if tx is None:
            return await self.record(
                charger_id,
                CommandResult(command="stop", outcome=Outcome.NOT_APPLICABLE, detail="no transaction is running"),
            )
        done = start.stop_done(state.boot)
        result = await self._ask("stop", charger_id, port.request_stop(tx.transaction_id), verb="stop", done=done)
        if result.ok:
            self._remote_stopped.add(charger_id)
        return result

    async def reset(self, charger_id: str) -> CommandResult:
        """Reboot the charger now (Reset Immediate); the limit is applied again when it is back."""
        if self.state(charger_id) is None:
            return unknown_charger("reset", charger_id)
        port = self._ports(charger_id)
        if port is None:
            return await self.record(charger_id, not_connected("reset"))
        return await self._ask(
            "reset", charger_id, port.reset(), verb="reboot", done="the charger is rebooting (about a minute)"
        )

    async def on_connected(self, port: ChargerPort) -> CommandResult:
        """Apply the desired state at once when a charger (re)connects, before anything else."""
        charger_id = port.state.charger_id
        self._remote_stopped.discard(charger_id)
        self._starts.forget(charger_id)
        result = await self._coalescer.request(charger_id, "connect", urgent=True)
        self._hub.commit(charger_id, Save.SOON)
        recovering = self._awaiting_reboot.pop(charger_id, None)
        if recovering is not None:
            await self.record(charger_id, result.renamed(f"{recovering} (after automatic reboot)"))
        return result

    def limit_moved(self, charger_id: str, *, lower: bool) -> None:
        """The limit to enforce moved without a command (the site budget): a cut goes out at once, a rise coalesced."""
        state = self.state(charger_id)
        if state is not None and state.limits_supported and self._ports(charger_id) is not None:
            self._coalescer.schedule(charger_id, urgent=lower)

    async def record(self, charger_id: str, result: CommandResult) -> CommandResult:
        """Remember a command's outcome, commit it durably and tell the listeners (see :class:`Recorder`)."""
        return await self._recorder.record(charger_id, result)

    # --- internals -----------------------------------------------------------------------

    async def _ask(
        self, command: str, charger_id: str, request: Awaitable[Answer], *, verb: str, done: str
    ) -> CommandResult:
        """Send one request whose status answer is the command's outcome, and record it."""
        try:
            answer = await request
        except CALL_ERRORS as err:
            return await self.record(charger_id, from_error(command, err))
        if not answer.accepted:
            return await self.record(
                charger_id,
                CommandResult(
                    command=command,
                    outcome=Outcome.REJECTED,
                    detail=f"the charger refused to {verb} ({answer.describe()})",
                ),
            )
        return await self.record(charger_id, CommandResult(command=command, outcome=Outcome.ACCEPTED, detail=done))

    async def _change(
        self,
        command: str,
        charger_id: str,
        *,
        paused: bool | None,
        limit_a: float | None = None,
        evse_id: int | None = None,
    ) -> CommandResult:
        """Change the desired state of the charger or of the EVSE :func:`evses.choose` gives, and apply it."""
        state = self.state(charger_id)
        if state is None:
            return unknown_charger(command, charger_id)
        chosen = evses.choose(state, command, evse_id)
        if isinstance(chosen, CommandResult):
            return await self.record(charger_id, chosen)
        if not state.limits_supported:
            return await self.record(charger_id, not_supported(command, state.limits_refused))
        before = evses.setpoints(state)
        state.want(paused=paused, limit_a=limit_a, evse_id=chosen)
        if self._ports(charger_id) is None:
            return await self.record(charger_id, not_connected(command))
        result = await self._apply(command, charger_id)
        if result.outcome is Outcome.NOT_SUPPORTED:
            evses.put_back(state, before)  # nothing can change on this charger
        elif result.outcome is Outcome.REJECTED and result.curable_by_reset:
            result = await self._recover(charger_id, result)
        return await self.record(charger_id, result)

    async def _apply(self, command: str, charger_id: str, *, urgent: bool = False) -> CommandResult:
        """Queue an apply of the desired state and wait for the result of the apply that covers it."""
        return await self._coalescer.request(charger_id, command, urgent=urgent)

    async def _apply_now(self, charger_id: str, command: str) -> CommandResult:
        """One apply of the desired state (run by the coalescer)."""
        port = self._ports(charger_id)
        if port is None:
            return not_connected(command)
        if port.state.several:
            return await apply_evses(port, command=command)
        return await apply_setpoint(port, command=command)

    def _unclaimed(self, charger_id: str, result: CommandResult) -> None:
        """A background apply (or one every caller gave up on) finished: keep what it changed."""
        if charger_id in self._hub.chargers:
            self._hub.commit(charger_id, Save.SOON)

    async def _recover(self, charger_id: str, failed: CommandResult) -> CommandResult:
        """The last resort for a refusal a reboot cures (see :func:`reboot_as_last_resort`)."""
        port = self._ports(charger_id)
        if port is None or not self._reset_recovery:
            return failed
        result = await reboot_as_last_resort(port, failed)
        if result.outcome is Outcome.REBOOTING:
            self._awaiting_reboot[charger_id] = failed.command
        return result

    def _on_state_changed(self, charger_id: str, save: Save) -> None:
        """Re-apply on a new transaction, on every return from a suspension to Charging (on any EVSE), and when
        the charger reports an EVSE it had not (so it has its limit before its first session)."""
        state = self.state(charger_id)
        if state is None:
            return
        now_seen = {
            e.evse_id: (e.transaction.transaction_id, e.transaction.charging_state)
            for e in state.evses.values()
            if e.transaction is not None
        }
        before = self._seen.get(charger_id, {})
        self._seen[charger_id] = now_seen
        count = max(len(state.evses), 1)  # a charger that reported no EVSE yet has EVSE 1
        grew, self._evse_ids[charger_id] = count > self._evse_ids.get(charger_id, 1), count
        for evse in state.evses.values():
            if evse.connector_status == ConnectorStatus.AVAILABLE or not state.connected:
                self._starts.forget(charger_id, evse.evse_id)
        if state.main_evse.connector_status == ConnectorStatus.AVAILABLE or not state.connected:
            self._remote_stopped.discard(charger_id)
        if not state.connected or self._ports(charger_id) is None:
            return
        if grew and state.limits_supported:  # a new EVSE gets its limit before its first session
            self._coalescer.schedule(charger_id, urgent=False)
        if now_seen == before:
            return
        new_transaction = any(before.get(i, (None, None))[0] != seen[0] for i, seen in now_seen.items())
        resumed = any(
            before.get(i, (None, None))[1] in SUSPENDED and seen[1] == ChargingState.CHARGING
            for i, seen in now_seen.items()
        )
        if (new_transaction or resumed) and state.limits_supported:
            _LOGGER.debug(
                "[%s] %s: re-applying the limit", charger_id, "new transaction" if new_transaction else "charging again"
            )
            self._coalescer.schedule(charger_id)

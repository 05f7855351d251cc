"""Coalescing per charger: the latest desired state wins, and applies are spaced out.

Every charger has one apply loop. A request marks the charger dirty and waits;
the loop waits until ``min_interval_s`` has passed since the last apply
(unless a request is urgent: connect, start, a new transaction), then runs one
apply for everything that arrived meanwhile and hands its result to every
waiting request. An apply that includes a user's request runs with
:data:`~bmw_wallbox.ports.USER_COMMAND` set, so its charger calls go
first. A result nobody waits for any more (a background apply, or every waiter
gave up) goes to ``unclaimed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bmw_wallbox.ports import USER_COMMAND
from bmw_wallbox.results import CommandResult, Outcome

_LOGGER = logging.getLogger(__name__)

#: Runs one apply for a charger: ``apply(charger_id, command)``.
ApplyFn = Callable[[str, str], Awaitable[CommandResult]]
#: Gets the result of an apply that no request is waiting for: ``unclaimed(charger_id, result)``.
UnclaimedFn = Callable[[str, CommandResult], None]


@dataclass(frozen=True)
class _Waiter:
    command: str
    user: bool
    future: asyncio.Future[CommandResult]


@dataclass
class _Charger:
    """One charger's loop state."""

    dirty: asyncio.Event = field(default_factory=asyncio.Event)
    waiters: list[_Waiter] = field(default_factory=list)
    urgent: bool = False
    last_applied: float = -math.inf
    task: asyncio.Task[None] | None = None


class Coalescer:
    """The apply loops of all chargers; no orphan tasks (every loop is cancelled in :meth:`close`).

    ``clock`` (monotonic seconds) and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        apply: ApplyFn,
        *,
        min_interval_s: float,
        unclaimed: UnclaimedFn | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._apply = apply
        self._min_interval_s = min_interval_s
        self._unclaimed = unclaimed
        self._clock = clock
        self._sleep = sleep
        self._chargers: dict[str, _Charger] = {}

    async def request(self, charger_id: str, command: str, *, urgent: bool = False) -> CommandResult:
        """Queue an apply and return the result of the apply that covers this request."""
        entry = self._entry(charger_id)
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        entry.waiters.append(_Waiter(command, USER_COMMAND.get(), future))
        entry.urgent = entry.urgent or urgent
        entry.dirty.set()
        return await future

    def schedule(self, charger_id: str, *, urgent: bool = True) -> None:
        """Queue an apply nobody waits for: urgent for a new transaction, back to Charging, a budget cut."""
        entry = self._entry(charger_id)
        entry.urgent = entry.urgent or urgent
        entry.dirty.set()

    async def close(self) -> None:
        """Stop every loop; requests still waiting are answered as not applied."""
        for entry in self._chargers.values():
            if entry.task is not None:
                entry.task.cancel()
        for entry in self._chargers.values():
            if entry.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await entry.task
            for waiter in entry.waiters:
                if not waiter.future.done():
                    waiter.future.set_result(
                        CommandResult(
                            command=waiter.command, outcome=Outcome.NOT_CONNECTED, detail="the add-on is stopping"
                        )
                    )

    def _entry(self, charger_id: str) -> _Charger:
        entry = self._chargers.get(charger_id)
        if entry is None:
            entry = self._chargers[charger_id] = _Charger()
        if entry.task is None or entry.task.done():
            entry.task = asyncio.get_running_loop().create_task(
                self._loop(charger_id, entry), name=f"apply {charger_id}"
            )
        return entry

    async def _loop(self, charger_id: str, entry: _Charger) -> None:
        while True:
            await entry.dirty.wait()
            delay = entry.last_applied + self._min_interval_s - self._clock()
            if delay > 0 and not entry.urgent:
                await self._sleep(delay)  # changes arriving meanwhile are coalesced into this apply
            entry.dirty.clear()
            entry.urgent = False
            waiters, entry.waiters = entry.waiters, []
            command = waiters[-1].command if waiters else "reapply"
            token = USER_COMMAND.set(any(w.user for w in waiters))
            try:
                result = await self._apply(charger_id, command)
            except Exception:  # a bug must not leave callers waiting forever
                _LOGGER.exception("[%s] Applying the limit failed", charger_id)
                result = CommandResult(
                    command=command, outcome=Outcome.REJECTED, detail="internal error while applying the limit"
                )
            finally:
                USER_COMMAND.reset(token)
            if result.outcome is not Outcome.NOT_CONNECTED:
                entry.last_applied = self._clock()
            claimed = False
            for waiter in waiters:
                if not waiter.future.done():
                    waiter.future.set_result(result.renamed(waiter.command))
                    claimed = True
            if not claimed and self._unclaimed is not None:
                self._unclaimed(charger_id, result)

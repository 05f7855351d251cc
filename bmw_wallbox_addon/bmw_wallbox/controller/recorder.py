"""Recording command outcomes: the charger's ``last_command``, one durable commit per window, and the announcements.

Every outcome of a user command for a configured charger, whatever it is
(``invalid`` too), goes through :meth:`Recorder.record`: it becomes the
charger's ``last_command`` at once, is logged, committed durably
(``Save.NOW``) before ``record`` returns, and announced to the result
listeners (which feed the ``command_result`` events).

A flood of commands must not cost a durable write and an event each. The
first outcome after a quiet ``window_s`` is committed and announced at once;
outcomes that follow within the window wait for its end and share one commit,
and of those only the latest outcome of each command name is announced. So a
charger gets at most one durable write per window from commands, a command is
never reported done before its state is durable, and the events stay bounded
by the number of command names per window.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bmw_wallbox.hub import StateHub
from bmw_wallbox.results import CommandResult
from bmw_wallbox.state import CommandRecord, Save

_LOGGER = logging.getLogger(__name__)

#: Seconds between two durable commits of command outcomes for one charger.
COMMIT_WINDOW_S = 0.25

ResultListener = Callable[[str, CommandResult], None]


@dataclass
class _Batch:
    """Outcomes waiting for the end of the window: the latest per command name."""

    results: dict[str, CommandResult] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    handle: asyncio.TimerHandle | None = None


class Recorder:
    """Records, commits and announces command outcomes (see the module docstring).

    ``clock`` (monotonic seconds) is injectable for tests.
    """

    def __init__(
        self, hub: StateHub, *, window_s: float = COMMIT_WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._hub = hub
        self._window_s = window_s
        self._clock = clock
        self._listeners: list[ResultListener] = []
        self._next_commit: dict[str, float] = {}
        self._batches: dict[str, _Batch] = {}

    def subscribe(self, listener: ResultListener) -> Callable[[], None]:
        """Call ``listener(charger_id, result)`` for every announced outcome; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def record(self, charger_id: str, result: CommandResult) -> CommandResult:
        """Remember, log, commit durably and announce one outcome; returns it once its commit is done."""
        log = _LOGGER.info if result.ok else _LOGGER.warning
        log("[%s] %s: %s (%s)", charger_id, result.command, result.outcome, result.detail)
        state = self._hub.chargers.get(charger_id)
        if state is None:
            return result  # nothing to record it on, nobody to tell
        state.command_done(
            CommandRecord(command=result.command, at=result.at, outcome=str(result.outcome), detail=result.detail)
        )
        now = self._clock()
        batch = self._batches.get(charger_id)
        if batch is None and now >= self._next_commit.get(charger_id, -math.inf):
            self._next_commit[charger_id] = now + self._window_s
            self._publish(charger_id, [result])
            return result
        if batch is None:
            batch = self._batches[charger_id] = _Batch()
            delay = max(0.0, self._next_commit[charger_id] - now)
            batch.handle = asyncio.get_running_loop().call_later(delay, self._flush, charger_id)
        batch.results.pop(result.command, None)
        batch.results[result.command] = result
        await batch.done.wait()
        return result

    def close(self) -> None:
        """Commit and announce what still waits for its window (at shutdown)."""
        for charger_id in list(self._batches):
            self._flush(charger_id)

    def _flush(self, charger_id: str) -> None:
        batch = self._batches.pop(charger_id, None)
        if batch is None:
            return
        if batch.handle is not None:
            batch.handle.cancel()
        self._next_commit[charger_id] = self._clock() + self._window_s
        try:
            self._publish(charger_id, list(batch.results.values()))
        finally:
            batch.done.set()

    def _publish(self, charger_id: str, results: list[CommandResult]) -> None:
        if charger_id in self._hub.chargers:
            self._hub.commit(charger_id, Save.NOW)
        for result in results:
            for listener in list(self._listeners):
                listener(charger_id, result)

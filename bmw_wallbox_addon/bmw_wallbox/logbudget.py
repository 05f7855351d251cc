"""A log budget: lines that outsiders can trigger at will, without letting a flood of them flood the log.

Used by the OCPP side (bad frames, status lines, refused connections) and the
MQTT side (Home Assistant's ``online`` announcements); it imports nothing of ours.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

Logger = logging.Logger | logging.LoggerAdapter[Any]


class LogBudget:
    """Logs lines a peer can trigger at will without letting a flood of them flood the log.

    Per kind of line, the first ``burst`` of a period of ``period_s`` seconds
    are logged at ``level`` (WARNING by default) as they come; the rest go to
    DEBUG, and one line at ``level`` when the period ends (or at :meth:`flush`)
    gives their number and up to three examples. So a flood costs at most
    ``burst + 1`` lines per kind and period. A period ends ``period_s`` after
    its first line (by ``clock``, checked at each line) or by a timer when
    the flood stops.
    """

    def __init__(
        self,
        logger: Logger,
        *,
        burst: int = 5,
        period_s: float = 60.0,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._burst = burst
        self._period_s = period_s
        self._level = level
        self._clock = clock
        self._started: float | None = None
        self._counts: dict[str, int] = {}
        self._held: dict[str, int] = {}
        self._examples: dict[str, list[str]] = {}
        self._timer: asyncio.TimerHandle | None = None

    def log(self, kind: str, message: str, *args: object, example: str | None = None) -> None:
        """Log ``message % args`` at the budget's level within the budget of ``kind``, else at DEBUG (counted)."""
        now = self._clock()
        if self._started is not None and now - self._started >= self._period_s:
            self.flush()
        if self._started is None:
            self._started = now
            self._timer = asyncio.get_running_loop().call_later(self._period_s, self.flush)
        count = self._counts[kind] = self._counts.get(kind, 0) + 1
        if count <= self._burst:
            self._logger.log(self._level, message, *args)
            return
        self._logger.debug(message, *args)
        self._held[kind] = self._held.get(kind, 0) + 1
        examples = self._examples.setdefault(kind, [])
        if example is not None and len(examples) < 3 and example not in examples:
            examples.append(example)

    def flush(self) -> None:
        """Write the summary line of each kind that had lines held back, and start a new period."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._started = None
        for kind, held in self._held.items():
            examples = self._examples.get(kind)
            self._logger.log(
                self._level,
                "%d more %s in the last %.0f s%s (each logged at debug level)",
                held,
                kind,
                self._period_s,
                f", e.g. {', '.join(examples)}" if examples else "",
            )
        self._counts.clear()
        self._held.clear()
        self._examples.clear()

"""Small asyncio helpers that the standard library does not have."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

_LOGGER = logging.getLogger(__name__)

#: Pause before a background loop that failed with a bug is started again.
RESTART_DELAY_S = 5.0


def stopping() -> bool:
    """True when the current task is being cancelled (a library may have turned the cancellation into an error)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def supervise(what: str, loop: Callable[[], Awaitable[None]], *, logger: logging.Logger) -> None:
    """Run a loop forever; a bug in it is logged on ``logger`` and the loop started again after a pause.

    A cancellation ends it, also one a library swallowed or turned into an error
    (see :func:`stopping`).
    """
    while True:
        try:
            await loop()
        except Exception:
            if stopping():
                raise asyncio.CancelledError from None  # a library swallowed our cancellation
            logger.exception("The %s loop failed; restarting it in %.0f s", what, RESTART_DELAY_S)
            await asyncio.sleep(RESTART_DELAY_S)
        if stopping():  # the loop returned: a library swallowed our cancellation
            raise asyncio.CancelledError


async def cancel_and_wait(*tasks: asyncio.Task[None], timeout_s: float = 5.0, every_s: float = 0.5) -> bool:
    """Cancel ``tasks`` and wait until they have ended; True when all did within ``timeout_s``.

    The cancellation is repeated every ``every_s``: a library may swallow one
    (Python 3.11's ``asyncio.wait_for``, which aiomqtt uses, returns a result
    that arrived together with the cancellation), and a stop must not hang on
    that. A task still running after ``timeout_s`` is logged and left behind;
    an error a task ended with is logged. The caller's own cancellation is
    never swallowed here.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    pending = {task for task in tasks if not task.done()}
    while pending:
        remaining = deadline - loop.time()
        if remaining <= 0:
            names = ", ".join(sorted(task.get_name() for task in pending))
            _LOGGER.warning("Tasks still running %.0f s after their cancellation: %s", timeout_s, names)
            return False
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(every_s, remaining))
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.warning("The task %s ended with %r", task.get_name(), task.exception())
    return True


class TaskSet:
    """The background tasks of one owner: each is tracked until it ends, and :meth:`close` cancels them all.

    :meth:`spawn` runs one piece of work (a command, a publication) guarded: an
    error it ends with is logged on ``logger`` (an error of the ``quiet`` types at
    DEBUG, anything else with its traceback), so one failure never stops its
    owner. After :meth:`close` began, new work is dropped (its coroutine closed).
    """

    def __init__(self, what: str, *, logger: logging.Logger, quiet: tuple[type[Exception], ...] = ()) -> None:
        self._what = what
        self._logger = logger
        self._quiet = quiet
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    def start(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coroutine`` as a tracked task (a loop: wrap it in :func:`supervise`)."""
        if self._closing:
            coroutine.close()
            return
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def spawn(self, coroutine: Coroutine[Any, Any, object], name: str) -> None:
        """Run one piece of work in its own task, guarded (see the class docstring)."""
        if self._closing:
            coroutine.close()
            return
        self.start(self._guard(coroutine, name), name)

    async def _guard(self, coroutine: Coroutine[Any, Any, object], name: str) -> None:
        try:
            await coroutine
        except self._quiet as err:
            self._logger.debug("%s %s not done: %s", self._what, name, err)
        except Exception:
            self._logger.exception("%s %s failed", self._what, name)

    async def close(self) -> None:
        """Drop new work and cancel every task, waiting until they have ended (a second call does nothing more)."""
        self._closing = True
        await cancel_and_wait(*self._tasks)


class Backoff:
    """Pauses between reconnect attempts: ``min_s`` doubling to ``max_s``, each jittered by ±20 %."""

    def __init__(self, *, min_s: float, max_s: float) -> None:
        self.min_s = min_s
        self.max_s = max_s
        self._next_s = min_s

    def reset(self) -> None:
        """Connected: the next pause is ``min_s`` again."""
        self._next_s = self.min_s

    def longest(self) -> None:
        """Retrying will not help soon (a refused login): the next pause is ``max_s``."""
        self._next_s = self.max_s

    async def sleep(self) -> None:
        """Pause, then double the next pause (at most ``max_s``)."""
        await asyncio.sleep(self._next_s * random.uniform(0.8, 1.2))
        self._next_s = min(self._next_s * 2, self.max_s)

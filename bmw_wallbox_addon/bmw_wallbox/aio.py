"""Small asyncio helpers that the standard library does not have."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

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

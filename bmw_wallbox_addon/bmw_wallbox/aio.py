"""Small asyncio helpers that the standard library does not have."""

from __future__ import annotations

import asyncio
import logging

_LOGGER = logging.getLogger(__name__)


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

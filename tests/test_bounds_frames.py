"""Wall-clock bound of the OCPP server: frames that once crashed or stalled it are answered within a second.

Part of the ``bounds`` group (``pytest -m bounds``), see pyproject.toml; that the
answers are right is ``test_fuzz_ocpp.py::test_nasty_frame_is_answered_and_ignored``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from arena import NASTY_FRAMES, Arena

pytestmark = pytest.mark.bounds

#: Real seconds from sending a nasty frame until the answer to the Heartbeat probe after it is in.
ANSWER_WITHIN_S = 1.0


@pytest.mark.parametrize(("frame", "answer"), NASTY_FRAMES)
async def test_nasty_frame_is_answered_within_a_second(arena: Arena, frame: str, answer: list[Any]) -> None:
    """A frame that once stalled the server is answered, and the connection answers again, within a second."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    await arena.exchange(frame)
    took_s = loop.time() - started
    assert took_s < ANSWER_WITHIN_S, f"{took_s:.2f} s until {answer[:2]} and the probe's answer"

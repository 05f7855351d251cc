"""Wall-clock bound against a real Home Assistant Core: the add-on's entities are back soon after a restart.

Part of the ``bounds`` group (``pytest -m bounds``), see pyproject.toml.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ha_fixtures import Scenario

pytest_plugins = ["ha_fixtures"]
pytestmark = pytest.mark.bounds

SLUG = "bmw_wallbox"
#: Real seconds from Core's API answering again until every entity of the add-on is back.
BACK_WITHIN_S = 10.0


async def test_entities_are_back_within_10_s_after_a_restart(charging: Scenario) -> None:
    """After Home Assistant restarts, every entity of the add-on is back within 10 s of its API answering."""
    ours = sorted(eid for eid in await charging.ha.entity_ids() if eid.split(".", 1)[1].startswith(f"{SLUG}_"))
    assert len(ours) >= 20, ours  # the add-on's sensors and its helpers, posted before the restart
    await charging.core.restart()
    loop = asyncio.get_running_loop()
    started = loop.time()
    for entity_id in ours:
        await charging.ha.wait_state(entity_id, lambda s: s["state"] != "unavailable", what="to be back", timeout_s=30)
    back_after_s = loop.time() - started
    assert back_after_s < BACK_WITHIN_S, f"the last entity was back after {back_after_s:.1f} s"

"""Demo mode (``bmw-wallbox --demo``): the add-on plus a simulated wallbox that charges a car.

The simulated wallbox has the real unit's quirks unless another personality is
chosen (``--demo-personality``). It connects over plain
``ws://`` on loopback, a car is plugged in, charges, and the demo changes the
limit, pauses and resumes, and a card is tapped, so every part of the add-on can be seen working.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import quote

from bmw_wallbox.app import Application
from bmw_wallbox.controller import Command, run
from bmw_wallbox.options import Options
from bmw_wallbox.simulator import DELTA, Personality, WallboxSimulator

_LOGGER = logging.getLogger("bmw_wallbox.demo")

DEMO_CHARGER_ID = "DE*BMW*EDEMO0001"
#: The RFID card the demo taps at the simulated wallbox in every session.
DEMO_CARD = "04D3M0C4RD01"
#: Seconds between the demo's steps.
STEP_S = 30.0


def demo_overrides(options: Options) -> dict[str, Any]:
    """Option changes for demo mode: plain ws:// on loopback, a demo charger, quick meter values."""
    overrides: dict[str, Any] = {"ssl": False, "meter_interval": min(options.meter_interval, 5)}
    if not options.chargers:
        overrides["chargers"] = [{"id": DEMO_CHARGER_ID, "name": "Demo Wallbox", "max_current": 16}]
    return overrides


async def run_demo(
    app: Application, stop: asyncio.Event, *, step_s: float = STEP_S, personality: Personality = DELTA
) -> None:
    """Run the add-on with a simulated wallbox (``personality``) for the first configured charger until ``stop``."""
    await app.start()
    charger = app.settings.options.chargers[0]
    simulator = WallboxSimulator(
        f"ws://127.0.0.1:{app.ocpp_port}",
        charger.id,
        password=charger.password,
        personality=personality,
        max_current_a=32.0,
        car_max_current_a=16.0,
    )
    api = f"http://127.0.0.1:{app.panel_port}"
    _LOGGER.info(
        "Demo running (charger personality %s). Panel: %s/   JSON API: %s/api/chargers", personality.name, api, api
    )
    _LOGGER.info(
        "Try: curl -X POST '%s/api/chargers/%s/pause'   (and /resume, /start, /stop)", api, quote(charger.id, safe="")
    )
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(simulator.run())
            scenario = group.create_task(_scenario(app, simulator, charger.id, step_s))
            await stop.wait()
            scenario.cancel()
            await simulator.stop()
    finally:
        await app.stop()


async def _scenario(app: Application, simulator: WallboxSimulator, charger_id: str, step_s: float) -> None:
    """Plug in, charge, limit, pause, resume, unplug at EVSE 1; again and again (a car charges at each other EVSE)."""
    controller = app.controller
    with contextlib.suppress(asyncio.CancelledError):
        await simulator.wait_connected(timeout_s=30)
        for evse_id in range(2, simulator.personality.evses + 1):
            _LOGGER.info("Demo: a second car charges at EVSE %s, at most 6 A", evse_id)
            await simulator.plug_in(evse_id)
            await run(controller, Command.SET_CURRENT_LIMIT, charger_id, 6, evse_id=evse_id)
        while True:
            _LOGGER.info("Demo: the car is plugged in, and a card is tapped (see the panel's Tokens tab)")
            await simulator.plug_in()
            await simulator.present_token(DEMO_CARD)
            await asyncio.sleep(step_s)
            _LOGGER.info("Demo: lowering the limit to 10 A")
            await run(controller, Command.SET_CURRENT_LIMIT, charger_id, 10, evse_id=1)
            await asyncio.sleep(step_s)
            _LOGGER.info("Demo: pausing (0 A, the session stays open)")
            await run(controller, Command.PAUSE, charger_id, evse_id=1)
            await asyncio.sleep(step_s / 2)
            _LOGGER.info("Demo: resuming at 16 A")
            await run(controller, Command.SET_CURRENT_LIMIT, charger_id, 16, evse_id=1)
            await asyncio.sleep(step_s)
            _LOGGER.info("Demo: the car is unplugged")
            await simulator.unplug()
            await asyncio.sleep(step_s / 2)

"""Connection health: the WebSocket round trip of a connected charger, measured at once and then periodically.

The round trip (``rtt_ms`` in the snapshot) is the time a WebSocket ping takes
to come back as a pong; the first is sent as the connection opens, so a
charger has a value without waiting for the first periodic ping. A ping not
answered within ``PING_TIMEOUT_S`` leaves the value unknown (None).
"""

from __future__ import annotations

import asyncio
import contextlib

from bmw_wallbox.csms.connection import Connection

#: Seconds between two round-trip measurements.
RTT_INTERVAL_S = 60.0
#: Seconds a pong may take before the round trip counts as unknown.
PING_TIMEOUT_S = 30.0


async def watch_round_trip(link: Connection, *, interval_s: float = RTT_INTERVAL_S) -> None:
    """Measure the round trip now and every ``interval_s`` until the connection closes."""
    connection = link.connection
    while True:
        try:
            waiter = await connection.ping()
            async with asyncio.timeout(PING_TIMEOUT_S):
                latency_s = await waiter
        except TimeoutError:
            link.state.upkeep.rtt_ms = None
        else:
            link.state.upkeep.rtt_ms = round(latency_s * 1000, 1)
        link.commit()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval_s):
                await connection.wait_closed()
                return

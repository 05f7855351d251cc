"""Connection health in the snapshot: round trip, reconnects in 24 h, last boot reason (uptime: ``connected_since``)."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta

from bmw_wallbox.upkeep import Upkeep

from conftest import CHARGER_ID, StartApp, charger_snapshot, ocpp_url
from helpers import eventually
from peer import library_charger


async def test_health_fields_are_filled_for_a_connected_charger(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """Right after connecting the round trip is known (no periodic ping waited for), and a reconnect is counted."""
    app = await start_app()
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl):
        first = await eventually(
            lambda: charger_snapshot(app), what="rtt_ms", until=lambda s: s["rtt_ms"] is not None, timeout=5
        )
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl):
        second = await eventually(
            lambda: charger_snapshot(app), what="a second rtt_ms", until=lambda s: s["rtt_ms"] is not None, timeout=5
        )
    offline = await charger_snapshot(app)
    assert 0 <= first["rtt_ms"] < 5000
    assert (first["reconnects_24h"], first["boot_reason"]) == (0, "PowerUp")
    assert first["connected_since"] is not None
    assert second["reconnects_24h"] == 1
    assert (offline["rtt_ms"], offline["connected"], offline["reconnects_24h"]) == (None, False, 1)


def test_reconnects_count_only_the_last_24_hours() -> None:
    """Connections opened more than 24 h ago, and the first one seen, are not reconnects."""
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    upkeep = Upkeep()
    for hours_ago in (30, 26, 20, 1):
        upkeep.connected(now - timedelta(hours=hours_ago))
    assert upkeep.reconnects_24h(now) == 2

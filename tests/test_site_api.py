"""``GET /api/site`` and the snapshot's budget fields, with the add-on running for real."""

from __future__ import annotations

import ssl

from test_control_simulator import simulator

from conftest import CHARGER_ID, StartApp, api_get, charger_snapshot, default_options
from helpers import eventually, profile_limits


async def test_without_a_site_block_nothing_is_capped(start_app: StartApp) -> None:
    """No main fuse: state off, no allocation, and the snapshot names the user's limit as the lowest cap."""
    app = await start_app()
    site = await api_get(app, "/api/site")
    assert site == {
        "main_fuse_a": None, "phase_currents_a": None, "household_a": None, "headroom_a": None, "meter_age_s": None,
        "state": "off", "problem": None, "allocations": {CHARGER_ID: None, "DE*BMW*EAUTH0002": None},
    }  # fmt: skip
    snapshot = await eventually(lambda: charger_snapshot(app), what="limited_by", until=lambda s: s["limited_by"])
    assert (snapshot["budget_limit_a"], snapshot["limited_by"]) == (None, "user")


async def test_a_site_without_a_meter_reading_starts_in_failsafe_and_the_charger_gets_it_at_connect(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """Main fuse set, no reading yet (no Home Assistant here): 6 A is what the charger gets when it connects."""
    site = {"main_fuse_a": 25, "phase_current_entities": ["sensor.grid_l1", "sensor.grid_l2", "sensor.grid_l3"]}
    app = await start_app(options=default_options(site=site))
    view = await api_get(app, "/api/site")
    assert (view["state"], view["main_fuse_a"], view["problem"]) == ("failsafe", 25, "no reading of sensor.grid_l1 yet")
    async with simulator(app, client_ssl) as sim:
        await eventually(
            lambda: profile_limits(sim.received), what="the connect-time limit", until=lambda sent: sent[-1:] == [6.0]
        )
        snapshot = await charger_snapshot(app)
        assert (snapshot["budget_limit_a"], snapshot["limited_by"], snapshot["desired_limit_a"]) == (
            6.0,
            "failsafe",
            32.0,
        )
    assert (await api_get(app, "/api/site"))["allocations"][CHARGER_ID] == 6.0

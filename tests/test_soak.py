"""Soak: many charging sessions over simulated hours; the add-on's energy equals the wallbox's to the Wh.

"The wallbox's count" is the register it reports when a session starts and
ends (its own meter, sampled at those moments). Its live register can run a
few Wh further at this clock speed: the simulator integrates the old power for
the fraction of a millisecond between sampling the Ended event and cutting the
current, which at 3000x is about a second of charging.

The simulator runs on a fast clock (``time_scale`` simulated seconds per real
second). The normal suite runs 2 simulated hours (a few seconds); the full day
runs with ``BMW_WALLBOX_SLOW=1 pytest tests/test_soak.py`` (about 25 s).
"""

from __future__ import annotations

import asyncio
import os
import random
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from bmw_wallbox.app import Application
from bmw_wallbox.simulator import WallboxSimulator

from conftest import CHARGER_ID, StartApp, api_send, charger_snapshot, default_options
from helpers import eventually

BASE = f"/api/chargers/{quote(CHARGER_ID, safe='')}"
SLOW = os.environ.get("BMW_WALLBOX_SLOW") == "1"
#: Simulated seconds per real second.
TIME_SCALE = 3000.0


@dataclass(frozen=True)
class Session:
    """One session as the wallbox itself counted it: its register in the Started and the Ended event."""

    transaction_id: str
    started_wh: float
    ended_wh: float

    @property
    def energy_wh(self) -> float:
        """Energy of the session, in Wh."""
        return self.ended_wh - self.started_wh


def reported_register_wh(sim: WallboxSimulator, transaction_id: str, event_type: str) -> float:
    """The energy register the wallbox put in its ``event_type`` TransactionEvent of this transaction."""
    for action, payload in reversed(sim.sent):
        info = payload.get("transactionInfo", {})
        if (
            action == "TransactionEvent"
            and payload["eventType"] == event_type
            and info["transactionId"] == transaction_id
        ):
            samples = payload["meterValue"][0]["sampledValue"]
            return float(next(s["value"] for s in samples if s["measurand"] == "Energy.Active.Import.Register"))
    raise AssertionError(f"no {event_type} event of {transaction_id}")


@dataclass(frozen=True)
class Soak:
    """What a soak run left behind: the wallbox's own count and the add-on's."""

    charged_wh: float
    sessions: list[Session]
    lifetime_kwh: float
    reported: list[dict[str, Any]]


async def soak(start_app: StartApp, client_ssl: ssl.SSLContext, *, hours: float, seed: int) -> Soak:
    """Plug in, charge at changing limits, unplug, idle, for ``hours`` simulated hours."""
    rng = random.Random(seed)
    app = await start_app(options=default_options(meter_interval=60))
    sim = WallboxSimulator(
        f"wss://localhost:{app.ocpp_port}",
        CHARGER_ID,
        ssl=client_ssl,
        time_scale=TIME_SCALE,
        car_max_current_a=16.0,
        energy_wh=5_000_000.0,
    )
    register_at_start = sim.energy_wh
    task = asyncio.create_task(sim.run())
    sessions: list[Session] = []
    try:
        await sim.wait_connected(10.0)
        await sim.wait_for_call("TriggerMessage", 10.0)
        end_s = sim.clock.now_s() + hours * 3600
        while sim.clock.now_s() < end_s:
            await sim.plug_in()
            transaction = sim.transaction_id
            assert transaction is not None
            for _ in range(rng.randint(1, 3)):
                status, body = await api_send(app, "PUT", f"{BASE}/current_limit", {"amps": rng.choice([6, 10, 16])})
                assert status == 200, body
                await sim.clock.sleep(rng.uniform(300, 1500))
            await sim.unplug()
            started_wh = reported_register_wh(sim, transaction, "Started")
            sessions.append(Session(transaction, started_wh, reported_register_wh(sim, transaction, "Ended")))
            await eventually(
                lambda: _transaction(app), until=lambda tx: tx is None, what="the add-on to end the session"
            )
            await sim.clock.sleep(rng.uniform(60, 900))
    finally:
        await sim.stop()
        await task
    return Soak(
        charged_wh=sim.energy_wh - register_at_start,
        sessions=sessions,
        lifetime_kwh=(await charger_snapshot(app))["last_reading"]["energy_kwh"],
        reported=[record.to_json() for record in reversed(app.hub.chargers[CHARGER_ID].sessions)],
    )


async def _transaction(app: Application) -> str | None:
    transaction: str | None = (await charger_snapshot(app))["transaction_id"]
    return transaction


@pytest.mark.parametrize(
    ("hours", "seed"),
    [
        pytest.param(2, 1, id="2-hours"),
        pytest.param(
            24, 24, id="a-day", marks=pytest.mark.skipif(not SLOW, reason="about 25 s: set BMW_WALLBOX_SLOW=1")
        ),
    ],
)
async def test_sessions_add_up_to_the_wallboxs_own_count(
    start_app: StartApp, client_ssl: ssl.SSLContext, hours: float, seed: int
) -> None:
    """Simulated hours of sessions: the lifetime register and every session's energy equal the wallbox's, to the Wh."""
    run = await soak(start_app, client_ssl, hours=hours, seed=seed)
    assert run.charged_wh > 1000 * hours  # it really charged
    assert run.lifetime_kwh * 1000 == pytest.approx(run.sessions[-1].ended_wh, abs=1.0)
    assert [s["transaction_id"] for s in run.reported] == [s.transaction_id for s in run.sessions]
    assert [ours["energy_kwh"] * 1000 for ours in run.reported] == pytest.approx(
        [wallbox.energy_wh for wallbox in run.sessions], abs=1.0
    )
    assert sum(s["energy_kwh"] for s in run.reported) * 1000 == pytest.approx(
        sum(s.energy_wh for s in run.sessions), abs=len(run.sessions) * 0.5
    )

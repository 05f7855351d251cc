#!/usr/bin/env python3
"""Latency from a grid meter change in Home Assistant to the cut SetChargingProfile on the wire (site budget).

Run from the repository root with the package and the test requirements installed::

    python tests/benchmarks/bench_site_latency.py [--samples 30] [--json]

It starts a real Home Assistant Core (the cached install of ``ha_install``, fresh
config on 127.0.0.1, onboarded), the add-on in its own process (``python -m
bmw_wallbox``, a site budget on a 25 A main fuse with a 1 A margin and
``resume_after_s`` 0, the grid meter three sensor entities), and a library charge
point with a running session that reports, after every charging profile, a
per-phase current equal to its new limit (a car that follows). Each sample:

1. the house is quiet (grid = what the car draws), the car charges at 24 A;
2. the clock starts, the test posts the three phase currents through Core's REST
   API with 17 A of household on top: 7 A are left;
3. the clock stops when the charge point receives SetChargingProfile with 7 A;
4. the house goes quiet again and the limit comes back to 24 A before the next sample.

So a sample covers Core's state machine and WebSocket event, the add-on's
decision and the OCPP call. Everything runs on loopback, bounded in count and
time, and every process is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from ocpp.v201 import call

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_ha_latency import addon, wait_for_port
from ha_client import HaClient, onboard
from ha_install import ensure_installed
from ha_process import HomeAssistantCore
from helpers import eventually, profile_limit
from peer import LibraryCharger, library_charger

CHARGER_ID = "DE*BMW*EBENCH02"
PHASES = ("sensor.grid_l1", "sensor.grid_l2", "sensor.grid_l3")
HOUSEHOLD_A = 17.0
CUT_TO_A = 7.0
QUIET_A = 24.0


def site_options() -> dict[str, Any]:
    """One charger and a site budget with no wait for rises (so every sample starts from the same limit)."""
    return {
        "ssl": False, "chargers": [{"id": CHARGER_ID}], "log_level": "warning",
        "site": {"main_fuse_a": 25, "safety_margin_a": 1, "failsafe_a": 6, "phase_current_entities": list(PHASES),
                 "stale_after_s": 60, "resume_after_s": 0},
    }  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _currents(amps: float) -> list[dict[str, Any]]:
    return [
        {"value": amps, "measurand": "Current.Import", "phase": phase, "unit_of_measure": {"unit": "A"}}
        for phase in ("L1", "L2", "L3")
    ]


class Car:
    """The library charge point with a session; it reports its new limit as its current after every profile."""

    def __init__(self, charger: LibraryCharger) -> None:
        self.charger = charger
        self.draw_a = 0.0

    def limits(self) -> list[float]:
        return [profile_limit(p) for a, p in self.charger.received if a == "SetChargingProfile"]

    async def follow(self, since: int) -> float:
        """Wait for the next profile after index ``since``; draw its limit and report it. Returns the limit."""
        limits = await eventually(lambda: self.limits()[since:], what="a charging profile", timeout=20)
        self.draw_a = limits[-1]
        await self.charger.call(
            call.MeterValues(evse_id=1, meter_value=[{"timestamp": _now(), "sampled_value": _currents(self.draw_a)}])
        )
        return self.draw_a


async def grid(ha: HaClient, amps: float) -> None:
    for entity in PHASES:
        await ha.post_state(entity, f"{amps:.1f}", {"unit_of_measurement": "A"})


async def measure(ha: HaClient, ocpp_port: int, samples: int) -> list[float]:
    """The cut latencies in ms."""
    latencies: list[float] = []
    await grid(ha, 0.0)
    async with library_charger(f"ws://127.0.0.1:{ocpp_port}", CHARGER_ID) as charger:
        car = Car(charger)
        await charger.call(
            call.StatusNotification(timestamp=_now(), connector_status="Occupied", evse_id=1, connector_id=1)
        )
        await charger.call(
            call.TransactionEvent(
                event_type="Started", timestamp=_now(), trigger_reason="CablePluggedIn", seq_no=0,
                transaction_info={"transaction_id": "bench-1", "charging_state": "Charging"}, evse={"id": 1},
            )
        )  # fmt: skip
        await eventually(
            car.limits, what="the first limits", until=lambda sent: sent and sent[-1] == QUIET_A, timeout=30
        )
        await car.follow(len(car.limits()) - 1)
        await grid(ha, car.draw_a)
        for _ in range(samples):
            mark = len(car.limits())
            started = time.perf_counter()
            await grid(ha, HOUSEHOLD_A + car.draw_a)
            await eventually(lambda mark=mark: car.limits()[mark:], what="the cut", until=lambda sent: CUT_TO_A in sent)
            latencies.append((time.perf_counter() - started) * 1000)
            await car.follow(mark)
            await grid(ha, HOUSEHOLD_A + car.draw_a)
            mark = len(car.limits())
            await grid(ha, car.draw_a)  # the household is gone
            await eventually(
                lambda mark=mark: car.limits()[mark:],
                what="the limit back",
                until=lambda sent: QUIET_A in sent,
                timeout=20,
            )
            await car.follow(mark)
            await grid(ha, car.draw_a)
            await asyncio.sleep(0.5)  # let the add-on see the quiet house before the next jump
    return latencies


async def run(samples: int, workdir: Path) -> dict[str, Any]:
    core = HomeAssistantCore(await asyncio.to_thread(ensure_installed), workdir / "home-assistant")
    async with core.running(), aiohttp.ClientSession() as session:
        token = await onboard(session, core.url)
        with addon(workdir, ha_url=core.url, token=token, options=site_options()) as ocpp_port:
            await wait_for_port(ocpp_port)
            latencies = await measure(HaClient(session, core.url, token), ocpp_port, samples)
    ordered = sorted(latencies)
    return {
        "command": " ".join(["python", "tests/benchmarks/bench_site_latency.py", *sys.argv[1:]]),
        "samples": samples,
        "median_ms": statistics.median(ordered),
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "worst_ms": ordered[-1],
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=30, help="meter jumps to time (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.samples <= 500:
        parser.error("--samples must be 1..500")
    with tempfile.TemporaryDirectory(prefix="bench-site-") as tmp:
        report = asyncio.run(run(args.samples, Path(tmp)))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"Grid meter change in Home Assistant -> SetChargingProfile on the wire, {args.samples} samples:")
        print(
            f"  median {report['median_ms']:.1f} ms, p99 {report['p99_ms']:.1f} ms, worst {report['worst_ms']:.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Latency from a meter value arriving at the add-on to the new state being visible in Home Assistant.

Run from the repository root with the package and the test requirements installed::

    python tests/benchmarks/bench_ha_latency.py [--samples 50] [--interval 1.5] [--json]

It starts a real Home Assistant Core (the cached install of ``ha_install``, fresh
config on 127.0.0.1, onboarded), the add-on in its own process
(``python -m bmw_wallbox``, plain ``ws://``, Home Assistant's URL and token as in
the container), and a library charge point (``tests/peer.py``). For each sample
the charge point sends a MeterValues frame with a new ``Power.Active.Import``
value; the clock starts just before the frame is sent and stops when Home
Assistant reports ``sensor.bmw_wallbox_power`` with that value on a WebSocket
``state_changed`` subscription. So a sample covers the OCPP frame, the add-on's
handling and publishing, the REST post and Core's event fan-out.

With ``--interval`` above the publisher's 1 s per-entity limit every value is
posted at once; below it, values are coalesced and the figures show that wait.
Everything runs on loopback, bounded in count and time, and every process is
stopped at the end. Not collected by pytest (the name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from ocpp.v201 import call

# The tests' own modules (peer, helpers, ha_*) live one folder up; a script only gets its own folder on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ha_client import HaClient, onboard
from ha_install import ensure_installed
from ha_process import HomeAssistantCore
from helpers import eventually, free_port
from peer import library_charger

CHARGER_ID = "DE*BMW*EBENCH01"
ENTITY_ID = "sensor.bmw_wallbox_power"


@contextlib.contextmanager
def addon(
    workdir: Path, *, ha_url: str, token: str, extra_args: Sequence[str] = (), options: dict[str, Any] | None = None
) -> Iterator[int]:
    """Run the add-on in its own process (``options``, ``extra_args`` on its command line); yield its OCPP port."""
    raw = options or {"ssl": False, "chargers": [{"id": CHARGER_ID}], "log_level": "warning"}
    (workdir / "options.json").write_text(json.dumps(raw))
    options_path = workdir / "options.json"
    ocpp_port = free_port()
    argv = [
        sys.executable, "-m", "bmw_wallbox", "--options", str(options_path), "--data-dir", str(workdir / "data"),
        "--host", "127.0.0.1", "--ocpp-port", str(ocpp_port), "--panel-port", str(free_port()), "--transfer-port", "0",
        "--ha-url", ha_url,
        *extra_args,
    ]  # fmt: skip
    env = {**os.environ, "SUPERVISOR_TOKEN": token}  # how the container hands the token over
    with (workdir / "addon.log").open("w") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            yield ocpp_port
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


async def wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:``port``."""
    _, writer = await eventually(
        lambda: asyncio.open_connection("127.0.0.1", port),
        what=f"the add-on to accept connections on port {port}",
        timeout=timeout_s,
        interval=0.1,
        ignore=(OSError,),
    )
    writer.close()
    await writer.wait_closed()


def meter_values(power_w: float) -> call.MeterValues:
    """One MeterValues frame with a power reading."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    reading = {"value": power_w, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "W"}}
    return call.MeterValues(evse_id=1, meter_value=[{"timestamp": now, "sampled_value": [reading]}])


async def measure(ha: HaClient, ocpp_port: int, *, samples: int, interval_s: float) -> dict[str, list[float]]:
    """Send ``samples`` meter values; return the end-to-end and OCPP round-trip times in ms."""
    end_to_end: list[float] = []
    round_trip: list[float] = []
    async with library_charger(f"ws://127.0.0.1:{ocpp_port}", CHARGER_ID) as charger:
        await charger.call(
            call.BootNotification(charging_station={"model": "Bench", "vendor_name": "Bench"}, reason="PowerUp")
        )
        await ha.wait_state(ENTITY_ID, lambda s: s["state"] != "unavailable", what="to be available", timeout_s=30)
        await asyncio.sleep(1.5)  # the entity was just posted: let the 1 s per-entity limit pass first
        async with ha.events("state_changed") as changes:
            for number in range(samples):
                power = 1000.0 + number
                while not changes.empty():
                    changes.get_nowait()
                started = time.perf_counter()
                await charger.call(meter_values(power))
                round_trip.append((time.perf_counter() - started) * 1000)
                async with asyncio.timeout(10):
                    while True:
                        data = (await changes.get())["data"]
                        new = data.get("new_state") or {}
                        if data.get("entity_id") == ENTITY_ID and new.get("state") == f"{power:.0f}":
                            break
                end_to_end.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(max(0.0, interval_s - (time.perf_counter() - started)))
    return {"end_to_end_ms": end_to_end, "ocpp_round_trip_ms": round_trip}


def summary(values: list[float]) -> dict[str, float]:
    """Median, 90th percentile and worst."""
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p90": ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))],
        "worst": ordered[-1],
    }


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Home Assistant, the add-on and a charge point; the measurement."""
    core = HomeAssistantCore(await asyncio.to_thread(ensure_installed), workdir / "home-assistant")
    async with core.running(), aiohttp.ClientSession() as session:
        token = await onboard(session, core.url)
        with addon(workdir, ha_url=core.url, token=token) as ocpp_port:
            await wait_for_port(ocpp_port)
            times = await measure(
                HaClient(session, core.url, token), ocpp_port, samples=args.samples, interval_s=args.interval
            )
    return {
        "command": " ".join(["python", "tests/benchmarks/bench_ha_latency.py", *sys.argv[1:]]),
        "samples": args.samples,
        "interval_s": args.interval,
        "end_to_end_ms": summary(times["end_to_end_ms"]),
        "ocpp_round_trip_ms": summary(times["ocpp_round_trip_ms"]),
        "cpus": os.cpu_count(),
    }


def cli(
    argv: list[str] | None,
    run_fn: Callable[[argparse.Namespace, Path], Awaitable[dict[str, Any]]],
    *,
    description: str | None,
    title: str,
    prefix: str,
) -> int:
    """The benchmarks' command line: parse, run ``run_fn`` in a temporary folder, print the figures."""
    parser = argparse.ArgumentParser(description=description.split("\n\n", 1)[0] if description else None)
    parser.add_argument("--samples", type=int, default=50, help="meter values to time (default: %(default)s)")
    parser.add_argument(
        "--interval", type=float, default=1.5, help="seconds between meter values (default: %(default)s)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.samples <= 1000 or not 0.05 <= args.interval <= 60:
        parser.error("--samples must be 1..1000 and --interval 0.05..60")
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        report = asyncio.run(run_fn(args, Path(tmp)))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    e2e, rtt = report["end_to_end_ms"], report["ocpp_round_trip_ms"]
    print(f"{title}, {args.samples} samples, one every {args.interval:g} s:")
    print(f"  end to end     median {e2e['median']:.1f} ms, p90 {e2e['p90']:.1f} ms, worst {e2e['worst']:.1f} ms")
    print(f"  OCPP reply     median {rtt['median']:.1f} ms, p90 {rtt['p90']:.1f} ms, worst {rtt['worst']:.1f} ms")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures; returns the exit code."""
    return cli(argv, run, description=__doc__, title="Meter value -> Home Assistant state", prefix="bench-ha-")


if __name__ == "__main__":
    sys.exit(main())

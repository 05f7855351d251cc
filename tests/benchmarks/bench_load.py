#!/usr/bin/env python3
"""Load benchmark: N chargers at one message a second each, against the add-on and a bare ``ocpp`` CSMS.

Run from the repository root with the package installed::

    python tests/benchmarks/bench_load.py [--chargers 200] [--seconds 30] [--json]

In one run it

1. starts the add-on (``python -m bmw_wallbox``, plain ``ws://`` on loopback)
   and records its start-up time (spawn until the OCPP port accepts) and its
   resident memory (``VmRSS``) idle;
2. connects ``--chargers`` library charge points (``ocpp.v201.ChargePoint``),
   20 at a time, boots them, lets the connect-time provisioning finish, and
   records the memory again (the difference per charger is the cost of one
   connected charger);
3. makes every charger send one MeterValues (8 sampled values) a second, at
   random phases, for ``--seconds``, and measures
   - the MeterValues round trip (the add-on updates the charger's state before
     it answers, so this bounds "frame in -> snapshot updated"),
   - "MeterValues -> updated snapshot" as the JSON API shows it: twice a second a
     random charger sends a new energy reading and ``GET /api/chargers/{id}`` is
     polled until it shows that value,
   - "JSON API command -> SetChargingProfile on the wire": ``PUT
     /api/chargers/{id}/current_limit`` on a random charger (each charger once)
     until the charger receives the SetChargingProfile frame,
   - the server's CPU use (``/proc/<pid>/stat``);
4. runs the same MeterValues load against the bare library CSMS of
   ``bench_ocpp.py`` (schema validation on, its default) and reports the ratio.

Everything runs on 127.0.0.1; every loop is bounded in time and count, and the
server processes are stopped at the end, also on errors and Ctrl-C. Linux only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from ocpp.v201 import call
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench_ocpp import (
    CALL_TIMEOUT_S,
    PROVISION_TIMEOUT_S,
    SUBPROTOCOL,
    BenchCharger,
    ServerProcess,
    bare_argv,
    boot_request,
    charger_ids,
    cpu_seconds,
    log,
    machine,
    meter_values_request,
    ours_argv,
    percentile,
    rss_kib,
    spawn,
)

# The tests' own modules (peer, helpers, ha_*) live one folder up; a script only gets its own folder on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import free_port

#: Chargers connected at once while ramping up (the add-on lets one address have 8 handshakes pending).
CONNECT_BATCH = 8
#: Quiet time that ends provisioning (no request from the CSMS for this long).
SETTLE_S = 1.0
#: The add-on's default ``min_apply_interval_s``: at most one limit per charger this often.
MIN_APPLY_INTERVAL_S = 2.0
#: Targets from the issue.
TARGET_P99_MS = 100.0
TARGET_RSS_IDLE_MIB = 60.0
TARGET_RSS_PER_CHARGER_MIB = 0.2
TARGET_STARTUP_MS = 2000.0


class TimedCharger(BenchCharger):
    """A bench charger that notes when each SetChargingProfile frame arrives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.profile_arrivals: list[float] = []
        self.profile_arrived = asyncio.Event()

    async def route_message(self, raw_msg: str | bytes) -> None:
        """Timestamp a SetChargingProfile before anything else happens to it."""
        if isinstance(raw_msg, str) and raw_msg.startswith("[2") and '"SetChargingProfile"' in raw_msg[:80]:
            self.profile_arrivals.append(time.perf_counter())
            self.profile_arrived.set()
        await super().route_message(raw_msg)


@contextlib.asynccontextmanager
async def charger_fleet(url: str, ids: list[str]) -> AsyncIterator[list[TimedCharger]]:
    """Connect and boot every charger (``CONNECT_BATCH`` at a time); close them all afterwards."""
    async with contextlib.AsyncExitStack() as stack:
        fleet: list[TimedCharger] = []

        async def one(charger_id: str) -> TimedCharger:
            ws = await stack.enter_async_context(
                connect(f"{url}/{charger_id}", subprotocols=[SUBPROTOCOL], open_timeout=30, close_timeout=2)
            )
            charger = TimedCharger(charger_id, ws, response_timeout=CALL_TIMEOUT_S)
            task = asyncio.create_task(charger.start())
            stack.push_async_callback(_cancel, task)
            await charger.call(boot_request())
            return charger

        for start in range(0, len(ids), CONNECT_BATCH):
            fleet += await asyncio.gather(*(one(cid) for cid in ids[start : start + CONNECT_BATCH]))
        yield fleet


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
        await task


@dataclass
class Latencies:
    """Seconds, in the order measured."""

    samples: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """Count, median, p99 and max in ms."""
        ordered = sorted(self.samples)
        if not ordered:
            return {"count": 0, "median_ms": math.nan, "p99_ms": math.nan, "max_ms": math.nan}
        return {
            "count": len(ordered),
            "median_ms": statistics.median(ordered) * 1000,
            "p99_ms": percentile(ordered, 99) * 1000,
            "max_ms": ordered[-1] * 1000,
        }


async def meter_loop(charger: TimedCharger, *, until: float, rtt: Latencies, rng: random.Random) -> int:
    """One MeterValues a second (random phase) until ``until``; returns the count sent."""
    request = meter_values_request()
    await asyncio.sleep(rng.random())
    sent = 0
    next_at = time.perf_counter()
    while next_at < until:
        started = time.perf_counter()
        await charger.call(request, suppress=False, skip_schema_validation=True)
        rtt.samples.append(time.perf_counter() - started)
        sent += 1
        next_at += 1.0
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    return sent


async def snapshot_probes(
    fleet: list[TimedCharger], api: str, *, until: float, result: Latencies, rng: random.Random
) -> None:
    """Twice a second: a new energy reading from a random charger, timed until the JSON API shows it."""
    value_wh = 50_000_000.0
    async with aiohttp.ClientSession() as http:
        while time.perf_counter() < until:
            charger = rng.choice(fleet)
            value_wh += 1000.0
            request = call.MeterValues(
                evse_id=1,
                meter_value=[
                    {
                        "timestamp": "2026-11-26T00:00:00Z",
                        "sampled_value": [{"value": value_wh, "measurand": "Energy.Active.Import.Register"}],
                    }
                ],
            )
            started = time.perf_counter()
            sending = asyncio.create_task(charger.call(request, suppress=False, skip_schema_validation=True))
            async with asyncio.timeout(CALL_TIMEOUT_S):
                while True:
                    async with http.get(f"{api}/api/chargers/{quote(charger.id, safe='')}") as response:
                        snapshot = await response.json()
                    if snapshot["energy_kwh"] == round(value_wh / 1000, 3):
                        break
            result.samples.append(time.perf_counter() - started)
            await sending
            await asyncio.sleep(0.5)


async def command_probes(
    fleet: list[TimedCharger], api: str, *, until: float, result: Latencies, rng: random.Random
) -> None:
    """Every 0.4 s: PUT current_limit on a charger not commanded before, timed until its SetChargingProfile arrives."""
    candidates = list(fleet)
    rng.shuffle(candidates)
    # The add-on sends at most one limit per charger every 2 s (rapid changes are coalesced by design),
    # and each charger got its limit at connect: start once that interval is over for all of them.
    await asyncio.sleep(MIN_APPLY_INTERVAL_S)
    async with aiohttp.ClientSession() as http:
        for charger in candidates:
            if time.perf_counter() >= until:
                return
            charger.profile_arrived.clear()
            before = len(charger.profile_arrivals)
            amps = rng.choice([6, 8, 10, 13, 16])
            started = time.perf_counter()
            async with http.put(
                f"{api}/api/chargers/{quote(charger.id, safe='')}/current_limit", json={"amps": amps}
            ) as response:
                if response.status != 200:
                    raise RuntimeError(f"current_limit answered {response.status}: {await response.text()}")
            if len(charger.profile_arrivals) == before:
                async with asyncio.timeout(CALL_TIMEOUT_S):
                    await charger.profile_arrived.wait()
            result.samples.append(charger.profile_arrivals[before] - started)
            await asyncio.sleep(0.4)


async def loop_lag(*, until: float, result: Latencies, period_s: float = 0.01) -> None:
    """How late this process's own event loop wakes up (a busy load generator inflates every latency)."""
    while time.perf_counter() < until:
        started = time.perf_counter()
        await asyncio.sleep(period_s)
        result.samples.append(time.perf_counter() - started - period_s)


@dataclass
class LoadResult:
    """What one server did under the load."""

    chargers: int
    seconds: float
    messages: int = 0
    meter_rtt: dict[str, float] = field(default_factory=dict)
    server_cpu_percent: float = math.nan
    server_cpu_us_per_message: float = math.nan
    startup_ms: float = math.nan
    rss_idle_kib: int = 0
    rss_connected_kib: int = 0
    rss_after_load_kib: int = 0
    snapshot_latency: dict[str, float] = field(default_factory=dict)
    command_latency: dict[str, float] = field(default_factory=dict)
    client_loop_lag: dict[str, float] = field(default_factory=dict)

    @property
    def rss_per_charger_kib(self) -> float:
        """Memory one connected charger costs (connected minus idle, over the chargers)."""
        return (self.rss_connected_kib - self.rss_idle_kib) / self.chargers


async def run_load(server: ServerProcess, args: argparse.Namespace, *, api: str | None) -> LoadResult:
    """Connect the fleet, settle, then run the meter load (and, for ours, the API probes)."""
    result = LoadResult(chargers=args.chargers, seconds=args.seconds, startup_ms=server.startup_s * 1000)
    await asyncio.sleep(0.5)
    result.rss_idle_kib = rss_kib(server.pid)
    log(f"{server.name}: connecting {args.chargers} chargers")
    async with charger_fleet(server.url, charger_ids(args.chargers)) as fleet:
        await asyncio.gather(
            *(
                c.wait_quiet(quiet_s=SETTLE_S, timeout_s=PROVISION_TIMEOUT_S * 4, expect_calls=api is not None)
                for c in fleet
            )
        )
        result.rss_connected_kib = rss_kib(server.pid)
        log(f"{server.name}: {args.seconds:g} s at 1 MeterValues/s per charger")
        rng = random.Random(args.seed)
        rtt = Latencies()
        snapshots, commands = Latencies(), Latencies()
        cpu0, started = cpu_seconds(server.pid), time.perf_counter()
        until = started + args.seconds
        probes = []
        if api is not None:
            probes = [
                snapshot_probes(fleet, api, until=until, result=snapshots, rng=random.Random(args.seed + 1)),
                command_probes(fleet, api, until=until, result=commands, rng=random.Random(args.seed + 2)),
            ]
        lag = Latencies()
        counts, *_ = await asyncio.gather(
            asyncio.gather(*(meter_loop(c, until=until, rtt=rtt, rng=rng) for c in fleet)),
            loop_lag(until=until, result=lag),
            *probes,
        )
        result.client_loop_lag = lag.summary()
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(server.pid) - cpu0
        result.messages = sum(counts)
        result.meter_rtt = rtt.summary()
        result.server_cpu_percent = cpu / elapsed * 100
        result.server_cpu_us_per_message = cpu / max(result.messages, 1) * 1e6
        result.snapshot_latency = snapshots.summary()
        result.command_latency = commands.summary()
        result.rss_after_load_kib = rss_kib(server.pid)
    return result


def run_target(name: str, args: argparse.Namespace, root: Path) -> LoadResult:
    """Spawn one server, measure it under the load, stop it."""
    workdir = root / name
    workdir.mkdir(parents=True)
    port = free_port()
    api: str | None = None
    if name == "ours":
        argv = ours_argv(workdir, args.chargers, ocpp_port=port, profile=None)
        api = f"http://127.0.0.1:{argv[argv.index('--panel-port') + 1]}"
    else:
        argv = bare_argv(port, validate=True)
    with spawn(name, argv, port, workdir / "server.log") as server:
        log(f"{name}: accepting after {server.startup_s * 1000:.0f} ms (pid {server.pid})")
        return asyncio.run(run_load(server, args, api=api))


def verdict(value: float, target: float) -> str:
    """``met`` or how far the value misses the target."""
    return "met" if value <= target else f"MISSED by {value / target:.2f}x"


def print_report(report: dict[str, Any]) -> None:
    """The human-readable summary."""
    ours, bare, m = report["results"]["ours"], report["results"]["bare"], report["machine"]
    n = report["params"]["chargers"]
    print(f"{n} chargers, 1 MeterValues/s each, {report['params']['seconds']:g} s; {m['nproc']} CPU(s) {m['cpu']}")
    print(f"Python {m['python']}; ocpp {m['ocpp']}, websockets {m['websockets']}, bmw-wallbox {m['bmw-wallbox']}")
    print(f"{'':<44}{'ours':>12}{'bare ocpp':>12}{'ours/bare':>12}")
    for label, key in (("MeterValues round trip median ms", "median_ms"), ("MeterValues round trip p99 ms", "p99_ms")):
        o, b = ours["meter_rtt"][key], bare["meter_rtt"][key]
        print(f"{label:<44}{o:>12.2f}{b:>12.2f}{o / b:>11.2f}x")
    o, b = ours["server_cpu_us_per_message"], bare["server_cpu_us_per_message"]
    print(f"{'server CPU us per MeterValues':<44}{o:>12.0f}{b:>12.0f}{o / b:>11.2f}x")
    o, b = ours["server_cpu_percent"], bare["server_cpu_percent"]
    print(f"{'server CPU % of one core':<44}{o:>12.1f}{b:>12.1f}")
    print(f"{'messages answered':<44}{ours['messages']:>12}{bare['messages']:>12}")
    o, b = ours["client_loop_lag"]["p99_ms"], bare["client_loop_lag"]["p99_ms"]
    print(f"{'load generator loop lag p99 ms':<44}{o:>12.1f}{b:>12.1f}")
    print()
    snap, cmd = ours["snapshot_latency"], ours["command_latency"]
    per_charger_mib = (ours["rss_connected_kib"] - ours["rss_idle_kib"]) / n / 1024
    rows = (
        ("MeterValues -> snapshot (API) p99 ms", snap["p99_ms"], TARGET_P99_MS, f"median {snap['median_ms']:.1f}"),
        ("API command -> SetChargingProfile p99 ms", cmd["p99_ms"], TARGET_P99_MS, f"median {cmd['median_ms']:.1f}"),
        ("MeterValues round trip p99 ms", ours["meter_rtt"]["p99_ms"], TARGET_P99_MS, ""),
        ("RSS idle MiB", ours["rss_idle_kib"] / 1024, TARGET_RSS_IDLE_MIB, ""),
        ("RSS per connected charger MiB", per_charger_mib, TARGET_RSS_PER_CHARGER_MIB, ""),
        ("start-up ms", ours["startup_ms"], TARGET_STARTUP_MS, ""),
    )
    print(f"{'ours':<44}{'value':>12}{'target':>12}  verdict")
    for label, value, target, note in rows:
        print(f"{label:<44}{value:>12.2f}{target:>12.1f}  {verdict(value, target)} {note}")
    print(
        f"RSS: idle {ours['rss_idle_kib'] / 1024:.1f} MiB, {n} connected {ours['rss_connected_kib'] / 1024:.1f} MiB, "
        f"after the load {ours['rss_after_load_kib'] / 1024:.1f} MiB; samples: {snap['count']} snapshot probes, "
        f"{cmd['count']} commands"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--chargers", type=int, default=200, help="chargers connected at once (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=30.0, help="load duration per server (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of phases and probes (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.chargers <= 1000:
        parser.error("--chargers must be in [1, 1000]")
    if not 1 <= args.seconds <= 600:
        parser.error("--seconds must be in [1, 600]")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code."""
    args = parse_args(argv)
    if not Path("/proc/self/status").exists():
        log("This benchmark reads /proc and runs on Linux only.")
        return 2
    results: dict[str, LoadResult] = {}
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        try:
            for name in ("ours", "bare"):
                results[name] = run_target(name, args, Path(tmp))
        except (RuntimeError, OSError, TimeoutError, ConnectionClosed, aiohttp.ClientError) as err:
            log(f"Benchmark failed: {type(err).__name__}: {err}")
            return 1
        except KeyboardInterrupt:
            log("Interrupted; the servers were stopped.")
            return 130
    report = {
        "command": " ".join(
            ["python", "tests/benchmarks/bench_load.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": machine(),
        "params": {"chargers": args.chargers, "seconds": args.seconds, "seed": args.seed},
        "results": {name: asdict(result) for name, result in results.items()},
    }
    print_report(report)
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

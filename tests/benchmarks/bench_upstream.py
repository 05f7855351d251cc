#!/usr/bin/env python3
"""The extra cost of forwarding a charger to an upstream backend, per message.

Run from the repository root with the package on the path::

    PYTHONPATH=bmw_wallbox_addon python tests/benchmarks/bench_upstream.py [--messages N] [--json]

For each of two set-ups it starts the add-on in this process (plain ``ws://``
on free loopback ports), connects a library charge point, lets the
connect-time provisioning finish, and sends ``--messages`` TransactionEvent
``Updated`` messages with 8 sampled values, one after the other:

- ``local``: the add-on without an upstream;
- ``mirror``: the same charger with ``upstream_url`` pointing at a plain
  library CSMS (:mod:`upstream_backend`) that runs in its own process, so its
  CPU time is not counted here.

It reports the charger's round trip (median, p99: the local answer never waits
for the upstream, so this should barely move), this process's CPU time per
message (the add-on plus the charger; the difference is the forwarding: the
copy, the queue file written before and after each event, the client side
towards the upstream), and how long after the last local answer the upstream
had answered the last copy. Everything runs on 127.0.0.1; the backend process
is terminated at the end. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ocpp.v201 import call

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bmw_wallbox.app import Application, Settings
from bmw_wallbox.options import Options

from helpers import eventually, free_port
from peer import library_charger
from upstream_backend import Backend

CHARGER_ID = "BENCH*1"
SAMPLES = [
    {"value": 1000.0 + i, "measurand": m, "phase": p}
    for i, (m, p) in enumerate(
        [
            ("Current.Import", "L1"),
            ("Current.Import", "L2"),
            ("Current.Import", "L3"),
            ("Voltage", "L1-N"),
            ("Voltage", "L2-N"),
            ("Voltage", "L3-N"),
        ]
    )
] + [
    {"value": 7000.0, "measurand": "Power.Active.Import"},
    {"value": 1.0, "measurand": "Energy.Active.Import.Register"},
]


async def run_backend(port: int) -> None:
    """The upstream: a plain library CSMS on ``port`` until terminated."""
    backend = Backend()
    backend.port = port
    await backend.start()
    await asyncio.Event().wait()


async def measure(mode: str, messages: int, backend_port: int | None) -> dict[str, Any]:
    """Start the add-on, connect a charger, send the events; the figures of one set-up."""
    charger: dict[str, Any] = {"id": CHARGER_ID}
    if backend_port is not None:
        charger["upstream_url"] = f"ws://127.0.0.1:{backend_port}/ocpp/{CHARGER_ID}"
    with tempfile.TemporaryDirectory() as tmp:
        options = Options.model_validate({"ssl": False, "chargers": [charger]})
        settings = Settings(
            options=options, data_dir=Path(tmp), ssl_dir=Path(tmp), host="127.0.0.1", ocpp_port=0, panel_port=0
        )
        app = Application(settings)
        await app.start()
        try:
            return await _session(app, mode, messages)
        finally:
            await app.stop()


async def _session(app: Application, mode: str, messages: int) -> dict[str, Any]:
    state = app.hub.chargers[CHARGER_ID]
    async with library_charger(f"ws://127.0.0.1:{app.ocpp_port}", CHARGER_ID) as lib:
        await lib.next_call("SetVariables", timeout=30)
        if state.upstream is not None:
            await eventually(lambda: state.upstream and state.upstream.connected, what="upstream up", timeout=60)
        await _event(lib, 0, "Started")
        latencies: list[float] = []
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for seq_no in range(1, messages + 1):
            start = time.perf_counter()
            await _event(lib, seq_no, "Updated")
            latencies.append(time.perf_counter() - start)
        local_done = time.perf_counter()
        if state.upstream is not None:
            await eventually(
                lambda: state.upstream and state.upstream.queued == 0, what="drained", timeout=300, interval=0.005
            )
        done = time.perf_counter()
        cpu = time.process_time() - cpu0
    latencies.sort()
    return {
        "mode": mode,
        "messages": messages,
        "median_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
        "cpu_ms_per_message": round(cpu / messages * 1000, 3),
        "wall_s": round(done - wall0, 3),
        "upstream_behind_s": round(done - local_done, 3),
    }


async def _event(lib: Any, seq_no: int, event_type: str) -> None:
    await lib.call(
        call.TransactionEvent(
            event_type=event_type,
            timestamp="2026-12-06T10:00:00Z",
            trigger_reason="MeterValuePeriodic" if event_type == "Updated" else "CablePluggedIn",
            seq_no=seq_no,
            transaction_info={"transaction_id": "bench-1", "charging_state": "Charging"},
            evse={"id": 1, "connector_id": 1},
            meter_value=[{"timestamp": "2026-12-06T10:00:00Z", "sampled_value": SAMPLES}],
        ),
        suppress=False,
    )


async def main(messages: int, port: int) -> list[dict[str, Any]]:
    """Both set-ups (the backend already runs on ``port``, in its own process)."""
    local = await measure("local", messages, None)
    mirror = await measure("mirror", messages, port)
    extra = round(mirror["cpu_ms_per_message"] - local["cpu_ms_per_message"], 3)
    return [local, mirror, {"extra_cpu_ms_per_forwarded_message": extra}]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--backend", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.backend:
        asyncio.run(run_backend(args.backend))
        sys.exit(0)
    backend_port = free_port()
    backend = subprocess.Popen([sys.executable, __file__, "--backend", str(backend_port)])
    try:
        results = asyncio.run(main(args.messages, backend_port))
    finally:
        backend.terminate()
        backend.wait(timeout=10)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for row in results:
            print("  ".join(f"{key}={value}" for key, value in row.items()))

#!/usr/bin/env python3
"""Latency from a meter value arriving at the add-on to the new state in Home Assistant, through MQTT discovery.

Run from the repository root with the package and the test requirements installed
(and Debian's ``mosquitto``)::

    python tests/bench_mqtt_latency.py [--samples 50] [--interval 1.5] [--json]

The same measurement as ``tests/bench_ha_latency.py`` (REST), with one change:
a real Mosquitto broker runs on 127.0.0.1, Home Assistant's MQTT integration is
set up on it through the config-flow API, and the add-on gets ``--mqtt-url``, so
``sensor.bmw_wallbox_power`` is an MQTT entity. For each sample a library
charge point sends MeterValues with a new power value; the clock starts just
before the frame is sent and stops when Home Assistant reports the entity with
that value on a WebSocket ``state_changed`` subscription: the OCPP frame, the
add-on's handling, the MQTT publish, the broker, Home Assistant's MQTT client
and its event fan-out. Nothing is coalesced on the MQTT path, so every value is
timed. Every process is stopped at the end. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

# The tests' own modules (mosquitto, helpers, ha_*) live one folder up; a script only gets its own folder on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_ha_latency import CHARGER_ID, ENTITY_ID, measure, summary, wait_for_port
from ha_client import HaClient, onboard
from ha_install import ensure_installed, ensure_mqtt_requirement
from ha_process import HomeAssistantCore
from helpers import free_port
from mosquitto import PASSWORD, USER, Mosquitto


async def set_up_mqtt(http: aiohttp.ClientSession, core: HomeAssistantCore, broker: Mosquitto) -> None:
    """Home Assistant's MQTT integration on the broker, through the config-flow API."""
    headers = {"Authorization": f"Bearer {core.token}"}
    flows = f"{core.url}/api/config/config_entries/flow"
    async with http.post(flows, json={"handler": "mqtt"}, headers=headers) as response:
        flow = await response.json()
    body = {"broker": "127.0.0.1", "port": broker.port, "username": USER, "password": PASSWORD}
    async with http.post(f"{flows}/{flow['flow_id']}", json=body, headers=headers) as response:
        result = await response.json()
    if result.get("type") != "create_entry":
        raise RuntimeError(f"the MQTT integration could not be set up: {result}")


@contextlib.contextmanager
def addon(workdir: Path, *, ha_url: str, token: str, mqtt_url: str) -> Iterator[int]:
    """Run the add-on in its own process with the broker; yield its OCPP port."""
    options = workdir / "options.json"
    options.write_text(json.dumps({"ssl": False, "chargers": [{"id": CHARGER_ID}], "log_level": "warning"}))
    ocpp_port = free_port()
    argv = [
        sys.executable, "-m", "bmw_wallbox", "--options", str(options), "--data-dir", str(workdir / "data"),
        "--host", "127.0.0.1", "--ocpp-port", str(ocpp_port), "--panel-port", str(free_port()), "--ha-url", ha_url,
        "--mqtt-url", mqtt_url,
    ]  # fmt: skip
    env = {**os.environ, "SUPERVISOR_TOKEN": token}
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


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """The broker, Home Assistant with MQTT, the add-on and a charge point; the measurement."""
    ensure_mqtt_requirement()
    broker = Mosquitto()
    broker.start()
    core = HomeAssistantCore(ensure_installed(), workdir / "home-assistant")
    try:
        async with core.running(), aiohttp.ClientSession() as session:
            token = core.token = await onboard(session, core.url)
            await set_up_mqtt(session, core, broker)
            with addon(workdir, ha_url=core.url, token=token, mqtt_url=broker.url) as ocpp_port:
                await wait_for_port(ocpp_port)
                times = await measure(
                    HaClient(session, core.url, token), ocpp_port, samples=args.samples, interval_s=args.interval
                )
    finally:
        broker.remove()
    return {
        "command": " ".join(["python", "tests/benchmarks/bench_mqtt_latency.py", *sys.argv[1:]]),
        "entity": ENTITY_ID,
        "samples": args.samples,
        "interval_s": args.interval,
        "end_to_end_ms": summary(times["end_to_end_ms"]),
        "ocpp_round_trip_ms": summary(times["ocpp_round_trip_ms"]),
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=50, help="meter values to time (default: %(default)s)")
    parser.add_argument("--interval", type=float, default=1.5, help="seconds between values (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.samples <= 1000 or not 0.05 <= args.interval <= 60:
        parser.error("--samples must be 1..1000 and --interval 0.05..60")
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as tmp:
        report = asyncio.run(run(args, Path(tmp)))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    e2e, rtt = report["end_to_end_ms"], report["ocpp_round_trip_ms"]
    print(f"Meter value -> Home Assistant state through MQTT, {args.samples} samples, one every {args.interval:g} s:")
    print(f"  end to end     median {e2e['median']:.1f} ms, p90 {e2e['p90']:.1f} ms, worst {e2e['worst']:.1f} ms")
    print(f"  OCPP reply     median {rtt['median']:.1f} ms, p90 {rtt['p90']:.1f} ms, worst {rtt['worst']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

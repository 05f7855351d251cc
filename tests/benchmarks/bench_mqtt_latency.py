#!/usr/bin/env python3
"""Latency from a meter value arriving at the add-on to the new state in Home Assistant, through MQTT discovery.

Run from the repository root with the package and the test requirements installed
(and Debian's ``mosquitto``)::

    python tests/benchmarks/bench_mqtt_latency.py [--samples 50] [--interval 1.5] [--json]

The same measurement as ``tests/benchmarks/bench_ha_latency.py`` (REST), with one change:
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
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp

# The tests' own modules (mosquitto, helpers, ha_*) live one folder up; a script only gets its own folder on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_ha_latency import ENTITY_ID, addon, cli, measure, summary, wait_for_port
from ha_client import HaClient, add_mqtt_integration, onboard
from ha_install import ensure_installed, ensure_mqtt_requirement
from ha_process import HomeAssistantCore
from mosquitto import PASSWORD, USER, Mosquitto


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """The broker, Home Assistant with MQTT, the add-on and a charge point; the measurement."""
    ensure_mqtt_requirement()
    broker = Mosquitto()
    broker.start()
    core = HomeAssistantCore(ensure_installed(), workdir / "home-assistant")
    try:
        async with core.running(), aiohttp.ClientSession() as session:
            token = core.token = await onboard(session, core.url)
            await add_mqtt_integration(session, core.url, token, port=broker.port, username=USER, password=PASSWORD)
            with addon(workdir, ha_url=core.url, token=token, extra_args=["--mqtt-url", broker.url]) as ocpp_port:
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
    title = "Meter value -> Home Assistant state through MQTT"
    return cli(argv, run, description=__doc__, title=title, prefix="bench-mqtt-")


if __name__ == "__main__":
    sys.exit(main())

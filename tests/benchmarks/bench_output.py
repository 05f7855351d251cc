#!/usr/bin/env python3
"""The Home Assistant output's cost: MQTT rendering per meter reading, and the add-on's idle memory.

Run from the repository root with the package installed::

    python tests/benchmarks/bench_output.py [--readings 5000] [--mqtt-url mqtt://user:pass@host:port]

- **render**: one charger with a running session; per reading the power changes
  and the MQTT devices render every topic of the charger (discovery, states,
  evcc), as the publish loop does after each MeterValues. Prints µs per reading.
- **idle RSS**: ``python -m bmw_wallbox`` with a one-charger options file (no
  token; with ``--mqtt-url`` also on that broker), ``VmRSS`` read from ``/proc``
  5 s after the start. Prints MiB.

Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

from bmw_wallbox.aio import TaskSet
from bmw_wallbox.controller import Controller
from bmw_wallbox.homeassistant.model.events import EventFeed
from bmw_wallbox.homeassistant.mqtt.broker import BrokerSettings
from bmw_wallbox.homeassistant.mqtt.devices import MqttDevices
from bmw_wallbox.hub import StateHub
from bmw_wallbox.state import ChargerState, SampledValue, utcnow


def render_cost_us(readings: int) -> float:
    """µs to render one charger's MQTT topics after a meter reading."""
    charger = ChargerState(charger_id="DE*BMW*E1", name="BMW Wallbox", max_current_a=16)
    charger.mark_connected(remote_address="127.0.0.1", tls=True, authenticated=True, at=utcnow())
    hub = StateHub([charger])
    feed = EventFeed(hub, Controller(hub, ports=lambda _: None))
    devices = MqttDevices(
        hub, feed, BrokerSettings(host="x", port=1), tasks=TaskSet("bench", logger=logging.getLogger())
    )
    watts = iter(range(10**9))

    def reading() -> None:
        now = utcnow()
        charger.meter_values(
            1, [SampledValue(measurand="Power.Active.Import", value=float(next(watts)))], at=now, now=now
        )
        devices.render(charger.charger_id)

    reading_only = timeit.timeit(
        lambda: charger.meter_values(
            1, [SampledValue(measurand="Power.Active.Import", value=1.0)], at=utcnow(), now=utcnow()
        ),
        number=readings,
    )
    total = timeit.timeit(reading, number=readings)
    return (total - reading_only) / readings * 1e6


def idle_rss_mib(mqtt_url: str | None, wait_s: float = 5.0) -> float:
    """The add-on's VmRSS ``wait_s`` after its start."""
    folder = Path(tempfile.mkdtemp(prefix="bmw-wallbox-rss-"))
    (folder / "options.json").write_text(json.dumps({"ssl": False, "chargers": [{"id": "DE*BMW*E1"}]}))
    argv = [
        sys.executable, "-m", "bmw_wallbox", "--options", str(folder / "options.json"), "--data-dir",
        str(folder / "data"), "--host", "127.0.0.1", "--ocpp-port", "0", "--panel-port", "0", "--transfer-port", "0",
        *(["--mqtt-url", mqtt_url] if mqtt_url else []),
    ]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key != "SUPERVISOR_TOKEN"}
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(wait_s)
        status = Path(f"/proc/{process.pid}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    finally:
        process.terminate()
        process.wait(10)
    return kib / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=5000)
    parser.add_argument("--mqtt-url", default=None, help="also measure the idle RSS in MQTT mode on this broker")
    args = parser.parse_args()
    print(f"MQTT render cost per reading: {render_cost_us(args.readings):.0f} µs")
    print(f"idle RSS (no token, no broker): {idle_rss_mib(None):.1f} MiB")
    if args.mqtt_url:
        print(f"idle RSS (MQTT): {idle_rss_mib(args.mqtt_url):.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

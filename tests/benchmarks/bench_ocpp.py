#!/usr/bin/env python3
"""OCPP round-trip benchmark: this add-on's CSMS against a bare ``ocpp`` library CSMS.

Run from the repository root with the package installed::

    python tests/benchmarks/bench_ocpp.py [--seconds N] [--chargers N] [--json]

In one run it

1. starts the add-on (``python -m bmw_wallbox`` with a temporary options file,
   plain ``ws://`` on free loopback ports) in its own process, connects
   ``--chargers`` library charge points (``ocpp.v201.ChargePoint``), lets the
   connect-time provisioning (GetBaseReport, SetVariables, TriggerMessage)
   finish, and measures sequential ``call(Heartbeat)`` and
   ``call(MeterValues)`` (8 sampled values) round trips for ``--seconds`` each;
2. does exactly the same against a minimal CSMS built from the ``ocpp``
   library alone (this file run with ``--bare-server``), also in its own
   process: once with the library's defaults ("bare", schema validation on)
   and once with ``skip_schema_validation=True`` ("bare noval", the floor);
3. reports calls/s, median and p99 latency, and the server's CPU time per call
   (from ``/proc/<pid>/stat``), and the ratios ours/bare of the per-message
   cost (bare calls/s over ours, and server CPU per call);
4. reports the resident memory (``VmRSS``) of each server idle right after
   start and after the load with the chargers still connected;
5. reports the start-up time: process spawn until the OCPP port accepts a
   TCP connection (median of ``--startup-runs`` spawns).

Everything runs on 127.0.0.1; every loop is bounded in time and count, and the
server processes are terminated at the end, also on errors and Ctrl-C.
The file is not collected by pytest (its name does not start with ``test_``).

Linux only (reads ``/proc``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import logging
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

# The tests' own modules (peer, helpers, ha_*) live one folder up; a script only gets its own folder on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import free_port
from peer import REPORT  # the tests' device-model report, real enough for the capability parser

HOST = "127.0.0.1"
SUBPROTOCOL = Subprotocol("ocpp2.0.1")
#: Longest wait for a server process to accept connections.
STARTUP_TIMEOUT_S = 30.0
#: Longest wait for the add-on's connect-time provisioning of all chargers.
PROVISION_TIMEOUT_S = 30.0
#: Quiet time (no request from the CSMS) that ends provisioning, before measuring.
SETTLE_S = 1.0
#: Timeout of one call of the load generator.
CALL_TIMEOUT_S = 10.0
#: How long a server gets to exit after SIGTERM before it is killed.
STOP_TIMEOUT_S = 10.0


def ocpp_now() -> str:
    """The current UTC time as OCPP writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------
# The bare library CSMS (runs in its own process: ``bench_ocpp.py --bare-server PORT``)
# --------------------------------------------------------------------------------------


class BareCsms(ChargePoint):  # type: ignore[misc]  # the ocpp library has no type hints
    """A CSMS made of the ``ocpp`` library alone, with its defaults (schema validation on).

    The library validates each request and each answer against the JSON schema,
    in a thread of the default executor (``ocpp.messages.ASYNC_VALIDATION``).
    """

    @on("BootNotification")  # type: ignore[untyped-decorator]
    def on_boot_notification(self, charging_station: dict[str, Any], reason: str, **kwargs: Any) -> Any:
        """Accept every boot."""
        return call_result.BootNotification(current_time=ocpp_now(), interval=60, status="Accepted")

    @on("Heartbeat")  # type: ignore[untyped-decorator]
    def on_heartbeat(self, **kwargs: Any) -> Any:
        """Answer with the current time."""
        return call_result.Heartbeat(current_time=ocpp_now())

    @on("MeterValues")  # type: ignore[untyped-decorator]
    def on_meter_values(self, evse_id: int, meter_value: list[dict[str, Any]], **kwargs: Any) -> Any:
        """Acknowledge meter values."""
        return call_result.MeterValues()


class BareCsmsNoValidation(ChargePoint):  # type: ignore[misc]  # the ocpp library has no type hints
    """:class:`BareCsms` with ``skip_schema_validation=True``: the floor cost of the library and websockets."""

    @on("BootNotification", skip_schema_validation=True)  # type: ignore[untyped-decorator]
    def on_boot_notification(self, charging_station: dict[str, Any], reason: str, **kwargs: Any) -> Any:
        """Accept every boot."""
        return call_result.BootNotification(current_time=ocpp_now(), interval=60, status="Accepted")

    @on("Heartbeat", skip_schema_validation=True)  # type: ignore[untyped-decorator]
    def on_heartbeat(self, **kwargs: Any) -> Any:
        """Answer with the current time."""
        return call_result.Heartbeat(current_time=ocpp_now())

    @on("MeterValues", skip_schema_validation=True)  # type: ignore[untyped-decorator]
    def on_meter_values(self, evse_id: int, meter_value: list[dict[str, Any]], **kwargs: Any) -> Any:
        """Acknowledge meter values."""
        return call_result.MeterValues()


async def run_bare_server(port: int, *, validate: bool) -> None:
    """Serve :class:`BareCsms` (or :class:`BareCsmsNoValidation`) on ``HOST:port`` until SIGTERM or SIGINT."""
    csms_class = BareCsms if validate else BareCsmsNoValidation

    async def handle(connection: ServerConnection) -> None:
        path = connection.request.path if connection.request else "/"
        csms = csms_class(path.rstrip("/").rsplit("/", 1)[-1], connection)
        with contextlib.suppress(ConnectionClosed):
            await csms.start()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with serve(handle, HOST, port, subprotocols=[SUBPROTOCOL]):
        await stop.wait()


# --------------------------------------------------------------------------------------
# The load generator: library charge points
# --------------------------------------------------------------------------------------


class BenchCharger(ChargePoint):  # type: ignore[misc]  # the ocpp library has no type hints
    """A library charge point that answers the add-on's connect-time requests.

    Requests without a handler here are answered with the library's
    NotImplemented CALLERROR (the add-on tolerates refusals); their names are
    kept in :attr:`csms_calls` like every other request the CSMS sent.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, logger=_QUIET, **kwargs)
        self.csms_calls: dict[str, int] = {}
        self.last_csms_call: float | None = None

    async def route_message(self, raw_msg: str | bytes) -> None:
        """Note each CSMS request (cheap: answers to our own calls are only prefix-checked)."""
        if isinstance(raw_msg, str) and raw_msg.startswith("[2"):
            self.last_csms_call = time.monotonic()
            with contextlib.suppress(ValueError, IndexError, TypeError):
                action = str(json.loads(raw_msg)[2])
                self.csms_calls[action] = self.csms_calls.get(action, 0) + 1
        await super().route_message(raw_msg)

    async def wait_quiet(self, *, quiet_s: float, timeout_s: float, expect_calls: bool) -> None:
        """Wait until the CSMS has sent no request for ``quiet_s`` (and, if expected, sent at least one)."""
        started = time.monotonic()
        async with asyncio.timeout(timeout_s):
            while True:
                last = self.last_csms_call
                if last is None and expect_calls:
                    await asyncio.sleep(0.05)
                    continue
                idle = time.monotonic() - (last if last is not None else started)
                if idle >= quiet_s:
                    return
                await asyncio.sleep(quiet_s - idle)

    @on("GetBaseReport")  # type: ignore[untyped-decorator]
    def on_get_base_report(self, request_id: int, report_base: str, **kwargs: Any) -> Any:
        """Accept; the report follows in :meth:`after_get_base_report`."""
        return call_result.GetBaseReport(status="Accepted")

    @after("GetBaseReport")  # type: ignore[untyped-decorator]
    async def after_get_base_report(self, request_id: int, **kwargs: Any) -> None:
        """Send the whole report in one NotifyReport."""
        await self.call(call.NotifyReport(request_id=request_id, generated_at=ocpp_now(), seq_no=0, report_data=REPORT))

    @on("SetVariables")  # type: ignore[untyped-decorator]
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        """Accept every variable."""
        return call_result.SetVariables(
            set_variable_result=[
                {"attribute_status": "Accepted", "component": item["component"], "variable": item["variable"]}
                for item in set_variable_data
            ]
        )

    @on("TriggerMessage")  # type: ignore[untyped-decorator]
    def on_trigger_message(self, requested_message: str, **kwargs: Any) -> Any:
        """Refuse (no transaction to recover, meter values are pushed)."""
        return call_result.TriggerMessage(status="Rejected")

    @on("SetChargingProfile")  # type: ignore[untyped-decorator]
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any], **kwargs: Any) -> Any:
        """Accept the connect-time limit."""
        return call_result.SetChargingProfile(status="Accepted")

    @on("GetCompositeSchedule")  # type: ignore[untyped-decorator]
    def on_get_composite_schedule(self, duration: int, evse_id: int, **kwargs: Any) -> Any:
        """Cannot tell (keeps the answer small)."""
        return call_result.GetCompositeSchedule(status="Rejected")

    @on("GetTransactionStatus")  # type: ignore[untyped-decorator]
    def on_get_transaction_status(self, **kwargs: Any) -> Any:
        """No transaction runs."""
        return call_result.GetTransactionStatus(messages_in_queue=False, ongoing_indicator=False)


#: The charge points' logger, silenced: a NotImplemented answer is expected here, not an error to print.
_QUIET = logging.getLogger("bench.charger")
_QUIET.disabled = True


def boot_request() -> Any:
    """The BootNotification each charger sends first."""
    return call.BootNotification(
        charging_station={"vendor_name": "Bench", "model": "LoadGen", "firmware_version": "1.0"}, reason="PowerUp"
    )


def heartbeat_request() -> Any:
    """A Heartbeat request."""
    return call.Heartbeat()


def meter_values_request() -> Any:
    """A MeterValues request with 8 sampled values (energy, power, 3 currents, 3 voltages)."""
    sampled: list[dict[str, Any]] = [
        {"value": 12345.6, "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": "Wh"}},
        {"value": 7200.0, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "W"}},
    ]
    sampled += [
        {"value": 10.4, "measurand": "Current.Import", "phase": phase, "unit_of_measure": {"unit": "A"}}
        for phase in ("L1", "L2", "L3")
    ]
    sampled += [
        {"value": 230.1, "measurand": "Voltage", "phase": f"{phase}-N", "unit_of_measure": {"unit": "V"}}
        for phase in ("L1", "L2", "L3")
    ]
    return call.MeterValues(evse_id=1, meter_value=[{"timestamp": ocpp_now(), "sampled_value": sampled}])


REQUESTS: dict[str, Callable[[], Any]] = {"Heartbeat": heartbeat_request, "MeterValues": meter_values_request}


@contextlib.asynccontextmanager
async def connected_charger(url: str, charger_id: str) -> AsyncIterator[BenchCharger]:
    """Connect a :class:`BenchCharger` and run its receive loop while the block runs."""
    async with connect(f"{url}/{charger_id}", subprotocols=[SUBPROTOCOL], open_timeout=10, close_timeout=2) as ws:
        charger = BenchCharger(charger_id, ws, response_timeout=CALL_TIMEOUT_S)
        task = asyncio.create_task(charger.start())
        try:
            yield charger
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await task


# --------------------------------------------------------------------------------------
# Server processes and /proc readings
# --------------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """Resident memory (``VmRSS``) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)"; fields[0] is the state
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


@dataclass
class ServerProcess:
    """A spawned server: its process, its OCPP URL and how long it took to accept connections."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    startup_s: float = math.nan

    @property
    def url(self) -> str:
        """The ``ws://`` base URL chargers connect to."""
        return f"ws://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's output, for error messages."""
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_accepting(self, spawned_at: float) -> None:
        """Poll-connect the OCPP port until it accepts; record the time since ``spawned_at``."""
        deadline = spawned_at + STARTUP_TIMEOUT_S
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    self.startup_s = time.perf_counter() - spawned_at
                    return
            except OSError:
                time.sleep(0.002)
        raise RuntimeError(
            f"{self.name} did not accept connections within {STARTUP_TIMEOUT_S:.0f} s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SUPERVISOR_TOKEN", None)  # would switch the add-on into container mode
    env["PYTHONUNBUFFERED"] = "1"
    return env


def charger_ids(count: int) -> list[str]:
    """The ids of the benchmark chargers."""
    return [f"BENCH{i}" for i in range(count)]


@contextlib.contextmanager
def spawn(name: str, argv: list[str], port: int, log_path: Path) -> Iterator[ServerProcess]:
    """Start a server process, wait until its OCPP port accepts, and always stop it afterwards."""
    with log_path.open("wb") as log:
        spawned_at = time.perf_counter()
        # argv is this interpreter plus fixed arguments built here, never outside input.
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=_child_env()
        )
    server = ServerProcess(name=name, process=process, port=port, log_path=log_path)
    try:
        server.wait_accepting(spawned_at)
        yield server
    finally:
        server.stop()


def ours_argv(workdir: Path, chargers: int, *, ocpp_port: int, profile: Path | None) -> list[str]:
    """Command line of the add-on with a fresh options file and data dir under ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    options = workdir / "options.json"
    options.write_text(
        json.dumps({"ssl": False, "chargers": [{"id": cid} for cid in charger_ids(chargers)], "log_level": "info"}),
        encoding="utf-8",
    )
    runner = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
    return [
        sys.executable,
        *runner,
        "-m",
        "bmw_wallbox",
        "--options",
        str(options),
        "--data-dir",
        str(workdir / "data"),
        "--ssl-dir",
        str(workdir),
        "--host",
        HOST,
        "--ocpp-port",
        str(ocpp_port),
        "--panel-port",
        str(free_port()),
        "--transfer-port",
        "0",
        "--no-ssl",
    ]


def bare_argv(ocpp_port: int, *, validate: bool) -> list[str]:
    """Command line of the bare library CSMS (this file in server mode)."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--bare-server", str(ocpp_port)]
    return argv if validate else [*argv, "--bare-no-validation"]


# --------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    """One message type against one server."""

    calls: int
    seconds: float
    calls_per_s: float
    median_ms: float
    p99_ms: float
    server_cpu_us_per_call: float
    client_cpu_us_per_call: float


@dataclass
class TargetResult:
    """Everything measured for one server."""

    startup_ms: list[float] = field(default_factory=list)
    rss_idle_kib: int = 0
    rss_loaded_kib: int = 0
    phases: dict[str, PhaseResult] = field(default_factory=dict)
    provisioning_calls: dict[str, int] = field(default_factory=dict)

    @property
    def startup_median_ms(self) -> float:
        """Median start-up time over all spawns."""
        return statistics.median(self.startup_ms) if self.startup_ms else math.nan


def percentile(ordered: list[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (0-100) of an ascending list."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


async def _call_loop(
    charger: BenchCharger,
    make: Callable[[], Any],
    *,
    until: float,
    max_calls: int,
    validate: bool,
    latencies: list[float] | None,
) -> int:
    """Sequential calls until the deadline or the count; returns how many were made."""
    payload = make()
    done = 0
    clock = time.perf_counter
    while done < max_calls and clock() < until:
        start = clock()
        await charger.call(payload, suppress=False, skip_schema_validation=not validate)
        if latencies is not None:
            latencies.append(clock() - start)
        done += 1
    return done


async def measure_phase(
    chargers: list[BenchCharger], make: Callable[[], Any], *, pid: int, seconds: float, max_calls: int, validate: bool
) -> PhaseResult:
    """Warm up briefly, then run every charger's call loop concurrently for ``seconds``."""
    warmup_until = time.perf_counter() + min(0.5, seconds / 10)
    await asyncio.gather(
        *(
            _call_loop(c, make, until=warmup_until, max_calls=max_calls, validate=validate, latencies=None)
            for c in chargers
        )
    )
    latencies: list[float] = []
    per_charger = max(1, max_calls // len(chargers))
    server_cpu0, client_cpu0 = cpu_seconds(pid), time.process_time()
    start = time.perf_counter()
    counts = await asyncio.gather(
        *(
            _call_loop(c, make, until=start + seconds, max_calls=per_charger, validate=validate, latencies=latencies)
            for c in chargers
        )
    )
    elapsed = time.perf_counter() - start
    server_cpu, client_cpu = cpu_seconds(pid) - server_cpu0, time.process_time() - client_cpu0
    calls = sum(counts)
    latencies.sort()
    return PhaseResult(
        calls=calls,
        seconds=round(elapsed, 3),
        calls_per_s=calls / elapsed,
        median_ms=statistics.median(latencies) * 1000 if latencies else math.nan,
        p99_ms=percentile(latencies, 99) * 1000,
        server_cpu_us_per_call=server_cpu / calls * 1e6 if calls else math.nan,
        client_cpu_us_per_call=client_cpu / calls * 1e6 if calls else math.nan,
    )


async def bench_server(
    server: ServerProcess,
    result: TargetResult,
    *,
    chargers: int,
    seconds: float,
    max_calls: int,
    provisioned: bool,
    validate: bool,
) -> None:
    """Connect the chargers, boot them, wait for provisioning to go quiet, then measure each message type."""
    async with contextlib.AsyncExitStack() as stack:
        connected = [
            await stack.enter_async_context(connected_charger(server.url, cid)) for cid in charger_ids(chargers)
        ]
        await asyncio.gather(*(c.call(boot_request()) for c in connected))
        await asyncio.gather(
            *(
                c.wait_quiet(quiet_s=SETTLE_S, timeout_s=PROVISION_TIMEOUT_S, expect_calls=provisioned)
                for c in connected
            )
        )
        for charger in connected:
            for action, count in charger.csms_calls.items():
                result.provisioning_calls[action] = result.provisioning_calls.get(action, 0) + count
        for name, make in REQUESTS.items():
            log(f"  {server.name}: {name} for {seconds:g} s with {chargers} charger(s)")
            result.phases[name] = await measure_phase(
                connected, make, pid=server.pid, seconds=seconds, max_calls=max_calls, validate=validate
            )
        result.rss_loaded_kib = rss_kib(server.pid)


def log(message: str) -> None:
    """Progress, on stderr."""
    print(message, file=sys.stderr, flush=True)


#: The servers measured, in order: ours, the bare library with its defaults, the bare library without validation.
TARGETS = ("ours", "bare", "bare-noval")
#: Column titles of the table.
TITLES = {"ours": "ours", "bare": "bare ocpp", "bare-noval": "bare noval"}


def spawn_target(
    name: str, workdir: Path, chargers: int, profile: Path | None = None
) -> contextlib.AbstractContextManager[ServerProcess]:
    """Spawn one of :data:`TARGETS` on a free port, with its own work dir."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    if name == "ours":
        argv = ours_argv(workdir, chargers, ocpp_port=port, profile=profile)
    else:
        argv = bare_argv(port, validate=name == "bare")
    return spawn(name, argv, port, workdir / "server.log")


def run_target(name: str, args: argparse.Namespace, root: Path) -> TargetResult:
    """Spawn one server, measure it, and add extra spawns for the start-up median."""
    result = TargetResult()
    profile = args.profile_server if name == "ours" else None
    with spawn_target(name, root / name, args.chargers, profile) as server:
        log(f"{name}: accepting after {server.startup_s * 1000:.0f} ms (pid {server.pid})")
        result.startup_ms.append(server.startup_s * 1000)
        time.sleep(0.5)  # idle reading half a second after start, before any charger connects
        result.rss_idle_kib = rss_kib(server.pid)
        asyncio.run(
            bench_server(
                server,
                result,
                chargers=args.chargers,
                seconds=args.seconds,
                max_calls=args.max_calls,
                provisioned=name == "ours",
                validate=args.client_validation,
            )
        )
    for run in range(1, args.startup_runs):
        with spawn_target(name, root / f"{name}-startup{run}", args.chargers) as server:
            result.startup_ms.append(server.startup_s * 1000)
    return result


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """Where the figures were taken."""
    versions = {}
    for package in ("ocpp", "websockets", "bmw-wallbox"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "?"
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        **versions,
    }


def ratios(ours: TargetResult, base: TargetResult) -> dict[str, dict[str, float]]:
    """Ours/base per message type: time per call (base calls/s over ours), latencies, server CPU per call."""
    out: dict[str, dict[str, float]] = {}
    for name in REQUESTS:
        o, b = ours.phases[name], base.phases[name]
        out[name] = {
            "per_call_time": b.calls_per_s / o.calls_per_s,
            "median": o.median_ms / b.median_ms,
            "p99": o.p99_ms / b.p99_ms,
            "server_cpu_per_call": o.server_cpu_us_per_call / b.server_cpu_us_per_call,
        }
    return out


_ROWS = (
    ("calls/s", "calls_per_s", "per_call_time", "{:.0f}"),
    ("median ms", "median_ms", "median", "{:.3f}"),
    ("p99 ms", "p99_ms", "p99", "{:.3f}"),
    ("server CPU us/call", "server_cpu_us_per_call", "server_cpu_per_call", "{:.0f}"),
)


def print_table(report: dict[str, Any], out: TextIO) -> None:
    """The human-readable summary."""
    m, p, res, rat = report["machine"], report["params"], report["results"], report["ratios"]
    print(
        f"OCPP round trips: {p['seconds']:g} s per message type and server, {p['chargers']} charger(s), "
        f"client schema validation {'on' if p['client_validation'] else 'off'}",
        file=out,
    )
    print(
        f"{m['nproc']} CPU(s) {m['cpu']}; Python {m['python']}; ocpp {m['ocpp']}, websockets {m['websockets']}, "
        f"bmw-wallbox {m['bmw-wallbox']}",
        file=out,
    )
    bases = [t for t in TARGETS if t != "ours"]
    header = f"{'':<32}" + "".join(f"{TITLES[t]:>12}" for t in TARGETS) + "".join(f"{'ours/' + t:>16}" for t in bases)
    print(header, file=out)
    print("-" * len(header), file=out)
    for name in REQUESTS:
        for label, key, ratio_key, fmt in _ROWS:
            line = f"{name + ' ' + label:<32}"
            line += "".join(f"{fmt.format(res[t]['phases'][name][key]):>12}" for t in TARGETS)
            line += "".join(f"{rat[t][name][ratio_key]:>15.2f}x" for t in bases)
            print(line, file=out)
    rows: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
        ("start-up ms (median)", lambda r: f"{r['startup_median_ms']:.0f}"),
        ("RSS idle MiB", lambda r: f"{r['rss_idle_kib'] / 1024:.1f}"),
        (f"RSS loaded MiB ({p['chargers']} cp)", lambda r: f"{r['rss_loaded_kib'] / 1024:.1f}"),
    )
    for label, cell in rows:
        print(f"{label:<32}" + "".join(f"{cell(res[t]):>12}" for t in TARGETS), file=out)
    print(
        "bare ocpp = ocpp.v201.ChargePoint with the library's defaults (schema validation of request and answer, "
        "in an executor thread);\nbare noval = the same with skip_schema_validation=True. "
        "Ratio of calls/s = base calls/s / ours calls/s (ours' time per message relative to the base).\n"
        "Start-up = process spawn until the OCPP port accepts a TCP connection.",
        file=out,
    )
    calls = res["ours"]["provisioning_calls"]
    print("Connect-time calls from ours: " + (", ".join(f"{a} x{n}" for a, n in calls.items()) or "none"), file=out)
    if p["profile_server"]:
        print(f"Our server ran under cProfile ({p['profile_server']}): its figures are distorted.", file=out)


def target_json(result: TargetResult) -> dict[str, Any]:
    """A target's result as plain JSON."""
    data = asdict(result)
    data["startup_median_ms"] = result.startup_median_ms
    return data


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="measuring time per message type and server (default: %(default)s)"
    )
    parser.add_argument(
        "--chargers", type=int, default=1, help="charge points connected at once (default: %(default)s)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the results as JSON on stdout (the table goes to stderr)"
    )
    parser.add_argument(
        "--max-calls", type=int, default=1_000_000, help="cap on calls per message type (default: %(default)s)"
    )
    parser.add_argument(
        "--startup-runs", type=int, default=3, help="spawns per server for the start-up median (default: %(default)s)"
    )
    parser.add_argument(
        "--client-validation",
        action="store_true",
        help="let the load generator schema-validate its calls and their answers "
        "(the library's default; off by default here to keep the client lean)",
    )
    parser.add_argument(
        "--profile-server", type=Path, default=None, metavar="FILE", help="run our server under cProfile, writing FILE"
    )
    parser.add_argument("--bare-server", type=int, default=None, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--bare-no-validation", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 600:
        parser.error("--seconds must be in (0, 600]")
    if not 1 <= args.chargers <= 100:
        parser.error("--chargers must be in [1, 100]")
    if not 1 <= args.startup_runs <= 20:
        parser.error("--startup-runs must be in [1, 20]")
    if args.max_calls < 1:
        parser.error("--max-calls must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the whole benchmark; returns the exit code."""
    args = parse_args(argv)
    if args.bare_server is not None:
        asyncio.run(run_bare_server(args.bare_server, validate=not args.bare_no_validation))
        return 0
    if not Path("/proc/self/status").exists():
        log("This benchmark reads /proc and runs on Linux only.")
        return 2
    if args.profile_server is not None:
        args.profile_server = args.profile_server.resolve()
    results: dict[str, TargetResult] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ocpp-") as tmp:
        try:
            for name in TARGETS:
                results[name] = run_target(name, args, Path(tmp))
        except (RuntimeError, OSError, TimeoutError, ConnectionClosed, OCPPError) as err:
            log(f"Benchmark failed: {type(err).__name__}: {err}")
            return 1
        except KeyboardInterrupt:
            log("Interrupted; the servers were stopped.")
            return 130
    report = {
        "command": " ".join(
            ["python", "tests/benchmarks/bench_ocpp.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": machine(),
        "params": {
            "seconds": args.seconds,
            "chargers": args.chargers,
            "max_calls": args.max_calls,
            "startup_runs": args.startup_runs,
            "client_validation": args.client_validation,
            "profile_server": str(args.profile_server) if args.profile_server else None,
        },
        "results": {name: target_json(result) for name, result in results.items()},
        "ratios": {name: ratios(results["ours"], results[name]) for name in TARGETS if name != "ours"},
    }
    print_table(report, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

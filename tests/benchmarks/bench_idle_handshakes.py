#!/usr/bin/env python3
"""Resident memory of the add-on while many idle TLS connections sit in their handshake.

Run from the repository root with the package and the test requirements installed::

    python tests/benchmarks/bench_idle_handshakes.py [--connections 1000] [--no-tls] [--pythonpath DIR]

It starts the add-on in its own process (``python -m bmw_wallbox``, TLS with a
throw-away CA, one charger configured), reads its ``VmRSS``, then opens
``--connections`` TCP connections that never send a TLS hello, eight from each
of many loopback addresses (127.0.2.x, 127.0.3.x ...) so a per-address cap
alone cannot refuse them, waits a second and reads ``VmRSS`` again, well within
the 10 s handshake timeout. ``--pythonpath`` runs another checkout of the
package (for example the code before the handshake caps) for comparison.
Everything runs on loopback and the process is stopped at the end. Not
collected by pytest (the name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trustme


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident memory of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def wait_listening(port: int, timeout_s: float = 20.0) -> None:
    """Wait until something accepts connections on ``port``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return


async def open_idle(port: int, count: int) -> tuple[list[asyncio.StreamWriter], int]:
    """``count`` idle connections, eight per source address; the writers and how many were refused at once."""
    writers: list[asyncio.StreamWriter] = []
    refused = 0
    for n in range(count):
        source = f"127.0.{2 + n // 8 // 250}.{1 + n // 8 % 250}"
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        except OSError:
            refused += 1
            continue
        writers.append(writer)
    return writers, refused


async def main() -> None:
    """Start the add-on, flood it with idle connections, print the memory figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--no-tls", action="store_true")
    parser.add_argument("--pythonpath", type=Path, default=None, help="bmw_wallbox_addon folder of another checkout")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cert = trustme.CA().issue_cert("localhost")
        (folder / "ssl").mkdir()
        cert.private_key_pem.write_to_path(str(folder / "ssl" / "privkey.pem"))
        (folder / "ssl" / "fullchain.pem").write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
        options = {"chargers": [{"id": "DE*BMW*EBENCH01"}], "ssl": not args.no_tls, "log_level": "warning"}
        (folder / "options.json").write_text(json.dumps(options), encoding="utf-8")
        ocpp_port, panel_port = free_port(), free_port()
        env = dict(os.environ)
        if args.pythonpath is not None:
            env["PYTHONPATH"] = str(args.pythonpath)
        env.pop("SUPERVISOR_TOKEN", None)
        command = [sys.executable, "-m", "bmw_wallbox", "--options", str(folder / "options.json")]
        command += ["--data-dir", str(folder / "data"), "--ssl-dir", str(folder / "ssl"), "--host", "127.0.0.1"]
        command += ["--ocpp-port", str(ocpp_port), "--panel-port", str(panel_port), "--transfer-port", "0"]
        process = await asyncio.create_subprocess_exec(*command, env=env, stderr=subprocess.DEVNULL)
        try:
            await wait_listening(panel_port)
            await wait_listening(ocpp_port)
            await asyncio.sleep(1.0)
            before = rss_kib(process.pid)
            started = time.monotonic()
            writers, refused = await open_idle(ocpp_port, args.connections)
            opened_s = time.monotonic() - started
            await asyncio.sleep(1.0)
            during = rss_kib(process.pid)
            for writer in writers:
                writer.close()
            print(
                json.dumps(
                    {
                        "connections": args.connections,
                        "tls": not args.no_tls,
                        "refused_while_connecting": refused,
                        "open_s": round(opened_s, 2),
                        "rss_before_mib": round(before / 1024, 1),
                        "rss_with_idle_mib": round(during / 1024, 1),
                    }
                )
            )
        finally:
            process.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 10)
            if process.returncode is None:
                process.kill()
                await process.wait()


if __name__ == "__main__":
    asyncio.run(main())

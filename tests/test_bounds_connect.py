"""Wall-clock, file-descriptor and memory bounds of the OCPP server under hostile connection attempts.

Part of the ``bounds`` group (``pytest -m bounds``), see pyproject.toml: the right
password gets through within one throttle refill after guessing, and
connections that never finish their handshake are closed within the handshake
timeout without keeping file descriptors or memory.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import TypeVar

import pytest

from bmw_wallbox.csms.guards import AuthThrottle
from bmw_wallbox.csms.handshakes import HandshakeGate
from bmw_wallbox.csms.server import tls_context

from conftest import AUTH_CHARGER_ID, PASSWORD, StartApp, bare_csms, default_options
from helpers import eventually
from peer import handshake_status

pytestmark = pytest.mark.bounds

T = TypeVar("T")


async def test_right_password_connects_within_one_refill_after_guessing(start_app: StartApp) -> None:
    """After a burst of wrong passwords from its own address, the charger connects within 2 s (one refill)."""
    app = await start_app(options=default_options(ssl=False))
    port = app.ocpp_port
    assert port is not None
    for _ in range(30):
        await handshake_status(port, AUTH_CHARGER_ID, "wrong")
    started = time.monotonic()
    status = await eventually(
        lambda: handshake_status(port, AUTH_CHARGER_ID, PASSWORD),
        until=lambda status: status != 429,
        what="the throttle to let the right password through",
        timeout=5,
        interval=0.1,
    )
    waited_s = time.monotonic() - started
    assert status == 101
    assert waited_s < AuthThrottle().refill_s + 1.5


# --------------------------------------------------------------------------------------
# Half-open handshakes
# --------------------------------------------------------------------------------------

HANDSHAKE_TIMEOUT_S = 0.5
#: Real seconds after the handshake timeout by which the server must have closed a half-open connection.
CLOSE_SLACK_S = 5.0
#: Real seconds the tests wait at most, well beyond the bound, so that a slow server fails the bound's assert.
GUARD_S = 30.0
FLOOD = 300


def open_fds() -> int:
    """File descriptors this process holds now."""
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
async def bare_server(tmp_path: Path, ssl_dir: Path, request: pytest.FixtureRequest) -> AsyncIterator[int]:
    """The OCPP server alone (TLS if the test is parametrized so), with a 0.5 s handshake timeout; yields its port."""
    server = bare_csms(
        default_options(),
        handshake_timeout_s=HANDSHAKE_TIMEOUT_S,
        gate=HandshakeGate(per_address=FLOOD, total=FLOOD),  # the timeout is under test here, not the caps
    )
    tls = tls_context(ssl_dir, "fullchain.pem", "privkey.pem") if request.param == "tls" else None
    port = await server.start("127.0.0.1", 0, tls=tls)
    yield port
    await server.stop()


async def _flood(port: int, opening: bytes) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(FLOOD)]
    for _, writer in streams:
        if opening:
            writer.write(opening)
    return streams


async def _closed_by_server(reader: asyncio.StreamReader) -> None:
    try:
        while await reader.read(4096):
            pass
    except ConnectionResetError:
        pass


async def _guarded(awaitable: Awaitable[T], what: str) -> T:
    """``await awaitable``, failing with ``what`` after GUARD_S real seconds."""
    try:
        async with asyncio.timeout(GUARD_S):
            return await awaitable
    except TimeoutError:
        raise AssertionError(f"{what} took more than {GUARD_S:g} s") from None


@pytest.mark.parametrize(
    ("bare_server", "opening"),
    [
        pytest.param("plain", b"", id="tcp-silent"),
        pytest.param("plain", b"GET /ocpp/x HTTP/1.1\r\nHost: localhost\r\n", id="http-unfinished"),
        pytest.param("tls", b"", id="tls-silent"),
        pytest.param("tls", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", id="tls-hello-cut"),
    ],
    indirect=["bare_server"],
)
async def test_half_open_handshakes_are_closed_and_fds_come_back(bare_server: int, opening: bytes) -> None:
    """300 connections that never finish the handshake are closed by the server within the timeout; no fd leaks."""
    baseline = open_fds()
    streams = await _flood(bare_server, opening)
    started = time.monotonic()
    assert open_fds() <= baseline + 2 * FLOOD + 5  # each side of each connection, nothing more
    await _guarded(asyncio.gather(*(_closed_by_server(reader) for reader, _ in streams)), "closing the flood")
    assert time.monotonic() - started < HANDSHAKE_TIMEOUT_S + CLOSE_SLACK_S
    for _, writer in streams:
        writer.close()
    await asyncio.gather(*(writer.wait_closed() for _, writer in streams), return_exceptions=True)
    assert open_fds() <= baseline + 2


def rss_kib() -> int:
    """Resident memory of this process, in KiB."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def _send_headers_until_closed(writer: asyncio.StreamWriter) -> int:
    """Send header lines (64 KiB at a time) until the server cuts the connection; return the bytes sent."""
    chunk = b"".join(f"X-Header-{n}: {'v' * 100}\r\n".encode() for n in range(600))
    sent = 0
    try:
        while True:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
    except (ConnectionResetError, BrokenPipeError):
        return sent


@pytest.mark.parametrize("bare_server", ["plain"], indirect=True)
async def test_endless_headers_are_discarded_and_cut_off(bare_server: int) -> None:
    """Megabytes of header lines are read and thrown away, not kept, and cut off at the handshake timeout."""
    _, writer = await asyncio.open_connection("127.0.0.1", bare_server)
    writer.write(b"GET /ocpp/x HTTP/1.1\r\n")
    before_kib = rss_kib()
    started = time.monotonic()
    sent = await _guarded(_send_headers_until_closed(writer), "cutting off the headers")
    assert time.monotonic() - started < HANDSHAKE_TIMEOUT_S + CLOSE_SLACK_S
    assert sent > 1024 * 1024
    assert rss_kib() - before_kib < 8 * 1024
    writer.close()

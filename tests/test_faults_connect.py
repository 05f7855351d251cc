"""Hostile connection attempts: password guessing is slowed down and logged without flooding;
half-open handshakes are closed, so file descriptors stay bounded."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from bmw_wallbox.csms.guards import AuthThrottle
from bmw_wallbox.csms.handshakes import HandshakeGate
from bmw_wallbox.csms.server import CsmsServer, tls_context
from bmw_wallbox.state import ChargerState, StateHub
from bmw_wallbox.trace import Trace

from conftest import AUTH_CHARGER_ID, PASSWORD, StartApp, default_options
from peer import basic_auth

ATTACKER = "127.0.0.2"
SERVER_LOGGER = "bmw_wallbox.csms.server"


async def attempt(port: int, password: str, *, source: str = "127.0.0.1") -> int:
    """One connection attempt as AUTH_CHARGER_ID; the HTTP status (101 when it connected)."""
    url = f"ws://127.0.0.1:{port}/{quote(AUTH_CHARGER_ID, safe='')}"
    try:
        async with connect(
            url,
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            additional_headers=basic_auth(AUTH_CHARGER_ID, password),
            local_addr=(source, 0),
            open_timeout=5,
        ):
            return 101
    except InvalidStatus as err:
        return err.response.status_code


async def test_wrong_passwords_get_429_after_five(start_app: StartApp) -> None:
    """Five wrong passwords are answered 401; from then on 429 without checking, even for the right one."""
    app = await start_app(options=default_options(ssl=False))
    port = app.ocpp_port
    assert port is not None
    statuses = [await attempt(port, "wrong") for _ in range(20)]
    assert statuses == [401] * 5 + [429] * 15
    assert await attempt(port, PASSWORD) == 429


async def test_right_password_connects_within_one_refill_after_guessing(start_app: StartApp) -> None:
    """After a burst of wrong passwords from its own address, the charger connects within 2 s (one refill)."""
    app = await start_app(options=default_options(ssl=False))
    port = app.ocpp_port
    assert port is not None
    for _ in range(30):
        await attempt(port, "wrong")
    started = time.monotonic()
    status = 429
    async with asyncio.timeout(5):
        while status == 429:
            status = await attempt(port, PASSWORD)
            if status == 429:
                await asyncio.sleep(0.1)
    assert status == 101
    assert time.monotonic() - started < AuthThrottle().refill_s + 1.5


async def test_guessing_from_another_address_does_not_lock_the_charger_out(start_app: StartApp) -> None:
    """Wrong passwords from 127.0.0.2 do not delay the charger on 127.0.0.1 at all."""
    app = await start_app(options=default_options(ssl=False))
    port = app.ocpp_port
    assert port is not None
    guesses = [await attempt(port, f"guess-{n}", source=ATTACKER) for n in range(10)]
    assert guesses[-1] == 429
    assert await attempt(port, PASSWORD) == 101


async def test_password_guessing_is_logged_in_a_few_lines(
    start_app: StartApp, caplog: pytest.LogCaptureFixture
) -> None:
    """100 wrong passwords: three lines for the 401s, three for the 429s, then one summary line each."""
    app = await start_app(options=default_options(ssl=False))
    port = app.ocpp_port
    assert port is not None
    with caplog.at_level(logging.WARNING, logger=SERVER_LOGGER):
        for _ in range(100):
            await attempt(port, "wrong")
        await app.stop()
    lines = [
        r.getMessage() for r in caplog.records if r.name == "bmw_wallbox.csms.server" and r.levelno >= logging.WARNING
    ]
    peer = f"{AUTH_CHARGER_ID} from 127.0.0.1"
    assert lines[:3] == [f"Refused {peer}: wrong password or username"] * 3
    assert [line.split("; next try")[0] for line in lines[3:6]] == [
        f"Refused {peer}: too many wrong passwords from this address"
    ] * 3
    assert lines[6:] == [
        f"2 more refused attempts (wrong password or username) in the last 60 s, e.g. {peer} "
        "(each logged at debug level)",
        f"92 more refused attempts after too many wrong passwords in the last 60 s, e.g. {peer} "
        "(each logged at debug level)",
    ]


async def test_random_unknown_ids_are_remembered_up_to_50(
    start_app: StartApp, caplog: pytest.LogCaptureFixture
) -> None:
    """A flood of made-up charger ids is refused 404; only the first 50 are kept for the panel."""
    app = await start_app(options=default_options(ssl=False))
    with caplog.at_level(logging.WARNING, logger=SERVER_LOGGER):
        for n in range(80):
            url = f"ws://127.0.0.1:{app.ocpp_port}/MADE-UP-{n}"
            with pytest.raises(InvalidStatus) as info:
                async with connect(url, subprotocols=["ocpp2.0.1"]):  # type: ignore[list-item]
                    pass
            assert info.value.response.status_code == 404
    assert len(app.hub.unknown_ids) == 50
    assert len([r for r in caplog.records if r.name == SERVER_LOGGER and r.levelno >= logging.WARNING]) == 3


# --------------------------------------------------------------------------------------
# Half-open handshakes
# --------------------------------------------------------------------------------------

HANDSHAKE_TIMEOUT_S = 0.5
FLOOD = 300


def open_fds() -> int:
    """File descriptors this process holds now."""
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
async def bare_server(tmp_path: Path, ssl_dir: Path, request: pytest.FixtureRequest) -> AsyncIterator[int]:
    """The OCPP server alone (TLS if the test is parametrized so), with a 0.5 s handshake timeout; yields its port."""
    options = default_options()
    hub = StateHub([ChargerState(charger_id=c.id, name=c.display_name, max_current_a=32) for c in options.chargers])

    async def no_work(link: object) -> None:
        await asyncio.Event().wait()

    server = CsmsServer(
        options=options,
        hub=hub,
        trace=Trace(),
        run_connection=no_work,
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
    async with asyncio.timeout(HANDSHAKE_TIMEOUT_S + 5):
        await asyncio.gather(*(_closed_by_server(reader) for reader, _ in streams))
    assert time.monotonic() - started < HANDSHAKE_TIMEOUT_S + 5
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
    async with asyncio.timeout(HANDSHAKE_TIMEOUT_S + 5):
        sent = await _send_headers_until_closed(writer)
    assert time.monotonic() - started < HANDSHAKE_TIMEOUT_S + 5
    assert sent > 1024 * 1024
    assert rss_kib() - before_kib < 8 * 1024
    writer.close()

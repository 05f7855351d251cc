"""Connections that have not finished the WebSocket upgrade are capped per address and in total, and refused at once
beyond; a charger that completes its handshake promptly still gets in while another address floods."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ocpp.v201 import call

from bmw_wallbox.csms.handshakes import MAX_PENDING, MAX_PENDING_PER_ADDRESS
from bmw_wallbox.csms.server import tls_context

from conftest import AUTH_CHARGER_ID, CHARGER_ID, PASSWORD, bare_csms, default_options
from peer import library_charger

ATTACKER = "127.0.0.2"
#: Long enough that idle connections admitted by the gate are still open when the test looks.
HANDSHAKE_TIMEOUT_S = 20.0
#: How soon a refused connection must be closed, in seconds.
REFUSED_WITHIN_S = 1.0

#: An idle connection, or None when the server reset it while it was still connecting.
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter] | None


@pytest.fixture(params=["plain", "tls"])
async def server(tmp_path: Path, ssl_dir: Path, request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, int]]:
    """The OCPP server alone, plain or TLS; yields the URL scheme and its port."""
    csms = bare_csms(default_options(), handshake_timeout_s=HANDSHAKE_TIMEOUT_S)
    tls = tls_context(ssl_dir, "fullchain.pem", "privkey.pem") if request.param == "tls" else None
    port = await csms.start("127.0.0.1", 0, tls=tls)
    yield ("wss" if tls else "ws"), port
    await csms.stop()


async def _open(port: int, source: str) -> Stream:
    try:
        return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    except ConnectionResetError:  # reset so fast that the connect itself saw it
        return None


@contextlib.asynccontextmanager
async def idle(port: int, count: int, *, source: str = ATTACKER) -> AsyncIterator[list[Stream]]:
    """``count`` TCP connections from ``source``, one after the other, that say nothing (no TLS hello, no request)."""
    streams = [await _open(port, source) for _ in range(count)]
    try:
        yield streams
    finally:
        writers = [stream[1] for stream in streams if stream is not None]
        for writer in writers:
            writer.close()
        await asyncio.gather(*(writer.wait_closed() for writer in writers), return_exceptions=True)


async def closed_by_server(stream: Stream, within_s: float) -> bool:
    """Whether the server closes the connection within ``within_s`` seconds (or reset it while connecting)."""
    if stream is None:
        return True
    try:
        async with asyncio.timeout(within_s):
            return await stream[0].read(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


async def test_ninth_idle_connection_from_one_address_is_refused_at_once(server: tuple[str, int]) -> None:
    """Eight idle connections from one address stay open; the ninth is closed within a second, before any TLS."""
    _, port = server
    async with idle(port, MAX_PENDING_PER_ADDRESS + 1) as streams:
        started = time.monotonic()
        assert await closed_by_server(streams[-1], REFUSED_WITHIN_S)
        assert time.monotonic() - started < REFUSED_WITHIN_S
        assert not any(await asyncio.gather(*(closed_by_server(stream, 0.2) for stream in streams[:-1])))


async def test_pending_handshakes_are_capped_in_total(server: tuple[str, int]) -> None:
    """Idle connections from many addresses: 64 are held, every one beyond is refused at once."""
    _, port = server
    sources = [f"127.0.1.{n}" for n in range(1, MAX_PENDING // MAX_PENDING_PER_ADDRESS + 3)]
    async with contextlib.AsyncExitStack() as stack:
        streams = [s for source in sources for s in await stack.enter_async_context(idle(port, 8, source=source))]
        closed = await asyncio.gather(*(closed_by_server(stream, REFUSED_WITHIN_S) for stream in streams))
    assert len(streams) - sum(closed) == MAX_PENDING


async def test_closed_idle_connections_free_their_slots(server: tuple[str, int]) -> None:
    """When idle connections go away, their address may open as many again."""
    _, port = server
    async with idle(port, MAX_PENDING_PER_ADDRESS):
        pass
    await asyncio.sleep(0.2)
    async with idle(port, MAX_PENDING_PER_ADDRESS) as streams:
        closed = await asyncio.gather(*(closed_by_server(stream, 0.3) for stream in streams))
    assert not any(closed)


async def test_charger_connects_while_another_address_floods(
    server: tuple[str, int], client_ssl: ssl.SSLContext
) -> None:
    """200 idle connections from 127.0.0.2 do not keep a charger on 127.0.0.1 out."""
    scheme, port = server
    async with (
        idle(port, 200),
        library_charger(
            f"{scheme}://localhost:{port}",
            AUTH_CHARGER_ID,
            password=PASSWORD,
            ssl_context=client_ssl if scheme == "wss" else None,
        ) as charger,
    ):
        answer = await charger.call(call.Heartbeat(), suppress=False)
        assert answer.current_time.endswith("Z")


async def test_connected_chargers_do_not_count_as_pending(server: tuple[str, int], client_ssl: ssl.SSLContext) -> None:
    """A charger that finished its upgrade frees its slot: its address may still hold eight pending handshakes."""
    scheme, port = server
    async with (
        library_charger(
            f"{scheme}://localhost:{port}", CHARGER_ID, ssl_context=client_ssl if scheme == "wss" else None
        ),
        idle(port, MAX_PENDING_PER_ADDRESS, source="127.0.0.1") as streams,
    ):
        closed = await asyncio.gather(*(closed_by_server(stream, 0.3) for stream in streams))
    assert not any(closed)

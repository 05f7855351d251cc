"""Hostile connection attempts: password guessing is slowed down and logged without flooding.

How fast the right password gets through again, and that half-open handshakes
are closed with file descriptors and memory bounded, are in
``test_bounds_connect.py``.
"""

from __future__ import annotations

import logging

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from conftest import AUTH_CHARGER_ID, PASSWORD, StartApp, default_options
from peer import handshake_status

ATTACKER = "127.0.0.2"
SERVER_LOGGER = "bmw_wallbox.csms.server"


async def attempt(port: int, password: str, *, source: str = "127.0.0.1") -> int:
    """One connection attempt as AUTH_CHARGER_ID; the HTTP status (101 when it connected)."""
    return await handshake_status(port, AUTH_CHARGER_ID, password, source=source)


async def test_wrong_passwords_get_429_after_five(start_app: StartApp) -> None:
    """Five wrong passwords are answered 401; from then on 429 without checking, even for the right one."""
    app = await start_app(options=default_options(ssl=False))
    port = app.ocpp_port
    assert port is not None
    statuses = [await attempt(port, "wrong") for _ in range(20)]
    assert statuses == [401] * 5 + [429] * 15
    assert await attempt(port, PASSWORD) == 429


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

"""Test helpers that need no fixture: waiting until something holds, a free port, the limit of a charging profile.

:func:`eventually` is the one way the tests (and the Home Assistant harness) wait
for something: it polls, and when time runs out it fails with an
``AssertionError`` that says what it waited for and the last value it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from bmw_wallbox.simulator.clock import SimClock

T = TypeVar("T")

#: Real seconds :func:`eventually` waits unless told otherwise.
DEFAULT_TIMEOUT_S = 10.0


async def eventually(
    check: Callable[[], T | Awaitable[T]],
    *,
    what: str,
    until: Callable[[T], object] = bool,
    timeout: float = DEFAULT_TIMEOUT_S,
    interval: float = 0.02,
    ignore: tuple[type[Exception], ...] = (),
) -> T:
    """Call ``check()`` every ``interval`` s until ``until(value)`` holds; return that value.

    ``check`` may be a plain or an async callable. ``until`` defaults to truthiness,
    so a predicate can be the check itself; to report the last value seen, let
    ``check`` return the value and ``until`` judge it. Exceptions of the types in
    ``ignore`` count as "not yet" (for example a server that is not up yet). After
    ``timeout`` real seconds an ``AssertionError`` names ``what`` was awaited and the
    last value (or exception) seen.
    """
    last: Any = "(never checked)"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            value = check()
            if inspect.isawaitable(value):
                value = await value
        except ignore as err:
            last = err
        else:
            last = value
            if until(value):  # type: ignore[arg-type]
                return value  # type: ignore[return-value]
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; last seen: {last!r}")
        await asyncio.sleep(interval)


async def simulated_time_passes(clock: SimClock, seconds: float) -> None:
    """Wait until ``seconds`` simulated seconds passed on ``clock`` (the simulated wallbox's)."""
    until_s = clock.now_s() + seconds
    await eventually(
        clock.now_s, what=f"{seconds:g} simulated seconds", until=lambda now: now >= until_s, interval=0.005
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for programs that cannot take port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that refuses connections for as long as the block runs.

    The port stays bound (without listening), so no other server of the test can
    take it meanwhile, as it could take a port from :func:`free_port`.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def profile_limit(payload: Mapping[str, Any]) -> float:
    """The limit of the first period of a SetChargingProfile, or of the profile itself.

    Takes the wire form (camelCase, as the simulator keeps what it received)
    and the library's snake_case form (as a library charge point gets it).
    """
    profile = payload.get("chargingProfile", payload.get("charging_profile", payload))
    schedule = profile.get("chargingSchedule", profile.get("charging_schedule"))[0]
    periods = schedule.get("chargingSchedulePeriod", schedule.get("charging_schedule_period"))
    return float(periods[0]["limit"])


def profile_limits(received: Iterable[tuple[str, Mapping[str, Any]]], after: int = 0) -> list[float]:
    """The limits of the SetChargingProfile calls among ``received`` (action, payload) from index ``after`` on."""
    return [profile_limit(p) for a, p in list(received)[after:] if a == "SetChargingProfile"]

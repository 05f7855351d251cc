"""Starting a session: the decisions (without I/O) and the gate that makes concurrent Starts one.

A Start for a charger whose Start is still running joins it and gets its
outcome; a Start in the ``pending_s`` after an accepted one, while the
charger has not reported the transaction yet, gets that outcome too. So the
API, MQTT and Home Assistant together send one RequestStartTransaction per
session, however many Starts arrive.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bmw_wallbox.ports import StartAnswer
from bmw_wallbox.records import BootInfo
from bmw_wallbox.results import CommandResult, Outcome
from bmw_wallbox.state import ChargerState

#: Seconds after an accepted start during which another Start gets its outcome (the transaction is on its way).
START_PENDING_S = 30.0
#: Seconds after a connect during which an unknown connector status means "not known yet".
STATUS_GRACE = timedelta(seconds=30)
#: What a caller is told to wait before asking again while the status is not known yet, in s.
RETRY_AFTER_S = 5


def is_delta(boot: BootInfo) -> bool:
    """True for the Delta wallbox (BMW and Mini branded), by its BootNotification vendor."""
    return "delta" in (boot.vendor or "").lower()


def stop_done(boot: BootInfo) -> str:
    """The accepted Stop's sentence: the Delta's unplug advice only for the Delta."""
    if is_delta(boot):
        return "transaction stopping; the Delta wallbox needs the car unplugged before it can start again"
    return "transaction stopping; some chargers start again only after the car was unplugged"


def blocked(state: ChargerState, evse_id: int, *, now: datetime) -> CommandResult | None:
    """Why a Start on this EVSE sends nothing now (its session runs, no car, status not known yet), or None."""
    evse = state.evse(evse_id)
    tx = evse.transaction
    if tx is not None and not state.limits_supported:
        detail = "a session is already running (this charger takes no limits, so it cannot be paused)"
        return CommandResult(command="start", outcome=Outcome.NOT_APPLICABLE, detail=detail)
    if tx is not None and not state.is_paused(evse_id):
        return CommandResult(command="start", outcome=Outcome.NOT_APPLICABLE, detail="a session is already running")
    if tx is not None or evse.car_present:
        return None
    since = state.connected_since
    if evse.connector_status is None and state.connected and since is not None and now - since < STATUS_GRACE:
        return CommandResult(
            command="start",
            outcome=Outcome.NOT_READY,
            detail="the connector status is not known yet (the charger just connected); try again in a few seconds",
            retry_after_s=RETRY_AFTER_S,
        )
    status = evse.connector_status or "unknown"
    return CommandResult(
        command="start", outcome=Outcome.NOT_APPLICABLE, detail=f"no car connected (connector {status})"
    )


def refused(answer: StartAnswer, *, after_remote_stop: bool, boot: BootInfo) -> CommandResult:
    """The charger refused RequestStartTransaction; after a remote stop the advice fits the vendor."""
    detail = f"the charger refused to start ({answer.describe()})"
    if after_remote_stop and is_delta(boot):
        detail += (
            "; after a remote stop the Delta wallbox starts again only after the car is unplugged"
            " or a reboot: use pause instead of stop"
        )
    elif after_remote_stop:
        detail += "; some chargers start again after a remote stop only once the car was unplugged"
    return CommandResult(command="start", outcome=Outcome.REJECTED, detail=detail)


def started(limit: CommandResult | None) -> CommandResult:
    """An accepted start with the outcome of the limit sent right after it (None: the charger takes no limits)."""
    if limit is None:
        warning = "this charger does not support current limits: no limit is in force"
        return CommandResult(
            command="start",
            outcome=Outcome.ACCEPTED,
            detail=f"start accepted; {warning}",
            data={"limit_enforced": False},
            warning=warning,
        )
    if limit.ok:
        return CommandResult(
            command="start",
            outcome=Outcome.ACCEPTED,
            detail=f"start accepted; {limit.detail}",
            data={**limit.data, "limit_enforced": True},
        )
    warning = f"the limit is not enforced: {limit.detail}"
    return CommandResult(
        command="start",
        outcome=Outcome.ACCEPTED,
        detail=f"start accepted, but {warning}",
        data={**limit.data, "limit_enforced": False},
        warning=warning,
    )


#: What a Start is for: the charger and its EVSE.
StartKey = tuple[str, int]


class StartGate:
    """One Start per EVSE at a time; the Starts that arrive meanwhile (or just after an accepted one) share it.

    ``clock`` (monotonic seconds) is injectable for tests.
    """

    def __init__(self, *, pending_s: float = START_PENDING_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._pending_s = pending_s
        self._clock = clock
        self._running: dict[StartKey, asyncio.Task[CommandResult]] = {}
        self._accepted: dict[StartKey, tuple[float, CommandResult]] = {}

    async def start(self, key: StartKey, run: Callable[[], Awaitable[CommandResult]]) -> CommandResult:
        """Run ``run()`` unless a Start of this EVSE runs or was just accepted; every caller gets the one outcome."""
        recent = self._accepted.get(key)
        if recent is not None and self._clock() - recent[0] < self._pending_s:
            return recent[1]
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(run())
            self._running[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def requested(self, key: StartKey, result: CommandResult) -> None:
        """The charger accepted a RequestStartTransaction: Starts in the next ``pending_s`` get ``result``."""
        self._accepted[key] = (self._clock(), result)

    def forget(self, charger_id: str, evse_id: int | None = None) -> None:
        """The EVSE (None: every EVSE of the charger) reported a transaction, went away or freed its connector:
        the next Start is decided anew."""
        for key in [k for k in self._accepted if k[0] == charger_id and evse_id in (None, k[1])]:
            del self._accepted[key]

    async def close(self) -> None:
        """Cancel the Starts still running (at shutdown)."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _finished(self, key: StartKey, task: asyncio.Task[CommandResult]) -> None:
        if self._running.get(key) is task:
            del self._running[key]

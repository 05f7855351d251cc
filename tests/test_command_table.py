"""The one command table against a fake port: every outcome recorded and announced, floods coalesced, one Start."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bmw_wallbox.controller import Command, Controller, Outcome, run, runner
from bmw_wallbox.controller.start import stop_done
from bmw_wallbox.hub import StateHub
from bmw_wallbox.ports import Answer
from bmw_wallbox.records import BootInfo
from bmw_wallbox.results import CommandResult
from bmw_wallbox.state import ChargerState, ConnectorStatus, Save, utcnow
from bmw_wallbox.store import Store
from bmw_wallbox.tokens import LocalListSync, TokenService

from fakeport import FakePort
from helpers import eventually

T0 = utcnow()


def charger(*, transaction: bool = True, status: ConnectorStatus | None = ConnectorStatus.OCCUPIED) -> ChargerState:
    """A connected 16 A charger, connected a minute ago, with a car plugged in and optionally a running transaction."""
    state = ChargerState(charger_id="CP1", name="Wallbox", max_current_a=16)
    state.mark_connected(remote_address=None, tls=True, authenticated=True, at=T0 - timedelta(minutes=1))
    if status is not None:
        state.status_reported(1, status)
    if transaction:
        state.transaction_event(event_type="Started", transaction_id="tx-1", evse_id=1, at=T0, now=T0)
    return state


class Watch:
    """A controller on ``port`` with every commit and every announced result recorded."""

    def __init__(self, port: FakePort, **kwargs: Any) -> None:
        self.hub = StateHub([port.state])
        self.commits: list[Save] = []
        self.announced: list[CommandResult] = []
        self.hub.subscribe(lambda charger_id, save: self.commits.append(save))
        self.controller = Controller(self.hub, ports=lambda _: port, min_interval_s=0.0, **kwargs)
        self.controller.subscribe_results(lambda charger_id, result: self.announced.append(result))

    @property
    def durable(self) -> int:
        """Durable commits so far (each is one fsynced write of the charger's file)."""
        return self.commits.count(Save.NOW)


# --- every outcome the same way ---------------------------------------------------------------------


async def test_an_invalid_command_is_recorded_and_announced() -> None:
    """A limit with bad amps becomes the last command and is announced like any other outcome."""
    watch = Watch(FakePort(charger()))
    result = await run(watch.controller, Command.SET_CURRENT_LIMIT, "CP1", "lots")
    last = watch.hub.chargers["CP1"].last_command
    assert last is not None
    assert (last.command, last.outcome) == ("set_current_limit", "invalid")
    assert watch.announced == [result]
    assert watch.durable == 1


async def test_a_command_from_outside_the_controller_is_recorded_and_announced() -> None:
    """A command run through the runner (as the token service's are) is recorded, announced and committed."""
    watch = Watch(FakePort(charger()))

    async def work() -> CommandResult:
        watch.hub.chargers["CP1"].setting_changed("AuthCtrlr", "Enabled", "true")
        return CommandResult(command="charger_authorization_on", outcome=Outcome.ACCEPTED, detail="done")

    result = await runner(watch.controller)("charger_authorization_on", "CP1", work)
    last = watch.hub.chargers["CP1"].last_command
    assert last is not None
    assert last.command == "charger_authorization_on"
    assert (watch.announced, watch.durable) == ([result], 1)


async def test_a_command_from_outside_answers_timeout_at_the_deadline() -> None:
    """The runner's work gets the one deadline: a charger that never answers gives a recorded timeout."""
    watch = Watch(FakePort(charger()), command_deadline_s=0.05)
    never = asyncio.Event()

    async def work() -> CommandResult:
        await never.wait()
        raise AssertionError("unreachable")

    result = await runner(watch.controller)("local_list", "CP1", work)
    assert result.outcome is Outcome.TIMEOUT
    assert watch.announced == [result]


# --- floods ------------------------------------------------------------------------------------------


async def test_a_flood_of_limits_costs_a_durable_write_per_window_not_per_message() -> None:
    """1,000 limits at once: a handful of durable commits (not 1,000), and every caller gets an answer."""
    watch = Watch(FakePort(charger()))
    results = await asyncio.gather(
        *(run(watch.controller, Command.SET_CURRENT_LIMIT, "CP1", 6 + n % 10) for n in range(1000))
    )
    assert {r.outcome for r in results} == {Outcome.ACCEPTED}
    assert watch.durable <= 3, watch.durable


class CountingStore(Store):
    """The real store, counting its durable (fsynced, renamed) writes."""

    durable_writes = 0

    def save_now(self, charger_id: str) -> None:
        """Count, then write as the store does."""
        self.durable_writes += 1
        super().save_now(charger_id)


async def test_a_flood_of_limits_writes_the_file_a_few_times_and_keeps_the_last(tmp_path: Path) -> None:
    """1,000 limits with the real store: at most three fsynced writes, and the file holds the last limit."""
    port = FakePort(charger())
    hub = StateHub([port.state])
    store = CountingStore(tmp_path, hub)
    store.attach()
    controller = Controller(hub, ports=lambda _: port, min_interval_s=0.0)
    await asyncio.gather(*(run(controller, Command.SET_CURRENT_LIMIT, "CP1", 6 + n % 10) for n in range(1000)))
    await controller.close()
    store.detach()
    saved = json.loads(store.path_for("CP1").read_text())
    assert store.durable_writes <= 3, store.durable_writes
    assert saved["setpoint"] == {"limit_a": 15.0, "paused": False}


async def test_a_flood_of_toggles_announces_a_bounded_number_of_results() -> None:
    """2,000 pause/resume toggles at once: a few result announcements, not 2,000."""
    watch = Watch(FakePort(charger()))
    commands = (Command.PAUSE, Command.RESUME)
    await asyncio.gather(*(run(watch.controller, commands[n % 2], "CP1") for n in range(2000)))
    assert len(watch.announced) <= 6, len(watch.announced)
    assert watch.durable <= 3


async def test_a_command_in_a_busy_window_is_durable_before_it_answers() -> None:
    """A resume right after a pause waits for its window: when it answers, a durable commit saw it resumed."""
    port = FakePort(charger())
    watch = Watch(port)
    seen: list[bool] = []
    watch.hub.subscribe(lambda charger_id, save: seen.append(port.state.desired.paused) if save is Save.NOW else None)
    await run(watch.controller, Command.PAUSE, "CP1")
    await run(watch.controller, Command.RESUME, "CP1")
    assert seen == [True, False]


# --- Starts --------------------------------------------------------------------------------------------


async def test_concurrent_starts_send_one_request_and_share_its_outcome() -> None:
    """400 Starts at once with a car waiting: one RequestStartTransaction, every caller gets its accepted outcome."""
    port = FakePort(charger(transaction=False))
    watch = Watch(port)
    results = await asyncio.gather(*(run(watch.controller, Command.START, "CP1") for _ in range(400)))
    assert len(port.sent("request_start")) == 1
    assert {r.outcome for r in results} == {Outcome.ACCEPTED}


async def test_a_start_before_the_transaction_arrives_gets_the_accepted_outcome() -> None:
    """A second Start after an accepted one, while the transaction is not reported yet, sends nothing new."""
    port = FakePort(charger(transaction=False))
    watch = Watch(port)
    first = await run(watch.controller, Command.START, "CP1")
    calls = len(port.calls)
    second = await run(watch.controller, Command.START, "CP1")
    assert (first.outcome, second.outcome, len(port.calls)) == (Outcome.ACCEPTED, Outcome.ACCEPTED, calls)


async def test_a_start_after_the_transaction_started_answers_already_running() -> None:
    """Once TransactionEvent Started has arrived, Start answers 'already running' and sends no frame."""
    port = FakePort(charger(transaction=False))
    watch = Watch(port)
    await run(watch.controller, Command.START, "CP1")
    port.state.transaction_event(event_type="Started", transaction_id="tx-9", evse_id=1, at=T0, now=T0)
    calls = len(port.calls)
    result = await run(watch.controller, Command.START, "CP1")
    assert (result.outcome, result.detail) == (Outcome.NOT_APPLICABLE, "a session is already running")
    assert len(port.calls) == calls


async def test_a_start_on_a_paused_session_resumes_it() -> None:
    """Start while paused is still the way to resume: the limit is sent again, no RequestStartTransaction."""
    port = FakePort(charger())
    watch = Watch(port)
    await run(watch.controller, Command.PAUSE, "CP1")
    result = await run(watch.controller, Command.START, "CP1")
    assert (result.outcome, port.sent("request_start"), port.state.desired.paused) == (Outcome.ACCEPTED, [], False)


async def test_a_start_while_the_status_is_not_known_yet_asks_to_try_again() -> None:
    """Just after a reconnect with no connector status: not_ready with a retry time, not 'no car connected'."""
    state = charger(transaction=False, status=None)
    state.mark_connected(remote_address=None, tls=True, authenticated=True, at=utcnow())
    port = FakePort(state)
    result = await run(Watch(port).controller, Command.START, "CP1")
    assert (result.outcome, result.retry_after_s) == (Outcome.NOT_READY, 5)
    assert "not known yet" in result.detail
    assert port.calls == []


async def test_a_start_long_after_the_connect_without_a_status_says_no_car() -> None:
    """A charger connected for minutes that never said its status: 'no car connected (connector unknown)'."""
    port = FakePort(charger(transaction=False, status=None))
    result = await run(Watch(port).controller, Command.START, "CP1")
    assert (result.outcome, result.detail) == (Outcome.NOT_APPLICABLE, "no car connected (connector unknown)")


# --- vendor advice -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vendor", "delta"), [("Delta Electronics", True), ("DELTA", True), ("Keba AG", False), (None, False)]
)
def test_the_unplug_advice_names_the_delta_only_for_the_delta(vendor: str | None, delta: bool) -> None:
    """The accepted Stop names the Delta wallbox only when the charger is one."""
    assert ("Delta wallbox" in stop_done(BootInfo(vendor=vendor))) is delta


async def test_a_stop_on_another_charger_gives_a_neutral_sentence() -> None:
    """Stop on a charger of another vendor: accepted, and the answer does not speak of the Delta."""
    state = charger()
    state.booted(BootInfo(vendor="Keba AG", model="KC-P30"))
    result = await run(Watch(FakePort(state)).controller, Command.STOP, "CP1")
    assert result.outcome is Outcome.ACCEPTED
    assert "Delta" not in result.detail
    assert "unplugged" in result.detail


# --- the token service's commands ----------------------------------------------------------------------


class CachePort:
    """An auth port that only answers ClearCache (Accepted), counting the calls."""

    def __init__(self, state: ChargerState) -> None:
        self.state = state
        self.cleared = 0

    async def clear_cache(self) -> Answer:
        self.cleared += 1
        return Answer(status="Accepted")


async def test_a_block_clears_the_caches_that_may_hold_the_card() -> None:
    """A block clears the cache of a charger whose cache is on or not reported, not of one whose cache is off."""
    off, unknown = (
        ChargerState(charger_id="OFF", name="a", max_current_a=16),
        ChargerState(charger_id="ON", name="b", max_current_a=16),
    )
    off.capabilities.variables["AuthCacheCtrlr.Enabled"] = "false"
    hub = StateHub([off, unknown])
    ports = {"OFF": CachePort(off), "ON": CachePort(unknown)}
    controller = Controller(hub, ports=lambda _: None)
    service = TokenService(hub, sync=LocalListSync(hub, ports=ports.get), ports=ports.get, commands=runner(controller))
    token = service.add("Anna's card", "04A1B2C3D4E5F6", "ISO14443")
    service.update(token.ref, allowed=False)
    await eventually(lambda: unknown.last_command, what="the clear_cache result")
    await service.close()
    assert (ports["OFF"].cleared, ports["ON"].cleared, off.last_command) == (0, 1, None)

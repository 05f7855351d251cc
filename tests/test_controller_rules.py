"""The controller's rules against a small fake charger port: profiles, fallbacks, honest results, no sockets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from bmw_wallbox.controller import Command, Controller, Outcome, parse_amps, run
from bmw_wallbox.controller.apply import apply_setpoint
from bmw_wallbox.controller.coalesce import Coalescer
from bmw_wallbox.controller.commands import InvalidAmpsError
from bmw_wallbox.controller.profiles import applicable, limit_profile, strategy_order
from bmw_wallbox.csms.connection import CallQueue
from bmw_wallbox.errors import ChargerNotConnectedError
from bmw_wallbox.hub import StateHub
from bmw_wallbox.ports import USER_COMMAND, Answer, LimitProfile, RateUnit, Strategy
from bmw_wallbox.results import CommandResult
from bmw_wallbox.state import (
    Capabilities,
    ChargerState,
    ChargingState,
    ConnectorStatus,
    Save,
)

from fakeport import FakePort, accepted, callerror, rejected
from helpers import eventually

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def charger(*, transaction: bool = True, state: ChargingState = ChargingState.CHARGING) -> ChargerState:
    """A connected 16 A charger with a car plugged in and, optionally, a running transaction."""
    charger = ChargerState(charger_id="CP1", name="Wallbox", max_current_a=16, connected=True)
    charger.status_reported(1, ConnectorStatus.OCCUPIED)
    if transaction:
        charger.transaction_event(
            event_type="Started", transaction_id="tx-1", evse_id=1, at=T0, now=T0, charging_state=state
        )
    return charger


def controller_for(port: FakePort, **kwargs: Any) -> tuple[Controller, list[tuple[str, Save]]]:
    """A controller driving ``port`` (no waiting between applies or commits); the second value records every commit."""
    hub = StateHub([port.state])
    commits: list[tuple[str, Save]] = []
    hub.subscribe(lambda charger_id, save: commits.append((charger_id, save)))
    options: dict[str, Any] = {"min_interval_s": 0.0, "commit_window_s": 0.0, **kwargs}
    return Controller(hub, ports=lambda _: port, **options), commits


# --- profiles ------------------------------------------------------------------------------------


def test_the_strategy_that_worked_last_goes_first() -> None:
    """After a TxProfile worked, it is tried first; the others follow in their usual order."""
    state = charger()
    state.limit_applied(strategy="tx_profile", limit_a=10, in_sync=True)
    assert strategy_order(state) == [Strategy.TX_PROFILE, Strategy.TX_DEFAULT, Strategy.STATION_MAX]


def test_a_charger_without_smart_charging_gets_no_strategy() -> None:
    """A device model saying SmartChargingCtrlr is off leaves nothing to try."""
    state = charger()
    state.capabilities = Capabilities(smart_charging=False)
    assert strategy_order(state) == []


@pytest.mark.parametrize(
    ("transaction_id", "charging_state", "why"),
    [
        (None, None, "no transaction for a TxProfile"),
        ("tx-1", ChargingState.SUSPENDED_EVSE, "TxProfiles sent during a suspension are dropped by the Delta wallbox"),
        ("tx-1", ChargingState.CHARGING, None),
    ],
)
def test_a_tx_profile_needs_a_charging_transaction(
    transaction_id: str | None, charging_state: ChargingState | None, why: str | None
) -> None:
    """A TxProfile is sent only for a transaction that is charging."""
    assert applicable(Strategy.TX_PROFILE, transaction_id=transaction_id, charging_state=charging_state) == why


def test_a_watts_only_charger_gets_the_limit_in_watts() -> None:
    """RateUnit W only: 16 A on three phases is sent as 16 x 3 x 230 W."""
    caps = Capabilities(rate_units=["W"], phases=3)
    profile = limit_profile(Strategy.TX_DEFAULT, 16.0, evse_id=1, caps=caps)
    assert (profile.unit, profile.limit) == (RateUnit.WATTS, 11040.0)


def test_profiles_keep_their_ids_and_targets() -> None:
    """Each strategy has a fixed profile id; the station maximum goes to EVSE 0; a TxProfile names its transaction."""
    caps = Capabilities()
    made = {s: limit_profile(s, 10.0, evse_id=1, caps=caps, transaction_id="tx-1") for s in Strategy}
    assert {s: (p.profile_id, p.evse_id, p.transaction_id, p.stack_level) for s, p in made.items()} == {
        Strategy.TX_DEFAULT: (1, 1, None, 0),
        Strategy.TX_PROFILE: (2, 1, "tx-1", 0),
        Strategy.STATION_MAX: (3, 0, None, 0),
    }


# --- applying the limit --------------------------------------------------------------------------


async def test_an_accepted_limit_is_recorded_with_its_strategy() -> None:
    """The first strategy accepted: the applied limit, strategy and read-back are in the state."""
    port = FakePort(charger(), composite=16.0)
    result = await apply_setpoint(port, command="resume")
    assert (result.outcome, result.data["strategy"]) == (Outcome.ACCEPTED, "tx_default")
    assert (port.state.applied_limit_a, port.state.limit_in_sync) == (16.0, True)


async def test_a_refused_default_profile_falls_back_to_the_others() -> None:
    """TxDefaultProfile refused: a TxProfile for the running transaction is tried next."""

    def only_tx_profiles(profile: LimitProfile) -> Answer:
        return accepted() if profile.strategy is Strategy.TX_PROFILE else rejected()

    port = FakePort(charger(), set_limit_answer=only_tx_profiles)
    result = await apply_setpoint(port, command="pause")
    assert result.outcome is Outcome.ACCEPTED
    assert [p.strategy for p in port.sent("set_limit")] == [Strategy.TX_DEFAULT, Strategy.TX_PROFILE]


async def test_not_implemented_marks_the_charger_as_taking_no_limits() -> None:
    """CALLERROR NotImplemented: not_supported at once, no other strategy, and nothing sent next time."""
    port = FakePort(charger(), set_limit_answer=callerror("NotImplemented"))
    first = await apply_setpoint(port, command="pause")
    second = await apply_setpoint(port, command="resume")
    assert (first.outcome, second.outcome) == (Outcome.NOT_SUPPORTED, Outcome.NOT_SUPPORTED)
    assert len(port.sent("set_limit")) == 1
    assert port.state.limits_supported is False


async def test_rejected_every_way_is_curable_by_a_reboot() -> None:
    """Every strategy answered Rejected: the refusal is marked as one a reboot can cure."""
    port = FakePort(charger(), set_limit_answer=rejected)
    result = await apply_setpoint(port, command="pause")
    assert (result.outcome, result.curable_by_reset) == (Outcome.REJECTED, True)
    assert port.state.limit_in_sync is False


async def test_a_protocol_error_is_not_curable_by_a_reboot() -> None:
    """A CALLERROR like FormatViolation is a refusal no reboot cures."""
    port = FakePort(charger(), set_limit_answer=callerror("FormatViolation"))
    result = await apply_setpoint(port, command="pause")
    assert (result.outcome, result.curable_by_reset) == (Outcome.REJECTED, False)


async def test_a_charger_that_cannot_read_back_is_not_asked_again() -> None:
    """GetCompositeSchedule answered with a CALLERROR: in sync stays unknown and it is not asked again."""
    port = FakePort(charger(), composite=callerror("NotSupported")(None))
    await apply_setpoint(port, command="pause")
    await apply_setpoint(port, command="resume")
    assert port.state.limit_in_sync is None
    assert len(port.sent("composite_limit")) == 1


# --- commands ------------------------------------------------------------------------------------


async def test_fifty_commands_to_a_charger_without_smart_charging_send_no_reset() -> None:
    """NotImplemented: 50 pause/resume/limit commands answer not_supported, with one profile tried and no Reset."""
    port = FakePort(charger(), set_limit_answer=callerror("NotImplemented"))
    controller, _ = controller_for(port)
    outcomes = set()
    for number in range(50):
        command = (Command.PAUSE, Command.RESUME, Command.SET_CURRENT_LIMIT)[number % 3]
        outcomes.add((await run(controller, command, "CP1", 10)).outcome)
    assert outcomes == {Outcome.NOT_SUPPORTED}
    assert (len(port.sent("set_limit")), port.sent("reset")) == (1, [])
    assert port.state.desired.paused is False  # nothing changed on a charger that cannot change


async def test_a_limit_rejected_every_way_reboots_once_as_the_last_resort() -> None:
    """Rejected every way with a car plugged in: one Reset (rebooting); a second refusal within 10 minutes none."""
    port = FakePort(charger(), set_limit_answer=rejected)
    controller, _ = controller_for(port)
    first = await run(controller, Command.PAUSE, "CP1")
    second = await run(controller, Command.RESUME, "CP1")
    assert (first.outcome, second.outcome) == (Outcome.REBOOTING, Outcome.REJECTED)
    assert len(port.sent("reset")) == 1


async def test_a_protocol_error_never_reboots() -> None:
    """A FormatViolation answer is reported as rejected and no Reset is sent."""
    port = FakePort(charger(), set_limit_answer=callerror("FormatViolation"))
    controller, _ = controller_for(port)
    result = await run(controller, Command.PAUSE, "CP1")
    assert (result.outcome, port.sent("reset")) == (Outcome.REJECTED, [])


async def test_a_start_whose_limit_is_refused_is_started_with_a_warning() -> None:
    """The charger starts but refuses the limit: accepted, with a warning that no limit is enforced."""
    port = FakePort(charger(transaction=False), set_limit_answer=callerror("FormatViolation"))
    controller, _ = controller_for(port)
    result = await run(controller, Command.START, "CP1")
    assert (result.outcome, result.data["limit_enforced"]) == (Outcome.ACCEPTED, False)
    assert "not enforced" in str(result.warning)
    assert port.sent("reset") == []


async def test_a_start_on_a_charger_without_smart_charging_says_no_limit_is_in_force() -> None:
    """No smart charging: the start is sent, no profile, and the result says no limit is in force."""
    state = charger(transaction=False)
    state.capabilities = Capabilities(smart_charging=False)
    port = FakePort(state)
    controller, _ = controller_for(port)
    result = await run(controller, Command.START, "CP1")
    assert (result.outcome, port.sent("set_limit")) == (Outcome.ACCEPTED, [])
    assert result.warning == "this charger does not support current limits: no limit is in force"


async def test_a_remote_start_carries_a_central_token_by_default() -> None:
    """Without option id_token the start uses the fixed Central token HomeAssistant."""
    port = FakePort(charger(transaction=False))
    controller, _ = controller_for(port)
    await run(controller, Command.START, "CP1")
    (token,) = port.sent("request_start")
    assert (token.value, token.kind) == ("HomeAssistant", "Central")


async def test_a_command_commits_the_state_once_and_durably() -> None:
    """A pause announces its change once, saved at once."""
    port = FakePort(charger())
    controller, commits = controller_for(port)
    await run(controller, Command.PAUSE, "CP1")
    assert commits == [("CP1", Save.NOW)]


async def test_a_command_answers_timeout_at_its_deadline() -> None:
    """A charger that never answers: the command answers timeout once its deadline has passed."""
    never = asyncio.Event()

    class SilentPort(FakePort):
        async def set_limit(self, profile: LimitProfile) -> Answer:
            await never.wait()
            raise AssertionError("unreachable")

    controller, _ = controller_for(SilentPort(charger()), command_deadline_s=0.05)
    result = await run(controller, Command.PAUSE, "CP1")
    assert result.outcome is Outcome.TIMEOUT
    assert result.detail.startswith("no answer from the charger within 0 s")


@pytest.mark.parametrize(
    ("value", "amps"),
    [(16, 16.0), (0, 0.0), (6.5, 6.5), ("16", 16.0), (" 10 ", 10.0), (10**3, 1000.0)],
)
def test_amps_accepts_numbers_and_numeric_text(value: object, amps: float) -> None:
    """Numbers and the text a template renders become amps (clamping comes later)."""
    assert parse_amps(value) == amps


@pytest.mark.parametrize("value", [None, True, "", "lots", "nan", "-1", -1, float("inf"), [16], {"a": 1}, 10**400])
def test_amps_refuses_what_is_not_a_limit(value: object) -> None:
    """Booleans, text that is no number, NaN, infinities, negatives and containers are refused."""
    with pytest.raises(InvalidAmpsError):
        parse_amps(value)


async def test_an_invalid_amps_value_sends_nothing() -> None:
    """set_current_limit with bad amps answers invalid with the allowed range, and nothing reaches the charger."""
    port = FakePort(charger())
    controller, _ = controller_for(port)
    result = await run(controller, Command.SET_CURRENT_LIMIT, "CP1", "lots")
    assert result.outcome is Outcome.INVALID
    assert "send 0 (pause) or 6 to 16 A" in result.detail
    assert (port.calls, port.state.desired.paused, port.state.desired.limit_a) == ([], False, 16.0)


# --- coalescing ----------------------------------------------------------------------------------


class FakeClock:
    """Monotonic seconds that move only when the coalescer sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def test_changes_within_the_interval_are_coalesced_into_one_apply() -> None:
    """Three requests while one apply waits for the interval: one more apply, whose result all three get."""
    clock = FakeClock()
    applied: list[str] = []

    async def apply(charger_id: str, command: str) -> CommandResult:
        applied.append(command)
        return CommandResult(command=command, outcome=Outcome.ACCEPTED, detail="ok")

    coalescer = Coalescer(apply, min_interval_s=2.0, clock=clock, sleep=clock.sleep)
    await coalescer.request("CP1", "first")
    results = await asyncio.gather(*(coalescer.request("CP1", name) for name in ("a", "b", "c")))
    await coalescer.close()
    assert applied == ["first", "c"]
    assert [r.command for r in results] == ["a", "b", "c"]
    assert clock.slept == [2.0]


async def test_an_urgent_request_does_not_wait_for_the_interval() -> None:
    """A start or a connect is applied at once, even right after another apply."""
    clock = FakeClock()

    async def apply(charger_id: str, command: str) -> CommandResult:
        return CommandResult(command=command, outcome=Outcome.ACCEPTED, detail="ok")

    coalescer = Coalescer(apply, min_interval_s=2.0, clock=clock, sleep=clock.sleep)
    await coalescer.request("CP1", "first")
    await coalescer.request("CP1", "start", urgent=True)
    await coalescer.close()
    assert clock.slept == []


async def test_an_apply_for_a_user_runs_as_a_user_command() -> None:
    """The apply that covers a user's request runs with USER_COMMAND set; a background one without."""
    seen: list[bool] = []

    async def apply(charger_id: str, command: str) -> CommandResult:
        seen.append(USER_COMMAND.get())
        return CommandResult(command=command, outcome=Outcome.ACCEPTED, detail="ok")

    unclaimed: list[str] = []
    coalescer = Coalescer(apply, min_interval_s=0.0, unclaimed=lambda cid, result: unclaimed.append(cid))
    token = USER_COMMAND.set(True)
    try:
        await coalescer.request("CP1", "pause")
    finally:
        USER_COMMAND.reset(token)
    coalescer.schedule("CP1")
    await eventually(lambda: unclaimed, what="the background apply's result")
    await coalescer.close()
    assert (seen, unclaimed) == ([True, False], ["CP1"])


# --- the call queue ------------------------------------------------------------------------------


async def test_user_calls_go_before_waiting_background_calls() -> None:
    """While one call is in flight, a user call that arrives later goes before background calls waiting."""
    queue = CallQueue()
    order: list[str] = []
    await queue.acquire(user=False)

    async def call(name: str, *, user: bool) -> None:
        await queue.acquire(user=user)
        order.append(name)
        queue.release()

    waiting = [
        asyncio.create_task(call("background 1", user=False)),
        asyncio.create_task(call("background 2", user=False)),
    ]
    await asyncio.sleep(0)
    waiting.append(asyncio.create_task(call("user", user=True)))
    await asyncio.sleep(0)
    queue.release()
    await asyncio.gather(*waiting)
    assert order == ["user", "background 1", "background 2"]


async def test_a_caller_that_gives_up_leaves_the_queue_usable() -> None:
    """A waiting call cancelled (its deadline passed) does not block the calls after it."""
    queue = CallQueue()
    await queue.acquire(user=False)
    given_up = asyncio.create_task(queue.acquire(user=True))
    await asyncio.sleep(0)
    given_up.cancel()
    queue.release()
    await asyncio.wait_for(queue.acquire(user=False), 1.0)
    assert given_up.cancelled()


async def test_a_disconnect_during_the_read_back_still_reports_the_accepted_limit() -> None:
    """The charger accepted the limit and then went away before the read-back: accepted, sync unknown, no crash."""
    port = FakePort(charger(), composite=ChargerNotConnectedError("GetCompositeSchedule: the connection closed"))
    result = await apply_setpoint(port, command="pause")
    assert (result.outcome, result.data["limit_in_sync"]) == (Outcome.ACCEPTED, None)

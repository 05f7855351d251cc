"""The Home Assistant side's decisions without Home Assistant: entity rendering, coalescing, commands, sessions.

What needs Home Assistant itself is proven in ``test_homeassistant.py`` against a real one.
Here a fake Core (aiohttp on port 0) shows what happens while Home Assistant is down.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bmw_wallbox.controller import Command, CommandResult, Controller, Outcome
from bmw_wallbox.homeassistant.core.bus import OUTBOX_SIZE, CommandRequest, EventInterface, parse_event
from bmw_wallbox.homeassistant.core.client import CoreRestClient
from bmw_wallbox.homeassistant.core.websocket import CoreConnection, websocket_url
from bmw_wallbox.homeassistant.model.events import EventFeed, SessionTracker
from bmw_wallbox.homeassistant.model.loop import PublishQueue, Rendered
from bmw_wallbox.homeassistant.model.values import charger_slugs, slugify
from bmw_wallbox.homeassistant.rest.states import REST_ENTITIES, RULES, EntityState, RestStates, render, render_offline
from bmw_wallbox.hub import StateHub
from bmw_wallbox.state import ChargerState, ChargingState, ConnectorStatus, SampledValue

from helpers import eventually

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def charger(*, name: str = "BMW Wallbox", connected: bool = True, power_w: float = 7000.0) -> ChargerState:
    """A connected charger with a running transaction and fresh readings."""
    state = ChargerState(charger_id="DE*BMW*E1", name=name, max_current_a=16, connected=connected, last_seen=T0)
    state.status_reported(1, ConnectorStatus.OCCUPIED)
    state.transaction_event(
        event_type="Started",
        transaction_id="tx-1",
        evse_id=1,
        at=T0,
        now=T0,
        charging_state=ChargingState.CHARGING,
        readings=[SampledValue(measurand="Energy.Active.Import.Register", value=1000.0)],
    )
    readings = [
        SampledValue(measurand="Energy.Active.Import.Register", value=1500.0),
        SampledValue(measurand="Power.Active.Import", value=power_w),
    ]
    state.meter_values(1, readings, at=T0 + timedelta(minutes=5), now=T0 + timedelta(minutes=5))
    return state


def states(rendered: dict[str, Any]) -> dict[str, str]:
    """entity id -> state string."""
    return {eid: entity.state for eid, (_, entity) in rendered.items()}


def offered(state: ChargerState) -> dict[str, Rendered[EntityState]]:
    """What the REST mode offers its publish queue for one charger."""
    return {eid: Rendered(payload=s, immediate=d.immediate) for eid, (d, s) in render(state, "bmw_wallbox").items()}


# --- entities -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("BMW Wallbox", "bmw_wallbox"),
        ("Garage wallbox", "garage_wallbox"),
        ("Tür-Box 2", "tur_box_2"),
        ("Straße", "strasse"),
        ("***", "wallbox"),
    ],
)
def test_slugify_makes_entity_ids_like_home_assistant(name: str, slug: str) -> None:
    """Display names become lower-case ids with underscores."""
    assert slugify(name) == slug


def test_two_chargers_with_one_name_get_numbered_slugs() -> None:
    """The second charger with the same name gets ``_2``."""
    first, second = charger(), ChargerState(charger_id="DE*BMW*E2", name="BMW Wallbox", max_current_a=16)
    assert charger_slugs([first, second]) == {"DE*BMW*E1": "bmw_wallbox", "DE*BMW*E2": "bmw_wallbox_2"}


def test_every_entity_id_is_unique_and_valid() -> None:
    """Each description gives one ``<domain>.bmw_wallbox_<key>`` id."""
    ids = list(render(charger(), "bmw_wallbox"))
    assert len(ids) == len(set(ids)) == len(REST_ENTITIES)
    assert all(eid.split(".")[1].startswith("bmw_wallbox_") for eid in ids)


def test_readings_render_in_home_assistant_units() -> None:
    """Energy in kWh with three decimals, power in whole W, session energy from the transaction start."""
    shown = states(render(charger(), "bmw_wallbox"))
    assert (shown["sensor.bmw_wallbox_energy"], shown["sensor.bmw_wallbox_power"]) == ("1.5", "7000")
    assert (shown["sensor.bmw_wallbox_session_energy"], shown["sensor.bmw_wallbox_session_duration"]) == ("0.5", "300")


def test_offline_charger_shows_measurements_unavailable() -> None:
    """Offline, measurements are unavailable; connected, last seen and firmware stay."""
    shown = states(render(charger(connected=False), "bmw_wallbox"))
    assert shown["sensor.bmw_wallbox_power"] == shown["sensor.bmw_wallbox_energy"] == "unavailable"
    assert (shown["binary_sensor.bmw_wallbox_connected"], shown["sensor.bmw_wallbox_last_seen"]) == (
        "off",
        T0.isoformat(),
    )


def test_stopped_add_on_shows_every_entity_unavailable() -> None:
    """At shutdown every entity is posted as unavailable."""
    assert {entity.state for entity in render_offline(charger(), "bmw_wallbox").values()} == {"unavailable"}


# --- coalescing ------------------------------------------------------------------------------------


def test_a_finished_session_leaves_no_stale_current_or_voltage() -> None:
    """After the session ends, power and current show 0 and voltage unknown, not their last values."""
    state = charger(power_w=7360)
    live = [
        SampledValue(measurand="Current.Import", value=16.0, phase="L1"),
        SampledValue(measurand="Voltage", value=230.0, phase="L1-N"),
    ]
    state.meter_values(1, live, at=T0 + timedelta(minutes=5), now=T0 + timedelta(minutes=5))
    state.transaction_event(
        event_type="Ended",
        transaction_id="tx-1",
        evse_id=1,
        at=T0 + timedelta(minutes=6),
        now=T0 + timedelta(minutes=6),
        stopped_reason="EVDisconnected",
    )
    shown = states(render(state, "bmw_wallbox"))
    assert (shown["sensor.bmw_wallbox_power"], shown["sensor.bmw_wallbox_current"]) == ("0", "0.0")
    assert shown["sensor.bmw_wallbox_voltage"] == "unknown"


def test_a_charger_without_smart_charging_says_so_on_the_limit_entity() -> None:
    """After a NotImplemented answer, the applied limit is unknown and the entity says limits are not supported."""
    state = charger()
    state.limits_unsupported("NotImplemented")
    (_, entity) = render(state, "bmw_wallbox")["sensor.bmw_wallbox_applied_current_limit"]
    assert (entity.state, entity.attributes["limits_supported"]) == ("unknown", False)


def test_the_lifetime_energy_never_goes_down_on_a_per_session_register() -> None:
    """Ten sessions on a register that restarts at 0: the energy sensor rises by each session's energy."""
    state = ChargerState(charger_id="DE*BMW*E1", name="BMW Wallbox", max_current_a=16, connected=True)
    at = T0
    shown = []
    for number in range(10):
        for kind, wh in (("Started", 0.0), ("Ended", 1000.0 + number)):
            at += timedelta(minutes=30)
            state.transaction_event(
                event_type=kind,
                transaction_id=f"tx-{number}",
                evse_id=1,
                at=at,
                now=at,
                readings=[SampledValue(measurand="Energy.Active.Import.Register", value=wh)],
            )
        shown.append(float(states(render(state, "bmw_wallbox"))["sensor.bmw_wallbox_energy"]))
    assert shown == sorted(shown)
    assert shown[-1] == pytest.approx(sum(1.0 + n / 1000 for n in range(10)))


def test_unchanged_entities_are_not_posted_again() -> None:
    """After a post, rendering the same state queues nothing."""
    queue = PublishQueue()
    queue.offer(offered(charger()))
    for eid, state in queue.due(0.0):
        queue.sent(eid, state, 0.0)
    queue.offer(offered(charger()))
    assert queue.waiting == 0


def test_a_second_change_within_a_second_waits_and_the_latest_wins() -> None:
    """Power changing twice within 1 s is posted once more, with the newest value, 1 s after the first post."""
    queue = PublishQueue(min_interval_s=1.0)
    queue.offer(offered(charger(power_w=1000)))
    for eid, state in queue.due(0.0):
        queue.sent(eid, state, 0.0)
    queue.offer(offered(charger(power_w=2000)))
    queue.offer(offered(charger(power_w=3000)))
    assert (queue.due(0.5), queue.next_due_at()) == ([], 1.0)
    assert [(eid, s.state) for eid, s in queue.due(1.0)] == [("sensor.bmw_wallbox_power", "3000")]


def test_a_charging_state_change_goes_out_at_once_with_the_rest() -> None:
    """When the charging state changes, every change of that charger is due at once."""
    queue = PublishQueue(min_interval_s=1.0)
    queue.offer(offered(charger()))
    for eid, state in queue.due(0.0):
        queue.sent(eid, state, 0.0)
    suspended = charger(power_w=0)
    assert suspended.main_evse.transaction is not None
    suspended.transaction_event(
        event_type="Updated",
        transaction_id="tx-1",
        evse_id=1,
        at=T0 + timedelta(minutes=6),
        now=T0 + timedelta(minutes=6),
        charging_state=ChargingState.SUSPENDED_EVSE,
    )
    queue.offer(offered(suspended))
    due = {eid for eid, _ in queue.due(0.1)}
    assert {
        "sensor.bmw_wallbox_charging_state",
        "binary_sensor.bmw_wallbox_charging",
        "sensor.bmw_wallbox_power",
    } <= due


def test_the_queue_holds_at_most_one_state_per_entity() -> None:
    """A thousand changes while nothing can be posted leave one waiting state per entity."""
    queue = PublishQueue()
    for watts in range(1000):
        queue.offer(offered(charger(power_w=watts)))
    assert queue.waiting == len(REST_ENTITIES)


def test_forgetting_posted_states_posts_everything_again() -> None:
    """After Core restarted, every entity is due again at once."""
    queue = PublishQueue()
    queue.offer(offered(charger()))
    for eid, state in queue.due(0.0):
        queue.sent(eid, state, 0.0)
    queue.forget_sent()
    queue.offer(offered(charger()))
    assert len(queue.due(0.1)) == len(REST_ENTITIES)


# --- command events --------------------------------------------------------------------------------

SLUGS = {"DE*BMW*E1": "bmw_wallbox"}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"action": "pause"}, CommandRequest(charger_id="DE*BMW*E1", command=Command.PAUSE)),
        ({"action": "stop", "charger": "bmw_wallbox"}, CommandRequest(charger_id="DE*BMW*E1", command=Command.STOP)),
        (
            {"action": "set_current_limit", "amps": "10"},
            CommandRequest(charger_id="DE*BMW*E1", command=Command.SET_CURRENT_LIMIT, amps="10"),
        ),
        ({"action": "explode"}, Outcome.INVALID),
        ({}, Outcome.INVALID),
        ({"action": "start", "charger": "DE*BMW*E9"}, Outcome.UNKNOWN_CHARGER),
    ],
)
def test_command_event_data_is_checked(data: dict[str, Any], expected: CommandRequest | Outcome) -> None:
    """A known action for a known charger becomes a request (amps are checked by the command table)."""
    parsed = parse_event(data, SLUGS)
    assert (parsed.outcome if isinstance(parsed, CommandResult) else parsed) == expected


def test_the_charger_must_be_named_when_several_are_configured() -> None:
    """Without ``charger`` and with two chargers configured, the command is invalid."""
    parsed = parse_event({"action": "pause"}, {"a": "one", "b": "two"})
    assert isinstance(parsed, CommandResult)
    assert parsed.outcome is Outcome.INVALID


# --- sessions --------------------------------------------------------------------------------------


def test_a_transaction_running_at_start_fires_nothing() -> None:
    """A transaction restored from the store is not a new session."""
    state = charger()
    tracker = SessionTracker()
    tracker.seed({state.charger_id: state})
    assert tracker.update(state) == []


def test_a_new_transaction_fires_session_started() -> None:
    """A transaction appearing fires bmw_wallbox_session_started with its id."""
    state = charger()
    events = SessionTracker().update(state)
    assert [(kind, data["transaction_id"]) for kind, data in events] == [("session_started", "tx-1")]


def test_an_ended_transaction_fires_session_ended_with_energy_and_duration() -> None:
    """The transaction ending fires bmw_wallbox_session_ended with the recorded session's figures."""
    state = charger()
    tracker = SessionTracker()
    tracker.update(state)
    state.transaction_event(
        event_type="Ended",
        transaction_id="tx-1",
        evse_id=1,
        at=T0 + timedelta(minutes=5),
        now=T0 + timedelta(minutes=5),
        stopped_reason="EVDisconnected",
    )
    ((kind, data),) = tracker.update(state)
    assert (kind, data["energy_kwh"], data["duration_s"]) == ("session_ended", 0.5, 300)


# --- Home Assistant down -------------------------------------------------------------------------------


class FakeCore:
    """A stand-in for Core's REST API that can be down (503) and records what it accepted."""

    def __init__(self) -> None:
        self.down = False
        self.posted: list[tuple[str, str]] = []
        self.attempts = 0

    async def post_state(self, request: web.Request) -> web.Response:
        """``POST /api/states/{entity_id}``."""
        self.attempts += 1
        if self.down:
            return web.Response(status=503)
        body = await request.json()
        self.posted.append((request.match_info["entity_id"], body["state"]))
        return web.json_response(body, status=201)


@pytest.fixture
async def fake_core() -> AsyncIterator[tuple[FakeCore, str]]:
    """A fake Core on a free port and its base URL."""
    core = FakeCore()
    app = web.Application()
    app.router.add_post("/api/states/{entity_id}", core.post_state)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield core, f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_latest_values_go_out_when_home_assistant_is_back(fake_core: tuple[FakeCore, str]) -> None:
    """Changes made while Core answers 503 are kept, and only the newest power is posted once it is back."""
    core, url = fake_core
    state = charger()
    hub = StateHub([state])
    async with aiohttp.ClientSession() as session:
        publisher = RestStates(
            hub,
            CoreRestClient(session, base_url=url, token="t"),
            slugs={state.charger_id: "x"},
            rules=dataclasses.replace(RULES, min_interval_s=0.05),
        )
        publisher.loop.attach()
        task = asyncio.create_task(publisher.loop.run())
        try:
            await eventually(lambda: len(core.posted) == len(REST_ENTITIES), what="every entity posted once")
            core.down = True
            for watts in range(100, 200):
                state.meter_values(
                    1, [SampledValue(measurand="Power.Active.Import", value=float(watts))], at=T0, now=T0
                )
                hub.commit(state.charger_id)
                await asyncio.sleep(0.001)
            core.down = False
            await eventually(lambda: ("sensor.x_power", "199") in core.posted, what="the newest power posted")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert [value for eid, value in core.posted if eid == "sensor.x_power"] == ["7000", "199"]
    assert core.attempts < len(REST_ENTITIES) + 4  # each entity once, then a few tries, not one per change


async def test_events_wait_in_a_bounded_outbox_while_home_assistant_is_down() -> None:
    """While disconnected, at most OUTBOX_SIZE events wait; the oldest are dropped."""
    state = charger()
    hub = StateHub([state])
    async with aiohttp.ClientSession() as session:
        connection = CoreConnection(session, base_url="http://127.0.0.1:9", token="t")
        feed = EventFeed(hub, Controller(hub, ports=lambda _: None))
        interface = EventInterface(
            feed,
            connection,
            slugs={state.charger_id: "x"},
            spawn=lambda coro, name: coro.close(),
        )
        for number in range(OUTBOX_SIZE + 50):
            interface.fire("bmw_wallbox_command_result", {"n": number})
    assert interface.outbox_size == OUTBOX_SIZE


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("http://supervisor/core", "ws://supervisor/core/api/websocket"),
        ("http://127.0.0.1:8123/", "ws://127.0.0.1:8123/api/websocket"),
        ("https://ha.example.com", "wss://ha.example.com/api/websocket"),
    ],
)
def test_websocket_url_comes_from_the_base_url(base: str, url: str) -> None:
    """One base URL serves REST and the WebSocket."""
    assert websocket_url(base) == url

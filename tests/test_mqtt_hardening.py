"""What enters from the broker must not take control: retained commands, node ids, waiting, logins, floods.

Against a real Mosquitto broker, the add-on started for real and a simulated
wallbox, as in ``test_mqtt.py``; each test has its own discovery prefix and base topic.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import uuid
from collections.abc import AsyncIterator

import pytest

from bmw_wallbox.app import Application
from bmw_wallbox.homeassistant.mqtt.client import MqttClient
from bmw_wallbox.options import Options
from bmw_wallbox.simulator import WallboxSimulator

from conftest import StartApp, running
from helpers import eventually, profile_limits, refused_port
from mosquitto import USER, Mosquitto, watching

CHARGER_ID = "DE*BMW*EHARD0001"
NODE = "bmw_wallbox_DE_BMW_EHARD0001"
MAX_CURRENT_A = 16


def options(base: str, *charger_ids: str) -> Options:
    """One test's options: its own topics."""
    chargers = [{"id": cid, "max_current": MAX_CURRENT_A} for cid in charger_ids or (CHARGER_ID,)]
    return Options.model_validate(
        {"ssl": False, "chargers": chargers, "mqtt": {"discovery_prefix": f"{base}_ha", "base_topic": base}}
    )


@pytest.fixture
def base() -> str:
    return f"hard{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def own_broker() -> AsyncIterator[Mosquitto]:
    """A broker of this test alone (it is restarted with other logins)."""
    broker = Mosquitto()
    broker.start()
    try:
        yield broker
    finally:
        broker.remove()


def mqtt_client(app: Application) -> MqttClient:
    """The app's broker connection."""
    assert app.home_assistant is not None
    assert app.home_assistant.mqtt is not None
    return app.home_assistant.mqtt.client


@pytest.mark.parametrize(
    ("topic", "payload", "action"),
    [
        ("reboot/set", "PRESS", "Reset"),
        ("stop/set", "PRESS", "RequestStopTransaction"),
        ("evcc/evse1/maxcurrent/set", "0", None),  # an EVSE's evcc topic: would pause EVSE 1 (a 0 A profile)
    ],
)
async def test_retained_command_never_runs_and_is_cleared(
    start_app: StartApp,
    mosquitto: Mosquitto,
    base: str,
    caplog: pytest.LogCaptureFixture,
    topic: str,
    payload: str,
    action: str | None,
) -> None:
    """A command stored on the broker is not run at connect: it is logged once and removed from the broker."""
    caplog.set_level(logging.WARNING)
    command_topic = f"{base}/{NODE}/{topic}"
    async with watching(mosquitto, command_topic) as watcher:
        await watcher.publish(command_topic, payload, retain=True)
        await watcher.wait_for(command_topic, lambda p: p == payload)
        app = await start_app(options=options(base), mqtt_url=mosquitto.url)
        sim = WallboxSimulator(f"ws://127.0.0.1:{app.ocpp_port}", CHARGER_ID, time_scale=10.0)
        async with running(sim):
            await sim.plug_in()
            await watcher.wait_for(command_topic, lambda p: p == "")  # cleared from the broker
            after = len(sim.received)
            await watcher.publish(f"{base}/{NODE}/limit/set", "10")  # a marker: handled after the retained one
            await eventually(
                lambda: profile_limits(sim.received, after)[-1:] == [10.0], what="the marker's 10 A profile"
            )
            assert (sim.received_count(action) if action else 0, 0.0 in profile_limits(sim.received)) == (0, False)
    warnings = [r.getMessage() for r in caplog.records if "retained command" in r.getMessage()]
    assert len(warnings) == 1
    assert command_topic in warnings[0]


async def test_node_ids_do_not_depend_on_the_order_of_chargers(
    start_app: StartApp, mosquitto: Mosquitto, base: str
) -> None:
    """Two chargers whose ids look alike keep their topics when the configuration lists them the other way round."""
    ids = ("DE*BMW*E1", "DE_BMW_E1")
    seen = []
    for order in (ids, ids[::-1]):
        app = await start_app(options=options(base, *order), mqtt_url=mosquitto.url)
        assert app.home_assistant is not None
        assert app.home_assistant.mqtt is not None
        seen.append({cid: topics.node for cid, topics in app.home_assistant.mqtt.topics.items()})
        await app.stop()
    assert seen[0] == seen[1]
    assert len(set(seen[0].values())) == 2


async def test_commands_run_at_once_while_home_assistant_is_unreachable(
    start_app: StartApp, mosquitto: Mosquitto, base: str
) -> None:
    """evcc's disable pauses the wallbox within seconds although Home Assistant cannot be reached (no 15 s wait)."""
    with refused_port() as refusing:
        app = await start_app(
            options=options(base), mqtt_url=mosquitto.url, ha_token="token", ha_url=f"http://127.0.0.1:{refusing}"
        )
        sim = WallboxSimulator(f"ws://127.0.0.1:{app.ocpp_port}", CHARGER_ID, time_scale=10.0)
        async with running(sim), watching(mosquitto) as watcher:
            await sim.plug_in()
            await eventually(lambda: sim.current_a > 0, what="the car charging")
            after = len(sim.received)
            await watcher.publish(f"{base}/{NODE}/evcc/enable/set", "false")
            await eventually(
                lambda: profile_limits(sim.received, after)[-1:] == [0.0], timeout=5, what="a 0 A profile within 5 s"
            )
    assert app.home_assistant is not None
    assert not app.home_assistant.rest_cleared.is_set()


async def test_refused_login_after_a_broker_restart_is_logged(
    start_app: StartApp, own_broker: Mosquitto, base: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker comes back with another password for our user: the refused login is logged at ERROR."""
    caplog.set_level(logging.INFO)
    app = await start_app(options=options(base), mqtt_url=own_broker.url)
    client = mqtt_client(app)
    await eventually(lambda: client.state == "connected", what="the app connected")
    passwords = own_broker.folder / "passwords"
    argv = ["mosquitto_passwd", "-b", str(passwords), USER, "another-password"]
    await asyncio.to_thread(subprocess.run, argv, check=True)
    await asyncio.to_thread(own_broker.restart)
    await eventually(
        lambda: client.state == "refused the login",
        timeout=30,
        what="the login refused",
    )
    refused = [r for r in caplog.records if r.levelno == logging.ERROR and "refused" in r.getMessage()]
    assert len(refused) == 1


async def test_a_flood_of_online_messages_logs_a_few_lines_at_info(
    start_app: StartApp, mosquitto: Mosquitto, base: str, caplog: pytest.LogCaptureFixture
) -> None:
    """2,000 ``online`` announcements: at most 3 INFO lines a minute, the rest at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="bmw_wallbox")
    app = await start_app(options=options(base), mqtt_url=mosquitto.url)
    client = mqtt_client(app)
    await eventually(lambda: client.state == "connected", what="the app connected")
    async with watching(mosquitto) as watcher:
        for _ in range(2000):
            await watcher.publish(f"{base}_ha/status", "online")

    def online() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "Home Assistant is online" in r.getMessage()]

    await eventually(lambda: len(online()) == 2000, timeout=30, what="every announcement handled")
    assert len([r for r in online() if r.levelno >= logging.INFO]) == 3

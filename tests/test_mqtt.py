"""MQTT discovery against a real Mosquitto broker, seen from outside as Home Assistant would see it.

The add-on runs for real (``start_app``), a simulated wallbox charges a car, and
a plain MQTT client (``mosquitto.watching``) reads the retained discovery and
states and sends what Home Assistant's number, switch and buttons send. Each
test gets its own discovery prefix and base topic, so the retained messages of
one test never meet another.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bmw_wallbox.app import Application
from bmw_wallbox.homeassistant.model.controls import CONTROLS
from bmw_wallbox.homeassistant.model.entities import charger_entities
from bmw_wallbox.options import Options
from bmw_wallbox.simulator import WallboxSimulator

from conftest import StartApp, running
from helpers import eventually, profile_limits, refused_port
from mosquitto import PASSWORD, Mosquitto, Watcher, watching

CHARGER_ID = "DE*BMW*EMQTT0001"
NODE = "bmw_wallbox_DE_BMW_EMQTT0001"
MAX_CURRENT_A = 16
TIME_SCALE = 10.0


class Names:
    """The topics of one test: its own discovery prefix and base topic."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.prefix = f"ha{tag}"
        self.base = f"wb{tag}"

    def config(self, node: str = NODE) -> str:
        return f"{self.prefix}/device/{node}/config"

    def state(self, key: str, node: str = NODE) -> str:
        return f"{self.base}/{node}/{key}/state"

    def set(self, key: str) -> str:
        return f"{self.base}/{NODE}/{key}/set"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def availability(self) -> str:
        return f"{self.base}/{NODE}/availability"

    @property
    def event(self) -> str:
        return f"{self.base}/{NODE}/event"

    def options(self, *charger_ids: str) -> Options:
        chargers = [{"id": cid, "max_current": MAX_CURRENT_A} for cid in charger_ids or (CHARGER_ID,)]
        return Options.model_validate(
            {"ssl": False, "chargers": chargers, "mqtt": {"discovery_prefix": self.prefix, "base_topic": self.base}}
        )


@pytest.fixture
def names() -> Names:
    return Names()


async def start(start_app: StartApp, names: Names, broker: Mosquitto, *charger_ids: str, **kwargs: Any) -> Application:
    """The add-on with the broker given by --mqtt-url."""
    return await start_app(options=names.options(*charger_ids), mqtt_url=broker.url, **kwargs)


@pytest.fixture
async def charging(
    start_app: StartApp, names: Names, mosquitto: Mosquitto
) -> AsyncIterator[tuple[Application, WallboxSimulator, Watcher]]:
    """The add-on on the broker, a wallbox charging a car at the full limit, and a client watching every topic."""
    app = await start(start_app, names, mosquitto)
    sim = WallboxSimulator(f"ws://127.0.0.1:{app.ocpp_port}", CHARGER_ID, time_scale=TIME_SCALE, reboot_s=2.0)
    async with watching(mosquitto, f"{names.prefix}/#", f"{names.base}/#") as watcher, running(sim):
        await sim.plug_in()
        await watcher.wait_for(names.state("charging_state"), lambda p: p == "Charging")
        yield app, sim, watcher


async def test_one_device_per_charger_with_boot_details(
    charging: tuple[Application, WallboxSimulator, Watcher], names: Names
) -> None:
    """The retained device config names the charger, its maker, model, serial and firmware, and the panel."""
    app, _, watcher = charging
    config = json.loads(await watcher.wait_for(names.config(), lambda p: '"mf"' in p))
    assert config["dev"] == {
        "ids": [f"bmw_wallbox_{CHARGER_ID}"],
        "name": "BMW Wallbox",
        "mf": "Delta Electronics",
        "mdl": "EIAW-E22KTSE6B04",
        "sw": "01.20.06.71",
        "sn": "DE2201A00042",
        "cu": f"http://127.0.0.1:{app.panel_port}/",
    }
    assert config["o"]["name"] == "BMW Wallbox OCPP"


async def test_every_description_is_a_component_with_a_unique_id(
    charging: tuple[Application, WallboxSimulator, Watcher], names: Names
) -> None:
    """Every sensor, binary sensor and control description, the event and the update entity, is one component."""
    _, _, watcher = charging
    components = json.loads(await watcher.wait_for(names.config()))["cmps"]
    expected = (
        {d.key: d.domain for d in charger_entities(site=False)}
        | {c.key: c.platform for c in CONTROLS}
        | {"events": "event", "firmware_update": "update"}
    )
    assert {key: c["p"] for key, c in components.items()} == expected
    assert sorted(c["uniq_id"] for c in components.values()) == sorted(f"{NODE}_{key}" for key in expected)


@pytest.mark.parametrize(
    ("key", "fields"),
    [
        ("energy", {"dev_cla": "energy", "stat_cla": "total_increasing", "unit_of_meas": "kWh"}),
        ("power", {"dev_cla": "power", "stat_cla": "measurement", "unit_of_meas": "W"}),
        ("current_l2", {"dev_cla": "current", "stat_cla": "measurement", "unit_of_meas": "A"}),
        ("charge_status", {"dev_cla": "enum", "ops": ["disconnected", "connected", "charging"]}),
        ("firmware", {"ent_cat": "diagnostic"}),
        ("limit", {"p": "number", "min": 0.0, "max": 16.0, "step": 1.0, "unit_of_meas": "A"}),
        ("charging_enabled", {"p": "switch", "cmd_t": "{base}/" + NODE + "/charging_enabled/set"}),
        ("reboot", {"p": "button", "dev_cla": "restart", "ent_cat": "config"}),
        (
            "events",
            {"p": "event", "evt_typ": ["session_started", "session_ended", "command_result", "session_authorized"]},
        ),
    ],
)
async def test_component_carries_its_classes(
    charging: tuple[Application, WallboxSimulator, Watcher], names: Names, key: str, fields: dict[str, Any]
) -> None:
    """A component carries the platform, classes, unit, category and topics Home Assistant needs."""
    _, _, watcher = charging
    component = json.loads(await watcher.wait_for(names.config()))["cmps"][key]
    wanted = {k: v.format(base=names.base) if isinstance(v, str) else v for k, v in fields.items()}
    assert {k: component.get(k) for k in wanted} == wanted


@pytest.mark.parametrize(("key", "needs_charger"), [("power", True), ("limit", False), ("last_seen", False)])
async def test_availability_lists_the_charger_only_where_it_matters(
    charging: tuple[Application, WallboxSimulator, Watcher], names: Names, key: str, needs_charger: bool
) -> None:
    """Measurements need the add-on and the charger online (mode all); the others only the add-on."""
    _, _, watcher = charging
    component = json.loads(await watcher.wait_for(names.config()))["cmps"][key]
    topics = [names.status, names.availability] if needs_charger else [names.status]
    assert ([a["t"] for a in component["avty"]], component["avty_mode"]) == (topics, "all")


async def test_states_are_retained_for_a_late_subscriber(
    charging: tuple[Application, WallboxSimulator, Watcher], names: Names, mosquitto: Mosquitto
) -> None:
    """A client that subscribes later (Home Assistant after a restart) gets every state at once."""
    async with watching(mosquitto, f"{names.base}/{NODE}/+/state", names.status) as late:
        power = await late.wait_for(names.state("power"), lambda p: p != "None")
        energy = await late.wait_for(names.state("energy"), lambda p: p != "None")
        status = await late.wait_for(names.status)
    assert (10_000 < float(power) < 12_000, float(energy) >= 1234.5, status) == (True, True, "online")


async def test_charger_availability_follows_its_connection(
    charging: tuple[Application, WallboxSimulator, Watcher], names: Names
) -> None:
    """While the wallbox is disconnected its availability topic says offline, and online again after."""
    _, sim, watcher = charging
    since = len(watcher.messages)
    await sim.drop_connection(offline_s=5 * TIME_SCALE)  # 5 s: long enough to be seen under load
    await watcher.wait_for_sequence(names.availability, ["offline"], since=since)
    await sim.wait_connected(30)
    await watcher.wait_for_sequence(names.availability, ["offline", "online"], since=since)
    assert watcher.latest[names.availability] == "online"


async def test_new_firmware_is_published_to_the_device(start_app: StartApp, names: Names, mosquitto: Mosquitto) -> None:
    """A BootNotification with another firmware version updates the device's sw_version."""
    app = await start(start_app, names, mosquitto)
    url = f"ws://127.0.0.1:{app.ocpp_port}"
    async with watching(mosquitto, names.config()) as watcher:
        async with running(WallboxSimulator(url, CHARGER_ID, time_scale=TIME_SCALE)):
            await watcher.wait_for(names.config(), lambda p: json.loads(p)["dev"].get("sw") == "01.20.06.71")
        async with running(WallboxSimulator(url, CHARGER_ID, time_scale=TIME_SCALE, firmware_version="01.21.00.02")):
            config = await watcher.wait_for(names.config(), lambda p: json.loads(p)["dev"].get("sw") == "01.21.00.02")
    assert json.loads(config)["dev"]["sw"] == "01.21.00.02"


async def test_number_sets_the_limit(charging: tuple[Application, WallboxSimulator, Watcher], names: Names) -> None:
    """A value on the number's command topic reaches the wallbox as that limit, and the number shows it."""
    _, sim, watcher = charging
    after = len(sim.received)
    await watcher.publish(names.set("limit"), "10")
    shown = await watcher.wait_for(names.state("limit"), lambda p: p == "10")
    await eventually(lambda: 10.0 in profile_limits(sim.received, after), what="a 10 A profile at the charger")
    assert (shown, profile_limits(sim.received, after)[-1]) == ("10", 10.0)


async def test_switch_off_pauses_with_zero_amps_and_on_resumes(
    charging: tuple[Application, WallboxSimulator, Watcher], names: Names
) -> None:
    """Switch off sends a 0 A profile (the session stays open); switch on sends the limit again."""
    _, sim, watcher = charging
    after = len(sim.received)
    await watcher.publish(names.set("charging_enabled"), "OFF")
    await watcher.wait_for(names.state("charging_enabled"), lambda p: p == "OFF")
    await eventually(lambda: profile_limits(sim.received, after)[-1:] == [0.0], what="a 0 A profile at the charger")
    tx_before = sim.transaction_id
    await watcher.publish(names.set("charging_enabled"), "ON")
    await watcher.wait_for(names.state("charging_enabled"), lambda p: p == "ON")
    await eventually(
        lambda: profile_limits(sim.received, after)[-1:] == [float(MAX_CURRENT_A)],
        what="the full limit at the charger again",
    )
    assert (sim.transaction_id, sim.received_count("RequestStopTransaction")) == (tx_before, 0)


@pytest.mark.parametrize(("button", "action"), [("stop", "RequestStopTransaction"), ("reboot", "Reset")])
async def test_button_reaches_the_charger(
    charging: tuple[Application, WallboxSimulator, Watcher], names: Names, button: str, action: str
) -> None:
    """Pressing a button sends its OCPP request to the wallbox."""
    _, sim, watcher = charging
    after = len(sim.received)
    await watcher.publish(names.set(button), "PRESS")
    await sim.wait_for_call(action, 10, after=after)
    assert [a for a, _ in sim.received[after:]].count(action) == 1


async def test_command_outcome_is_an_event(
    charging: tuple[Application, WallboxSimulator, Watcher], names: Names
) -> None:
    """A command through MQTT is answered on the event entity with its honest outcome."""
    _, _, watcher = charging
    await watcher.publish(names.set("limit"), "12")
    event = json.loads(await watcher.wait_for(names.event, lambda p: '"set_current_limit"' in p))
    assert (event["event_type"], event["outcome"], event["applied_limit_a"]) == ("command_result", "accepted", 12)


async def test_invalid_number_payload_is_answered_invalid(
    charging: tuple[Application, WallboxSimulator, Watcher], names: Names
) -> None:
    """A number payload that is no number sends nothing and is answered as invalid on the event entity."""
    _, sim, watcher = charging
    after = len(sim.received)
    await watcher.publish(names.set("limit"), "lots")
    event = json.loads(await watcher.wait_for(names.event, lambda p: '"invalid"' in p))
    assert (event["command"], profile_limits(sim.received, after)) == ("set_current_limit", [])


async def test_session_end_is_an_event(charging: tuple[Application, WallboxSimulator, Watcher], names: Names) -> None:
    """Unplugging the car publishes session_ended with the session's energy on the event entity."""
    _, sim, watcher = charging
    await sim.unplug()
    event = json.loads(await watcher.wait_for(names.event, lambda p: '"session_ended"' in p))
    assert (event["charger"], event["energy_kwh"] >= 0) == (CHARGER_ID, True)


async def test_home_assistant_online_gets_everything_again(
    charging: tuple[Application, WallboxSimulator, Watcher], names: Names
) -> None:
    """When Home Assistant announces online, the device config is published again (here: after it was cleared)."""
    _, _, watcher = charging
    await watcher.publish(names.config(), "", retain=True)
    await watcher.wait_for(names.config(), lambda p: p == "")
    await watcher.publish(f"{names.prefix}/status", "online")
    config = await watcher.wait_for(names.config(), lambda p: p.startswith("{"))
    assert json.loads(config)["dev"]["ids"] == [f"bmw_wallbox_{CHARGER_ID}"]


async def test_stopped_addon_says_offline(start_app: StartApp, names: Names, mosquitto: Mosquitto) -> None:
    """Stopping the add-on sets its status topic offline, so every entity becomes unavailable."""
    app = await start(start_app, names, mosquitto)
    async with watching(mosquitto, names.status) as watcher:
        await watcher.wait_for(names.status, lambda p: p == "online")
        await app.stop()
        assert await watcher.wait_for(names.status, lambda p: p == "offline") == "offline"


async def test_killed_addon_leaves_its_last_will(names: Names, mosquitto: Mosquitto, tmp_path: Path) -> None:
    """When the add-on dies without a goodbye, the broker publishes its last will: offline."""
    options = tmp_path / "options.json"
    options.write_text(json.dumps(names.options().model_dump()))
    argv = [
        sys.executable, "-m", "bmw_wallbox", "--options", str(options), "--data-dir", str(tmp_path / "data"),
        "--host", "127.0.0.1", "--ocpp-port", "0", "--panel-port", "0", "--transfer-port", "0",
        "--mqtt-url", mosquitto.url,
    ]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key != "SUPERVISOR_TOKEN"}
    async with watching(mosquitto, names.status) as watcher:
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
        try:
            await watcher.wait_for(names.status, lambda p: p == "online", timeout_s=20)
            process.send_signal(signal.SIGKILL)
            will = await watcher.wait_for(names.status, lambda p: p == "offline", timeout_s=60)
            assert (will, process.wait(10)) == ("offline", -signal.SIGKILL)
        finally:
            process.kill()
            process.wait(10)


async def test_removed_charger_loses_its_device(start_app: StartApp, names: Names, mosquitto: Mosquitto) -> None:
    """A charger removed from the options has its retained device config replaced by an empty one."""
    removed_node = "bmw_wallbox_DE_BMW_EGONE0002"
    first = await start(start_app, names, mosquitto, CHARGER_ID, "DE*BMW*EGONE0002")
    async with watching(mosquitto, f"{names.prefix}/device/+/config") as watcher:
        await watcher.wait_for(names.config(removed_node), lambda p: p.startswith("{"))
        await first.stop()
        await start(start_app, names, mosquitto, CHARGER_ID)
        await watcher.wait_for(names.config(removed_node), lambda p: p == "")
    assert watcher.latest[names.config()].startswith("{")


@pytest.mark.parametrize(
    ("url", "log"),
    [
        ("mqtt://addon:wrong-password@127.0.0.1:{port}", "refused user 'addon'"),
        ("mqtt://127.0.0.1:{refused}", "is unreachable"),
    ],
)
async def test_unusable_broker_falls_back_to_rest(
    start_app: StartApp,
    names: Names,
    mosquitto: Mosquitto,
    caplog: pytest.LogCaptureFixture,
    url: str,
    log: str,
) -> None:
    """A broker that refuses the login or cannot be reached is logged, and the REST API carries the entities."""
    caplog.set_level(logging.INFO)
    with refused_port() as refusing:
        app = await start_app(
            options=names.options(),
            mqtt_url=url.format(port=mosquitto.port, refused=refusing),
            ha_token="token",
            ha_url="http://127.0.0.1:9",
            mqtt_probe_timeout_s=3.0,
        )
    assert app.home_assistant is not None
    assert (app.home_assistant.mqtt, app.home_assistant.rest is not None) == (None, True)
    assert any(log in r.getMessage() and "Using the REST API instead" in r.getMessage() for r in caplog.records)


async def test_broker_password_never_reaches_the_log(
    charging: tuple[Application, WallboxSimulator, Watcher], caplog: pytest.LogCaptureFixture
) -> None:
    """The broker password given in --mqtt-url is masked in every log line."""
    caplog.set_level(logging.DEBUG)
    logging.getLogger("bmw_wallbox.test").info("the url was mqtt://addon:%s@host", PASSWORD)
    assert [r for r in caplog.records if PASSWORD in r.getMessage()] == []


async def test_states_flow_again_after_a_broker_restart(start_app: StartApp, names: Names) -> None:
    """After the broker restarts, the add-on reconnects and new values reach the broker again."""
    broker = Mosquitto()
    broker.start()
    try:
        app = await start(start_app, names, broker)
        sim = WallboxSimulator(f"ws://127.0.0.1:{app.ocpp_port}", CHARGER_ID, time_scale=TIME_SCALE)
        async with running(sim):
            await sim.plug_in()
            mqtt = app.home_assistant.mqtt if app.home_assistant else None
            assert mqtt is not None
            await eventually(mqtt.client.connected.is_set, what="the app connected to the broker")
            await asyncio.to_thread(broker.restart)
            async with watching(broker, names.state("session_energy")) as watcher:
                first = await watcher.wait_for(names.state("session_energy"), timeout_s=30)
                await watcher.wait_for(names.state("session_energy"), lambda p: p != first, timeout_s=30)
    finally:
        broker.remove()

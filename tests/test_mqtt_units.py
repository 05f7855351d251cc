"""The MQTT side's decisions without I/O: which broker, node ids, component keys, payloads, evcc's words.

Also what both transports share: the formatter's unknown values and the one control table.
"""

from __future__ import annotations

import json

import pytest

from bmw_wallbox.controller import Command
from bmw_wallbox.homeassistant.model.controls import CONTROLS, charger_controls
from bmw_wallbox.homeassistant.model.entities import ENTITIES
from bmw_wallbox.homeassistant.model.firmware import UPDATE_KEY, update_state
from bmw_wallbox.homeassistant.model.site import SITE_NODE
from bmw_wallbox.homeassistant.model.values import NODE_PREFIX, node_id
from bmw_wallbox.homeassistant.mqtt.broker import BrokerUrlError, choose_broker, parse_url
from bmw_wallbox.homeassistant.mqtt.discovery import (
    Topics,
    discovery_config,
    render_site_states,
    render_states,
    site_discovery_config,
)
from bmw_wallbox.homeassistant.mqtt.evcc import (
    EvccCommand,
    evcc_command,
    evcc_topic,
    parse_evcc,
    render_evcc,
    status_letter,
)
from bmw_wallbox.homeassistant.rest.helpers import HELPER_DOMAINS, helper_config, helper_id, rest_controls
from bmw_wallbox.homeassistant.rest.states import render, render_site
from bmw_wallbox.options import MqttOptions
from bmw_wallbox.records import BootInfo
from bmw_wallbox.site.budget import SiteState
from bmw_wallbox.site.view import SiteView
from bmw_wallbox.state import ChargerState, ChargingState, ConnectorStatus, Transaction, utcnow
from bmw_wallbox.supervisor import MqttService
from bmw_wallbox.upkeep import FirmwareUpdate

SERVICE = MqttService(host="core-mosquitto", port=1883, username="addons", password="svc")
TOPICS = Topics(prefix="homeassistant", base="bmw_wallbox", node="bmw_wallbox_DE_BMW_E1")


def charger(*, connected: bool = True, status: ConnectorStatus | None = None, charging: bool = False) -> ChargerState:
    state = ChargerState(charger_id="DE*BMW*E1", name="BMW Wallbox", max_current_a=16)
    state.connected = connected
    evse = state.evse(1)
    evse.connector_status = status
    if charging:
        evse.transaction = Transaction(transaction_id="t1", started_at=utcnow(), charging_state=ChargingState.CHARGING)
    return state


def test_component_keys_are_unique_across_sensors_and_controls() -> None:
    """No control shares a key with a sensor (a shared key would drop one component and clash unique ids)."""
    keys = [d.key for d in ENTITIES] + [c.key for c in CONTROLS] + ["events", UPDATE_KEY]
    assert len(keys) == len(set(keys))


def test_site_node_is_no_chargers_node() -> None:
    """The site device's node id is one that no charger id gives (theirs all start with bmw_wallbox_)."""
    nodes = [node_id(cid) for cid in ("site", "_site", "*site", "-site", "bmw_wallbox-site", "bmw_wallbox*site")]
    assert [node for node in nodes if node == SITE_NODE or not node.startswith(NODE_PREFIX)] == []


def _updating(status: str | None, *, name: str = "fw-2.bin") -> ChargerState:
    state = charger()
    state.boot = BootInfo(firmware="1.0")
    if status is not None:
        state.upkeep.firmware_update = FirmwareUpdate(name=name, request_id=1, status=status, updated_at=utcnow())
    return state


@pytest.mark.parametrize(
    ("status", "latest", "expected"),
    [
        (None, None, {"installed_version": "1.0", "latest_version": "1.0", "in_progress": False}),
        (None, "fw-2.bin", {"installed_version": "1.0", "latest_version": "fw-2.bin", "in_progress": False}),
        ("Downloading", "fw-2.bin", {"latest_version": "fw-2.bin", "in_progress": True}),
        ("DownloadFailed", "fw-2.bin", {"latest_version": "fw-2.bin", "in_progress": False}),
        ("Installed", "fw-2.bin", {"latest_version": "1.0", "in_progress": False}),
        ("Installed", "fw-3.bin", {"latest_version": "fw-3.bin", "in_progress": False}),
    ],
)
def test_update_entity_offers_the_newest_file_until_it_is_installed(
    status: str | None, latest: str | None, expected: dict[str, object]
) -> None:
    """Latest is the newest uploaded file (the installed version without one, or once it is installed)."""
    state = update_state(_updating(status), latest)
    assert {key: state.get(key) for key in expected} == expected


def test_update_entity_leaves_out_a_version_not_known() -> None:
    """Without a BootNotification and a file, neither version is sent (Home Assistant wants text)."""
    assert update_state(charger(), None) == {"in_progress": False}


def test_site_device_renders_lowest_headroom_and_highest_household() -> None:
    """The site's sensors: lowest headroom, highest household, phases as attributes; one event entity, no charger."""
    view = SiteView(
        main_fuse_a=25, phase_currents_a=(20.0, 10.0, 12.0), household_a=(4.0, 10.0, 12.0),
        headroom_a=(20.0, 14.0, 12.0), meter_age_s=2.4, state=SiteState.OK, problem=None, allocations={},
    )  # fmt: skip
    topics = Topics(prefix="homeassistant", base="bmw_wallbox", node=SITE_NODE)
    states = render_site_states(view, topics)
    assert [states[topics.state(key)] for key in ("state", "headroom", "household", "meter_age")] == [
        "ok", "12.0", "12.0", "2",
    ]  # fmt: skip
    assert json.loads(states[topics.attributes("headroom")]) == {"l1_a": 20.0, "l2_a": 14.0, "l3_a": 12.0}
    config = site_discovery_config(topics)
    assert (config["dev"]["name"], sorted(config["cmps"])) == (
        "BMW Wallbox Site", ["events", "headroom", "household", "meter_age", "state"],
    )  # fmt: skip
    assert config["cmps"]["events"]["evt_typ"] == ["limiting_started", "limiting_ended"]
    rest = {eid: shown.state for eid, (_, shown) in render_site(view).items()}
    assert rest == {
        "sensor.bmw_wallbox_site_state": "ok", "sensor.bmw_wallbox_site_headroom": "12.0",
        "sensor.bmw_wallbox_site_household": "12.0", "sensor.bmw_wallbox_site_meter_age": "2",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("flag", "options", "service", "expected"),
    [
        (None, {}, SERVICE, ("core-mosquitto", 1883, False, "addons", "the Supervisor's MQTT service")),
        (None, {"server": "mqtts://broker.lan"}, SERVICE, ("broker.lan", 8883, True, None, "option mqtt.server")),
        (
            None,
            {"user": "me", "password": "pw"},
            SERVICE,
            ("core-mosquitto", 1883, False, "me", "the Supervisor's MQTT service"),
        ),
        ("mqtt://u:p@127.0.0.1:1884", {"server": "mqtt://x"}, SERVICE, ("127.0.0.1", 1884, False, "u", "--mqtt-url")),
    ],
)
def test_broker_comes_from_flag_then_option_then_supervisor(
    flag: str | None, options: dict[str, str], service: MqttService, expected: tuple[object, ...]
) -> None:
    """The flag beats option mqtt.server, which beats the Supervisor; mqtt.user and mqtt.password override logins."""
    broker = choose_broker(options=MqttOptions(**options), flag_url=flag, service=service)
    assert broker is not None
    assert (broker.host, broker.port, broker.tls, broker.username, broker.source) == expected


def test_no_broker_anywhere_means_rest() -> None:
    """Without a flag, an option or a Supervisor service there is no broker."""
    assert choose_broker(options=MqttOptions(), flag_url=None, service=None) is None


@pytest.mark.parametrize("url", ["http://host", "mqtt://", "mqtt://host/path", "mqtt://host:99999"])
def test_bad_broker_url_is_refused(url: str) -> None:
    """A URL that is not mqtt(s)://host[:port] is refused with a message that quotes no password."""
    with pytest.raises(BrokerUrlError, match="broker URL"):
        parse_url(url)


def test_broker_url_without_the_password() -> None:
    """The broker's printable URL carries no credentials."""
    broker = choose_broker(options=MqttOptions(), flag_url="mqtt://u:secret@[::1]:1884", service=None)
    assert (broker.url if broker else None, "secret" in repr(broker)) == ("mqtt://[::1]:1884", False)


def test_node_ids_are_topic_safe_and_come_from_the_charger_id_alone() -> None:
    """``*`` becomes ``_``; any other id gets a hash of itself, so ids that look alike never share a node id."""
    nodes = {cid: node_id(cid) for cid in ("DE*BMW*E1", "DE_BMW_E1", "a+b#c", "a-b_c")}
    assert nodes == {
        "DE*BMW*E1": "bmw_wallbox_DE_BMW_E1",
        "DE_BMW_E1": "bmw_wallbox_DE_BMW_E1_90095395",
        "a+b#c": "bmw_wallbox_a_b_c_d1fe4315",
        "a-b_c": "bmw_wallbox_a-b_c_0b7808a0",
    }
    assert len(set(nodes.values())) == len(nodes)


def test_unknown_values_are_the_none_payload_and_booleans_on_off() -> None:
    """A value the charger has not reported is ``None`` (unknown in Home Assistant); booleans are ON/OFF."""
    states = render_states(charger(), TOPICS)
    assert (states[TOPICS.state("power")], states[TOPICS.state("connected")]) == ("None", "ON")


def test_device_leaves_out_what_the_charger_has_not_said() -> None:
    """Before a BootNotification the device has no manufacturer, model or firmware."""
    config = discovery_config(charger(), TOPICS, "bmw_wallbox")
    assert config["dev"] == {"ids": ["bmw_wallbox_DE*BMW*E1"], "name": "BMW Wallbox"}


@pytest.mark.parametrize(
    ("state", "letter"),
    [
        (charger(), "A"),
        (charger(status=ConnectorStatus.OCCUPIED), "B"),
        (charger(status=ConnectorStatus.OCCUPIED, charging=True), "C"),
        (charger(status=ConnectorStatus.FAULTED), "F"),
        (charger(connected=False), "F"),
    ],
)
def test_evcc_status_letters(state: ChargerState, letter: str) -> None:
    """No car A, car B, charging C, offline or faulted F."""
    assert (status_letter(state), render_evcc(state, TOPICS)["bmw_wallbox/bmw_wallbox_DE_BMW_E1/evcc/status"]) == (
        letter,
        letter,
    )


@pytest.mark.parametrize(
    ("name", "payload", "request_"),
    [
        ("enable", "false", (Command.PAUSE, None)),
        ("enable", "0", (Command.PAUSE, None)),
        ("enable", "TRUE", (Command.RESUME, None)),
        ("enable", "maybe", None),
        ("maxcurrent", "10", (Command.SET_LIMIT_KEEP_PAUSE, "10")),
        ("maxcurrent", " ", None),
    ],
)
def test_evcc_payloads(name: str, payload: str, request_: tuple[Command, object] | None) -> None:
    """evcc's enable takes true/false, 1/0, on/off; maxcurrent passes the number on to the command's own check."""
    assert parse_evcc(EvccCommand(name), payload, charger()) == request_


def test_enable_starts_when_a_car_waits_without_a_session() -> None:
    """With a car plugged in and no session, enabling starts one; with a session it resumes."""
    waiting = charger(status=ConnectorStatus.OCCUPIED)
    running = charger(status=ConnectorStatus.OCCUPIED, charging=True)
    enable = EvccCommand("enable")
    assert (parse_evcc(enable, "true", waiting), parse_evcc(enable, "true", running)) == (
        (Command.START, None),
        (Command.RESUME, None),
    )


def two_evses() -> ChargerState:
    """Two EVSEs: EVSE 1 charging 7 kW on two phases (10 kWh), EVSE 2 with a car (5 kWh, a total current of 6 A)."""
    state = charger(status=ConnectorStatus.OCCUPIED, charging=True)
    one, two = state.evse(1), state.evse(2)
    one.meter.power_w, one.meter.register_wh, one.meter.current_phases_a = 7000.0, 10_000.0, {"L1": 10.0, "L2": 10.0}
    one.meter.current_a = 10.0
    two.connector_status, two.meter.register_wh, two.meter.current_a = ConnectorStatus.OCCUPIED, 5000.0, 6.0
    return state


def test_each_evse_of_a_charger_with_several_is_one_evcc_charger() -> None:
    """With two EVSEs each has its own status, power, register and currents; the charger's topics are the sums."""
    evcc = render_evcc(two_evses(), TOPICS)
    shown = {
        scope: [evcc[evcc_topic(TOPICS, name, scope)] for name in ("status", "enabled", "power", "energy", "currents")]
        for scope in (None, 1, 2)
    }
    assert shown == {
        None: ["C", "true", "7000.0", "15.0", "[16.0, 10.0, 0.0]"],
        1: ["C", "true", "7000.0", "10.0", "[10.0, 10.0, 0.0]"],
        2: ["B", "true", "0", "5.0", "[6.0, 0.0, 0.0]"],
    }


def test_the_chargers_current_sensors_are_the_sums_of_its_evses() -> None:
    """Two EVSEs: the charger's Current (REST and MQTT) and its per-phase sensors add both EVSEs' currents."""
    state = two_evses()  # EVSE 1: L1 10 A, L2 10 A (10 A); EVSE 2: 6 A without phases
    mqtt = render_states(state, TOPICS)
    (_, rest) = render(state, "bmw_wallbox")["sensor.bmw_wallbox_current"]
    shown = (rest.state, mqtt[TOPICS.state("current")], mqtt[TOPICS.state("current_l1")], rest.attributes["l1_a"])
    assert shown == ("16.0", "16.0", "10.0", 10.0)


def test_a_charger_with_one_evse_has_no_evse_topics() -> None:
    """One EVSE: its topics are the charger's, as before several EVSEs were known."""
    assert sorted(render_evcc(charger(charging=True), TOPICS)) == sorted(
        evcc_topic(TOPICS, name) for name in ("status", "enabled", "power", "energy", "currents")
    )


def test_a_paused_or_faulted_evse_shows_in_its_own_topics_only() -> None:
    """EVSE 2 paused and EVSE 1 faulted: EVSE 2 says disabled, EVSE 1 F; the charger is enabled and B (EVSE 2)."""
    state = two_evses()
    state.evse(1).connector_status, state.evse(1).transaction = ConnectorStatus.FAULTED, None
    state.want(paused=True, evse_id=2)
    evcc = render_evcc(state, TOPICS)
    shown = [evcc[evcc_topic(TOPICS, name, scope)] for scope in (None, 1, 2) for name in ("status", "enabled")]
    assert shown == ["B", "true", "F", "true", "B", "false"]


@pytest.mark.parametrize(
    ("suffix", "command"),
    [
        ("enable/set", EvccCommand("enable")),
        ("evse2/enable/set", EvccCommand("enable", 2)),
        ("evse8/maxcurrent/set", EvccCommand("maxcurrent", 8)),
        ("evse0/enable/set", None),
        ("evse9/enable/set", None),
        ("evse02/enable/set", None),
        ("evse/enable/set", None),
        ("evsex/enable/set", None),
        ("evse2/status/set", None),
        ("evse2/x/enable/set", None),
        ("evse2/enable", None),
    ],
)
def test_evcc_command_topics_name_the_charger_or_one_evse(suffix: str, command: EvccCommand | None) -> None:
    """``.../evcc/<name>/set`` is the charger's, ``.../evcc/evse<n>/<name>/set`` EVSE n's (1 to 8); others none."""
    assert evcc_command(f"bmw_wallbox/bmw_wallbox_DE_BMW_E1/evcc/{suffix}", TOPICS) == command


def test_enable_on_an_evse_starts_there_when_its_car_waits() -> None:
    """EVSE 2 with a car and no session: its enable starts; EVSE 1 (session running) resumes; disable pauses."""
    state = two_evses()
    requests = [parse_evcc(EvccCommand(name, n), payload, state) for n in (1, 2) for name, payload in
                (("enable", "true"), ("enable", "false"))]  # fmt: skip
    assert requests == [(Command.RESUME, None), (Command.PAUSE, None), (Command.START, None), (Command.PAUSE, None)]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_value_that_is_not_finite_is_unknown_in_every_transport(value: float) -> None:
    """NaN and infinity never reach Home Assistant or evcc as ``nan``/``inf``: REST, MQTT and evcc say unknown."""
    state = charger(charging=True)
    state.main_evse.meter.power_w = value
    state.main_evse.meter.current_phases_a = {"L1": value}
    mqtt, evcc = render_states(state, TOPICS), render_evcc(state, TOPICS)
    (_, rest) = render(state, "bmw_wallbox")["sensor.bmw_wallbox_power"]
    (_, current) = render(state, "bmw_wallbox")["sensor.bmw_wallbox_current"]
    shown = (rest.state, mqtt[TOPICS.state("power")], evcc[evcc_topic(TOPICS, "power")])
    assert shown == ("unknown", "None", "0")
    assert (current.attributes["l1_a"], json.loads(mqtt[TOPICS.attributes("current")])["l1_a"]) == (None, None)
    assert json.loads(evcc[evcc_topic(TOPICS, "currents")]) == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("state", [charger(), two_evses()], ids=["one EVSE", "two EVSEs"])
def test_rest_and_mqtt_offer_the_same_buttons_and_sliders_with_the_same_names(state: ChargerState) -> None:
    """Both transports derive their controls from one table: the same buttons and numbers, named alike, same ids."""
    rest = sorted(
        (
            helper_config(state, control)["name"],
            f"{HELPER_DOMAINS[control.platform]}.{helper_id(control, 'bmw_wallbox')}",
        )
        for control in rest_controls(state)
    )
    mqtt = sorted(
        (f"BMW Wallbox {c['name']}", f"input_{c['default_entity_id']}")
        for c in discovery_config(state, TOPICS, "bmw_wallbox")["cmps"].values()
        if c["p"] in ("button", "number")
    )
    assert rest == mqtt
    evses = [f"EVSE {n} {word}" for n in (1, 2) for word in ("current limit", "pause", "resume", "start", "stop")]
    assert [name.removeprefix("BMW Wallbox ") for name, _ in rest] == sorted(
        ["Current limit", "Pause", "Reboot", "Resume", "Start", "Stop", *(evses if state.several else [])]
    )


def test_each_evse_control_sends_its_command_for_that_evse() -> None:
    """EVSE 2's controls send the charger's commands for EVSE 2; its switch starts when its car waits; no Reboot."""
    state = two_evses()
    controls = {c.key: c for c in charger_controls(state)}
    asked = [
        (controls[key].request(state, value), controls[key].evse_id)
        for key, value in (
            ("evse2_limit", "10"),
            ("evse2_charging_enabled", True),
            ("evse2_charging_enabled", False),
            ("evse1_charging_enabled", True),
            ("evse2_stop", None),
        )
    ]
    assert asked == [
        ((Command.SET_CURRENT_LIMIT, "10"), 2),
        ((Command.START, None), 2),
        ((Command.PAUSE, None), 2),
        ((Command.RESUME, None), 1),
        ((Command.STOP, None), 2),
    ]
    assert [key for key in controls if "reboot" in key] == ["reboot"]


def test_an_evse_number_and_switch_show_that_evses_limit_and_pause() -> None:
    """EVSE 2 at 10 A, EVSE 1 paused: its number shows 0 and its switch off, EVSE 2's 10 and on; the charger's on."""
    state = two_evses()
    state.want(limit_a=10.0, evse_id=2)
    state.want(paused=True, evse_id=1)
    shown = render_states(state, TOPICS)
    keys = (
        "limit",
        "charging_enabled",
        "evse1_limit",
        "evse1_charging_enabled",
        "evse2_limit",
        "evse2_charging_enabled",
    )
    assert [shown[TOPICS.state(key)] for key in keys] == ["16", "ON", "0", "OFF", "10", "ON"]


def test_a_charger_with_one_evse_has_no_evse_controls() -> None:
    """One EVSE: the charger's controls only, keys as before."""
    assert [c.key for c in charger_controls(charger())] == [c.key for c in CONTROLS]

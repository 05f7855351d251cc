"""Simulator personalities on the wire, against a bare CSMS built from the OCPP library (real sockets, time x20)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.v201 import call

from bmw_wallbox.cli import build_parser
from bmw_wallbox.simulator import (
    DELTA,
    LOSES_TRANSACTION,
    NO_SMART_CHARGING,
    PER_TX_REGISTER,
    PRESETS,
    SILENT_RECONNECT,
    Personality,
    WallboxSimulator,
    combine,
    preset,
)

from helpers import simulated_time_passes
from simcsms import CsmsServer, profile, state_is, variable

CHARGER_ID = "DE*BMW*EPERS0001"
TIME_SCALE = 20.0
START_WH = 1_234_567.0
REGISTER = "Energy.Active.Import.Register"
NO_TOKEN = {"id_token": "", "type": "NoAuthorization"}


@pytest.fixture
async def csms() -> AsyncIterator[CsmsServer]:
    """A bare library CSMS on a free port."""
    async with CsmsServer() as server:
        yield server


@contextlib.asynccontextmanager
async def running(csms: CsmsServer, personality: Personality, **kwargs: Any) -> AsyncIterator[WallboxSimulator]:
    """Run a booted simulator with ``personality`` against ``csms`` for the ``async with`` block."""
    simulator = WallboxSimulator(
        csms.url, CHARGER_ID, personality=personality, time_scale=TIME_SCALE, reboot_s=10.0, **kwargs
    )
    task = asyncio.create_task(simulator.run())
    try:
        await simulator.wait_connected(5.0)
        yield simulator
    finally:
        await simulator.stop()
        await task


def register_readings(event: dict[str, Any]) -> list[tuple[float, str]]:
    """(value, context) of every Energy.Active.Import.Register sample in a TransactionEvent or MeterValues."""
    return [
        (sample["value"], sample["context"])
        for meter_value in event.get("meter_value", [])
        for sample in meter_value["sampled_value"]
        if sample["measurand"] == REGISTER
    ]


def ended(event: dict[str, Any]) -> bool:
    """Match a TransactionEvent Ended."""
    return bool(event["event_type"] == "Ended")


def started(event: dict[str, Any]) -> bool:
    """Match a TransactionEvent Started."""
    return bool(event["event_type"] == "Started")


async def charge_one_session(csms: CsmsServer, sim: WallboxSimulator, charge_s: float = 5.0) -> tuple[float, float]:
    """Plug in, charge ``charge_s`` simulated seconds, unplug; return the (Begin, End) register readings."""
    mark = csms.mark()
    await sim.plug_in()
    await simulated_time_passes(sim.clock, charge_s)
    await sim.unplug()
    first = await csms.wait_for("TransactionEvent", started, since=mark)
    last = await csms.wait_for("TransactionEvent", ended, since=mark)
    return register_readings(first)[0][0], register_readings(last)[0][0]


# ---------------------------------------------------------------- the personalities themselves


def test_combine_merges_the_flags_of_its_parts() -> None:
    """combine() takes each part's non-default flags and joins the names."""
    both = combine(PER_TX_REGISTER, NO_SMART_CHARGING)
    assert (both.name, both.register_per_transaction, both.smart_charging, both.quirks) == (
        "per-tx-register+no-smart-charging",
        True,
        False,
        False,
    )
    assert (both.status_after_reconnect, both.new_transaction_after_boot, both.crash_loses_transaction) == (
        True,
        True,
        False,
    )


def test_combine_keeps_the_delta_identity() -> None:
    """Combined with DELTA, a personality keeps the Delta's quirks and identity."""
    delta_per_tx = combine(DELTA, PER_TX_REGISTER)
    assert (delta_per_tx.quirks, delta_per_tx.model, delta_per_tx.register_per_transaction) == (
        True,
        "EIAW-E22KTSE6B04",
        True,
    )


def test_quirks_without_smart_charging_is_refused() -> None:
    """The Delta quirks need smart charging (a quirky remote start waits for a profile): ValueError."""
    with pytest.raises(ValueError, match="quirks need smart charging"):
        combine(DELTA, NO_SMART_CHARGING)


def test_unknown_preset_names_the_choices() -> None:
    """preset() with an unknown name raises ValueError listing the presets."""
    with pytest.raises(ValueError, match="choose one of delta, per-tx-register, no-smart-charging"):
        preset("tesla")
    assert preset("silent-reconnect") is SILENT_RECONNECT


def test_quirks_argument_overrides_the_personality() -> None:
    """``quirks=False`` turns the Delta's quirks off and keeps its identity and other flags."""
    sim = WallboxSimulator("ws://127.0.0.1:1", CHARGER_ID, quirks=False)
    assert (sim.personality.name, sim.personality.quirks, sim.personality.model) == (
        "delta",
        False,
        "EIAW-E22KTSE6B04",
    )


async def test_non_delta_presets_announce_another_charger(csms: CsmsServer) -> None:
    """A non-Delta preset boots with its own vendor and model, so nothing can mistake it for the Delta."""
    async with running(csms, PER_TX_REGISTER):
        boot = await csms.wait_for("BootNotification")
    assert (boot["charging_station"]["vendor_name"], boot["charging_station"]["model"]) == (
        "SimCharge",
        "AC22-Generic",
    )


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["--demo"], "delta"),
        (["--demo", "--demo-personality", "no-smart-charging"], "no-smart-charging"),
        (["--demo", "--demo-personality", "loses-transaction"], "loses-transaction"),
    ],
)
def test_demo_personality_flag(argv: list[str], name: str) -> None:
    """``--demo-personality`` takes a preset name and defaults to delta."""
    assert build_parser().parse_args(argv).demo_personality == name


def test_demo_personality_flag_refuses_unknown_names(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown ``--demo-personality`` exits 2 and lists the presets."""
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--demo", "--demo-personality", "tesla"])
    message = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert all(name in message for name in PRESETS)


# ---------------------------------------------------------------- PER_TX_REGISTER


async def test_per_tx_register_starts_each_session_at_zero(csms: CsmsServer) -> None:
    """Each transaction's Begin reading is 0 Wh and its End reading is that session's energy."""
    async with running(csms, PER_TX_REGISTER) as sim:
        first = await charge_one_session(csms, sim)
        second = await charge_one_session(csms, sim)
        sessions = sim.session_energies_wh
    assert (first[0], second[0]) == (0.0, 0.0)
    assert first[1] == pytest.approx(sessions[0], abs=1e-3)
    assert second[1] == pytest.approx(sessions[1], abs=1e-3)
    assert len(sessions) == 2
    assert min(sessions) > 5.0  # 11 kW for ~5 simulated seconds


async def test_per_tx_register_keeps_a_hidden_lifetime_counter(csms: CsmsServer) -> None:
    """The lifetime energy grows by every session's energy while the register shows only the last session."""
    async with running(csms, PER_TX_REGISTER, energy_wh=START_WH) as sim:
        assert (sim.energy_wh, sim.lifetime_energy_wh) == (0.0, START_WH)
        await charge_one_session(csms, sim)
        await charge_one_session(csms, sim)
        sessions = sim.session_energies_wh
        assert sim.lifetime_energy_wh == pytest.approx(START_WH + sum(sessions), abs=0.01)
        assert sim.energy_wh == pytest.approx(sessions[1], abs=0.01)


async def test_per_tx_register_readings_carry_their_contexts(csms: CsmsServer) -> None:
    """Register readings carry Transaction.Begin, then Sample.Periodic and Trigger, then Transaction.End."""
    async with running(csms, PER_TX_REGISTER) as sim:
        await csms.call(call.SetVariables(set_variable_data=[variable("SampledDataCtrlr", "TxUpdatedInterval", "1")]))
        mark = csms.mark()
        await sim.plug_in()
        await csms.wait_for("TransactionEvent", lambda e: e["trigger_reason"] == "MeterValuePeriodic", since=mark)
        assert (await csms.call(call.TriggerMessage(requested_message="TransactionEvent"))).status == "Accepted"
        await csms.wait_for("TransactionEvent", lambda e: e["trigger_reason"] == "Trigger", since=mark)
        await sim.unplug()
        await csms.wait_for("TransactionEvent", ended, since=mark)
    readings = [reading for event in csms.of("TransactionEvent", mark) for reading in register_readings(event)]
    contexts = [context for _, context in readings]
    assert contexts[0] == "Transaction.Begin"
    assert contexts[-1] == "Transaction.End"
    assert {"Sample.Periodic", "Trigger"} <= set(contexts[1:-1])
    values = [value for value, _ in readings]
    assert values[0] == 0.0
    assert values == sorted(values)


async def test_delta_register_is_a_lifetime_counter(csms: CsmsServer) -> None:
    """The Delta's Begin reading is the lifetime register; its session energy is End minus Begin."""
    async with running(csms, DELTA, energy_wh=START_WH) as sim:
        begin, end = await charge_one_session(csms, sim)
        sessions = sim.session_energies_wh
    assert begin == START_WH
    assert end - begin == pytest.approx(sessions[0], abs=1e-3)


# ---------------------------------------------------------------- NO_SMART_CHARGING


@pytest.mark.parametrize(
    "request_",
    [
        profile(16),
        call.ClearChargingProfile(),
        call.GetChargingProfiles(request_id=1, charging_profile={"charging_profile_purpose": "TxDefaultProfile"}),
        call.GetCompositeSchedule(duration=600, evse_id=1),
    ],
    ids=["SetChargingProfile", "ClearChargingProfile", "GetChargingProfiles", "GetCompositeSchedule"],
)
async def test_smart_charging_calls_are_not_implemented(csms: CsmsServer, request_: Any) -> None:
    """Without smart charging each smart-charging call gets CALLERROR NotImplemented."""
    async with running(csms, NO_SMART_CHARGING) as sim:
        with pytest.raises(OcppNotImplementedError) as error:
            await csms.call(request_)
        assert (error.value.code, sim.profiles) == ("NotImplemented", {})


async def test_no_smart_charging_controller_in_the_device_model(csms: CsmsServer) -> None:
    """GetVariables on SmartChargingCtrlr answers UnknownComponent; other components answer as usual."""
    async with running(csms, NO_SMART_CHARGING) as sim:
        result = await csms.call(
            call.GetVariables(
                get_variable_data=[variable("SmartChargingCtrlr", "Available"), variable("AuthCtrlr", "Enabled")]
            )
        )
        assert not [v for v in sim.variables if v.component == "SmartChargingCtrlr"]
    answers = [(item["attribute_status"], item.get("attribute_value")) for item in result.get_variable_result]
    assert answers == [("UnknownComponent", None), ("Accepted", "false")]


async def test_no_smart_charging_charges_at_the_car_maximum(csms: CsmsServer) -> None:
    """With no profiles possible the car draws its own maximum (16 A of the 32 A hardware)."""
    async with running(csms, NO_SMART_CHARGING) as sim:
        await sim.plug_in()
        assert (sim.charging_state, sim.offered_current_a, sim.current_a, sim.power_w) == (
            "Charging",
            32.0,
            16.0,
            11040.0,
        )


async def test_no_smart_charging_remote_start_and_stop_work(csms: CsmsServer) -> None:
    """RequestStartTransaction (its profile ignored) starts charging at once; RequestStopTransaction ends it."""
    async with running(csms, NO_SMART_CHARGING) as sim:
        items = [variable("AuthCtrlr", "Enabled", "true"), variable("TxCtrlr", "TxStartPoint", "Authorized")]
        await csms.call(call.SetVariables(set_variable_data=items))
        await sim.plug_in()
        mark = csms.mark()
        limit = profile(6, purpose="TxProfile").charging_profile
        result = await csms.call(
            call.RequestStartTransaction(id_token=NO_TOKEN, remote_start_id=7, evse_id=1, charging_profile=limit)
        )
        assert (result.status, result.transaction_id) == ("Accepted", sim.transaction_id)
        await csms.wait_for("TransactionEvent", state_is("Charging"), since=mark)
        assert (sim.current_a, sim.profiles) == (16.0, {})
        stop = await csms.call(call.RequestStopTransaction(transaction_id=result.transaction_id))
        end = await csms.wait_for("TransactionEvent", ended, since=mark)
        assert (stop.status, end["transaction_info"]["stopped_reason"], sim.transaction_id) == (
            "Accepted",
            "Remote",
            None,
        )


async def test_reset_count_counts_reset_calls(csms: CsmsServer) -> None:
    """``reset_count`` is 0 until a Reset arrives and then counts it."""
    async with running(csms, NO_SMART_CHARGING) as sim:
        assert sim.reset_count == 0
        assert (await csms.call(call.Reset(type="OnIdle"))).status == "Accepted"
        assert (sim.reset_count, sim.received_count("Reset")) == (1, 1)


# ---------------------------------------------------------------- SILENT_RECONNECT


async def test_silent_reconnect_sends_neither_boot_nor_status(csms: CsmsServer) -> None:
    """After a network drop it reconnects with no BootNotification and no StatusNotification; heartbeats go on."""
    async with running(csms, SILENT_RECONNECT) as sim:
        await sim.plug_in()
        mark = csms.mark()
        await sim.drop_connection(offline_s=2.0)
        await sim.wait_connected(5.0)
        await csms.wait_for("Heartbeat", since=mark, timeout_s=2.0)
        assert len(csms.handshakes) == 2
    assert [name for name, _ in csms.requests[mark:]] == ["Heartbeat"] * len(csms.of("Heartbeat", mark))


async def test_delta_reports_status_after_a_reconnect(csms: CsmsServer) -> None:
    """The Delta, by contrast, reports the connector (Occupied) after reconnecting without a boot."""
    async with running(csms, DELTA) as sim:
        await sim.plug_in()
        mark = csms.mark()
        await sim.drop_connection(offline_s=2.0)
        await sim.wait_connected(5.0)
    assert [s["connector_status"] for s in csms.of("StatusNotification", mark)] == ["Occupied"]
    assert csms.of("BootNotification", mark) == []


@pytest.mark.parametrize("personality", [SILENT_RECONNECT, DELTA], ids=lambda p: p.name)
@pytest.mark.parametrize(
    ("component", "plugged", "state"),
    [
        ({"name": "Connector", "evse": {"id": 1, "connector_id": 1}}, False, "Available"),
        ({"name": "Connector", "evse": {"id": 1, "connector_id": 1}}, True, "Occupied"),
        ({"name": "EVSE", "evse": {"id": 1}}, False, "Available"),
        ({"name": "EVSE", "evse": {"id": 1}}, True, "Occupied"),
    ],
    ids=["connector-free", "connector-plugged", "evse-free", "evse-plugged"],
)
async def test_availability_state_answers_get_variables(
    csms: CsmsServer, personality: Personality, component: dict[str, Any], plugged: bool, state: str
) -> None:
    """GetVariables AvailabilityState on Connector 1/1 and EVSE 1 answers the connector status."""
    async with running(csms, personality) as sim:
        if plugged:
            await sim.plug_in()
        request = {"component": component, "variable": {"name": "AvailabilityState"}}
        result = await csms.call(call.GetVariables(get_variable_data=[request]))
    item = result.get_variable_result[0]
    assert (item["attribute_status"], item["attribute_value"]) == ("Accepted", state)


@pytest.mark.parametrize("message", ["StatusNotification", "BootNotification"])
async def test_silent_reconnect_refuses_status_and_boot_triggers(csms: CsmsServer, message: str) -> None:
    """TriggerMessage for StatusNotification and BootNotification is Rejected, as on the Delta."""
    async with running(csms, SILENT_RECONNECT):
        mark = csms.mark()
        assert (await csms.call(call.TriggerMessage(requested_message=message))).status == "Rejected"
        assert csms.of(message, mark) == []


async def test_silent_reconnect_triggered_transaction_event_carries_the_state(csms: CsmsServer) -> None:
    """During a session TriggerMessage(TransactionEvent) is Accepted and an Updated(Trigger) reports Charging."""
    async with running(csms, SILENT_RECONNECT) as sim:
        await sim.plug_in()
        mark = csms.mark()
        assert (await csms.call(call.TriggerMessage(requested_message="TransactionEvent"))).status == "Accepted"
        event = await csms.wait_for("TransactionEvent", since=mark)
        expected = ("Updated", "Trigger", sim.transaction_id, "Charging")
    info = event["transaction_info"]
    assert (event["event_type"], event["trigger_reason"], info["transaction_id"], info["charging_state"]) == expected
    assert register_readings(event)[0][1] == "Trigger"


async def test_silent_reconnect_transaction_status_is_truthful(csms: CsmsServer) -> None:
    """GetTransactionStatus: ongoing for the running id, not for another; nothing queued."""
    async with running(csms, SILENT_RECONNECT) as sim:
        await sim.plug_in()
        running_tx = await csms.call(call.GetTransactionStatus(transaction_id=sim.transaction_id))
        other_tx = await csms.call(call.GetTransactionStatus(transaction_id="not-a-transaction"))
    assert (running_tx.ongoing_indicator, running_tx.messages_in_queue) == (True, False)
    assert (other_tx.ongoing_indicator, other_tx.messages_in_queue) == (False, False)


# ---------------------------------------------------------------- LOSES_TRANSACTION


async def crash_during_a_session(csms: CsmsServer, sim: WallboxSimulator, *, car_plugged: bool) -> tuple[str, int]:
    """Plug in, charge a little, crash (car plugged or not); return the lost transaction id and a mark before it."""
    await sim.plug_in()
    await simulated_time_passes(sim.clock, 2.0)
    lost = sim.transaction_id
    assert lost is not None
    mark = csms.mark()
    await sim.crash(car_plugged=car_plugged, offline_s=4.0)
    await sim.wait_connected(5.0)
    await csms.wait_for("Heartbeat", since=mark, timeout_s=2.0)  # the link is up and idle
    return lost, mark


async def test_crash_forgets_the_transaction(csms: CsmsServer) -> None:
    """After the crash it boots (Watchdog) and reports Available; the lost transaction never gets an Ended event."""
    async with running(csms, LOSES_TRANSACTION) as sim:
        lost, mark = await crash_during_a_session(csms, sim, car_plugged=False)
        assert (sim.transaction_id, sim.boot_count, len(sim.session_energies_wh)) == (None, 2, 1)
    assert [boot["reason"] for boot in csms.of("BootNotification", mark)] == ["Watchdog"]
    assert [s["connector_status"] for s in csms.of("StatusNotification", mark)] == ["Available"]
    assert csms.of("TransactionEvent", mark) == []
    assert not [e for e in csms.of("TransactionEvent") if e["event_type"] == "Ended"]
    assert lost in {e["transaction_info"]["transaction_id"] for e in csms.of("TransactionEvent")}


async def test_lost_transaction_status_is_false_false(csms: CsmsServer) -> None:
    """GetTransactionStatus for the lost id answers ongoingIndicator false and messagesInQueue false."""
    async with running(csms, LOSES_TRANSACTION) as sim:
        lost, _ = await crash_during_a_session(csms, sim, car_plugged=False)
        result = await csms.call(call.GetTransactionStatus(transaction_id=lost))
    assert (result.ongoing_indicator, result.messages_in_queue) == (False, False)


async def test_trigger_without_a_transaction_says_tx_not_found(csms: CsmsServer) -> None:
    """After the crash TriggerMessage(TransactionEvent) is Rejected with reasonCode TxNotFound and sends nothing."""
    async with running(csms, LOSES_TRANSACTION) as sim:
        _, mark = await crash_during_a_session(csms, sim, car_plugged=False)
        result = await csms.call(call.TriggerMessage(requested_message="TransactionEvent"))
    assert (result.status, result.status_info) == ("Rejected", {"reason_code": "TxNotFound"})
    assert csms.of("TransactionEvent", mark) == []


async def test_delta_trigger_refusal_has_no_status_info(csms: CsmsServer) -> None:
    """The Delta refuses TriggerMessage(TransactionEvent) without a transaction and gives no statusInfo."""
    async with running(csms, DELTA):
        result = await csms.call(call.TriggerMessage(requested_message="TransactionEvent"))
    assert (result.status, result.status_info) == ("Rejected", None)


async def test_crash_with_the_car_plugged_starts_nothing_by_itself(csms: CsmsServer) -> None:
    """With the car still plugged it reports Occupied and starts no transaction until the CSMS asks."""
    async with running(csms, LOSES_TRANSACTION) as sim:
        lost, mark = await crash_during_a_session(csms, sim, car_plugged=True)
        assert [s["connector_status"] for s in csms.of("StatusNotification", mark)] == ["Occupied"]
        assert (csms.of("TransactionEvent", mark), sim.transaction_id, sim.charging_state, sim.power_w) == (
            [],
            None,
            "EVConnected",
            0.0,
        )
        result = await csms.call(call.RequestStartTransaction(id_token=NO_TOKEN, remote_start_id=3))
        first = await csms.wait_for("TransactionEvent", since=mark)
    assert (result.status, first["event_type"], first["trigger_reason"]) == ("Accepted", "Started", "RemoteStart")
    assert first["transaction_info"]["transaction_id"] == result.transaction_id != lost


async def test_delta_crash_with_the_car_plugged_starts_a_new_transaction(csms: CsmsServer) -> None:
    """The Delta personality, made to lose its transaction, starts a new one (EVDetected) after the boot."""
    async with running(csms, DELTA) as sim:
        await sim.plug_in()
        lost = sim.transaction_id
        mark = csms.mark()
        await sim.crash(lose_transaction=True, offline_s=4.0)
        await sim.wait_connected(5.0)
        event = await csms.wait_for("TransactionEvent", since=mark)
    assert (event["event_type"], event["trigger_reason"]) == ("Started", "EVDetected")
    assert event["transaction_info"]["transaction_id"] == sim.transaction_id != lost


async def test_crash_keeping_the_queue_sends_late_offline_events(csms: CsmsServer) -> None:
    """A crash keeping the queue delivers after the boot the offline events and Ended(Reboot), with old timestamps."""
    async with running(csms, LOSES_TRANSACTION) as sim:
        await sim.plug_in()
        lost = sim.transaction_id
        mark = csms.mark()
        await sim.drop_connection(offline_s=10.0)
        await sim.car_suspend()  # queued: the link is down
        await sim.crash(lose_transaction=False, car_plugged=False, offline_s=4.0)
        await sim.wait_connected(5.0)
        boot_at = datetime.fromisoformat(sim.clock.iso().replace("Z", "+00:00"))
    names = [name for name, _ in csms.requests[mark:]]
    assert names[:3] == ["BootNotification", "TransactionEvent", "TransactionEvent"]
    suspended, end = csms.of("TransactionEvent", mark)[:2]
    assert [e["transaction_info"]["transaction_id"] for e in (suspended, end)] == [lost, lost]
    assert (suspended["transaction_info"]["charging_state"], suspended["offline"]) == ("SuspendedEV", True)
    assert (end["event_type"], end["trigger_reason"], end["offline"]) == ("Ended", "AbnormalCondition", True)
    assert end["transaction_info"]["stopped_reason"] == "Reboot"
    age_s = (boot_at - datetime.fromisoformat(end["timestamp"].replace("Z", "+00:00"))).total_seconds()
    assert age_s >= 4.0
    assert [s["connector_status"] for s in csms.of("StatusNotification", mark)] == ["Available"]


async def test_the_dual_evse_device_model_has_both_evses_with_their_own_live_values(csms: CsmsServer) -> None:
    """dual-evse reports EVSE and Connector components for EVSE 1 and 2; each shows its own availability and power
    (EVSE 2 charging, EVSE 1 without a car at 0 W)."""
    async with running(csms, preset("dual-evse")) as sim:
        result = await csms.call(call.GetBaseReport(request_id=3, report_base="FullInventory"))
        assert result.status == "Accepted"
        await csms.wait_for("NotifyReport", lambda part: not part["tbc"])
        reported = {
            (entry["component"]["name"], entry["component"].get("evse", {}).get("id"), entry["variable"]["name"])
            for part in csms.of("NotifyReport")
            for entry in part["report_data"]
        }
        for evse_id in (1, 2):
            assert {("EVSE", evse_id, "Power"), ("Connector", evse_id, "AvailabilityState")} <= reported
        await sim.plug_in(2)

        def evse(evse_id: int, name: str) -> dict[str, Any]:
            return {"component": {"name": "EVSE", "evse": {"id": evse_id}}, "variable": {"name": name}}

        answer = await csms.call(
            call.GetVariables(get_variable_data=[evse(n, "AvailabilityState") for n in (1, 2)] + [evse(2, "Power")])
        )
        values = [item["attribute_value"] for item in answer.get_variable_result]
        assert (values[:2], float(values[2]) > 0, sim.evse(1).meter.power_w) == (["Available", "Occupied"], True, 0)

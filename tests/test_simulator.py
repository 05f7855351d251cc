"""The wallbox simulator against a bare CSMS built from the OCPP library (real sockets, time x20)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trustme
from ocpp.v201 import call

from bmw_wallbox.simulator import WallboxSimulator

from helpers import profile_limit, simulated_time_passes
from simcsms import CsmsServer, profile, samples, state_is, variable

CHARGER_ID = "DE*BMW*ESIM0001"
TIME_SCALE = 20.0
ALL_MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage"
NO_TOKEN = {"id_token": "", "type": "NoAuthorization"}


@pytest.fixture
async def csms() -> AsyncIterator[CsmsServer]:
    """A bare library CSMS on a free port."""
    async with CsmsServer() as server:
        yield server


@contextlib.asynccontextmanager
async def running(csms: CsmsServer, **kwargs: Any) -> AsyncIterator[WallboxSimulator]:
    """Run a booted simulator against ``csms`` for the ``async with`` block."""
    simulator = WallboxSimulator(csms.url, CHARGER_ID, time_scale=TIME_SCALE, reboot_s=10.0, **kwargs)
    task = asyncio.create_task(simulator.run())
    try:
        await simulator.wait_connected(5.0)
        yield simulator
    finally:
        await simulator.stop()
        await task


@pytest.fixture
async def sim(csms: CsmsServer) -> AsyncIterator[WallboxSimulator]:
    """A simulator with quirks on, connected and booted."""
    async with running(csms) as simulator:
        yield simulator


@pytest.fixture
async def plain(csms: CsmsServer) -> AsyncIterator[WallboxSimulator]:
    """A simulator with quirks off, connected and booted."""
    async with running(csms, quirks=False) as simulator:
        yield simulator


async def test_boot_announces_the_wallbox(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """Boot sends BootNotification(PowerUp) with the unit's identity, then the unasked messages."""
    boot = await csms.wait_for("BootNotification")
    assert boot == {
        "charging_station": {
            "vendor_name": "Delta Electronics",
            "model": "EIAW-E22KTSE6B04",
            "serial_number": "DE2201A00042",
            "firmware_version": "01.20.06.71",
        },
        "reason": "PowerUp",
    }
    assert (await csms.wait_for("SecurityEventNotification"))["type"] == "SettingSystemTime"
    assert (await csms.wait_for("StatusNotification"))["connector_status"] == "Available"
    assert (await csms.wait_for("NotifyEvent"))["event_data"][0]["variable"] == {"name": "AvailabilityState"}
    assert csms.handshakes == [("/DE%2ABMW%2AESIM0001", None)]
    assert sim.variables.value("OCPPCommCtrlr", "HeartbeatInterval") == "10"


async def test_tls_and_basic_auth_as_security_profile_2() -> None:
    """Over TLS with a password the handshake carries HTTP Basic Auth with the charger id as user."""
    ca = trustme.CA()
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ssl)
    client_ssl = ssl.create_default_context()
    ca.configure_trust(client_ssl)
    async with CsmsServer(ssl=server_ssl) as secure, running(secure, password="pw-123", ssl=client_ssl) as wallbox:
        expected = "Basic " + base64.b64encode(f"{CHARGER_ID}:pw-123".encode()).decode()
        assert (secure.handshakes, wallbox.connected) == ([("/DE%2ABMW%2AESIM0001", expected)], True)


async def test_base_report_holds_the_brief_variables(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """GetBaseReport(FullInventory) is Accepted and NotifyReport parts carry the unit's variables."""
    result = await csms.call(call.GetBaseReport(request_id=7, report_base="FullInventory"))
    assert result.status == "Accepted"
    await csms.wait_for("NotifyReport", lambda part: not part["tbc"])
    parts = csms.of("NotifyReport")
    assert [part["seq_no"] for part in parts] == list(range(len(parts)))
    assert len(parts) >= 2
    assert [part["tbc"] for part in parts] == [True] * (len(parts) - 1) + [False]
    report = {
        (entry["component"]["name"], entry["variable"]["name"], entry["variable"].get("instance")): entry
        for part in parts
        for entry in part["report_data"]
    }
    assert len(report) == len(sim.variables)

    def actual(component: str, name: str, instance: str | None = None) -> tuple[str | None, str]:
        attribute = report[(component, name, instance)]["variable_attribute"][0]
        return attribute.get("value"), attribute["mutability"]

    assert actual("SecurityCtrlr", "SecurityProfile") == ("2", "ReadOnly")
    assert actual("OCPPCommCtrlr", "MessageTimeout", "Default") == ("30", "ReadOnly")
    assert actual("OCPPCommCtrlr", "HeartbeatInterval") == ("10", "ReadWrite")
    assert actual("OCPPCommCtrlr", "WebSocketPingInterval") == ("300", "ReadWrite")
    assert actual("OCPPCommCtrlr", "QueueAllMessages") == ("true", "ReadOnly")
    assert actual("OCPPCommCtrlr", "OfflineThreshold") == ("3600", "ReadWrite")
    assert actual("SampledDataCtrlr", "TxUpdatedInterval") == ("0", "ReadWrite")
    assert actual("SampledDataCtrlr", "TxUpdatedMeasurands") == ("Energy.Active.Import.Register", "ReadWrite")
    assert report[("SampledDataCtrlr", "TxUpdatedMeasurands", None)]["variable_characteristics"] == {
        "data_type": "MemberList",
        "supports_monitoring": False,
        "values_list": "Current.Import,Energy.Active.Import.Register,Power.Active.Import,Voltage",
    }
    assert actual("AlignedDataCtrlr", "Available") == ("false", "ReadOnly")
    assert actual("TxCtrlr", "TxStartPoint") == ("EVConnected,Authorized,EnergyTransfer", "ReadWrite")
    assert actual("TxCtrlr", "TxStopPoint") == ("PowerPathClosed", "ReadWrite")
    assert actual("TxCtrlr", "StopTxOnEVSideDisconnect") == ("true", "ReadOnly")
    assert actual("AuthCtrlr", "Enabled") == ("false", "ReadWrite")
    assert actual("SmartChargingCtrlr", "RateUnit") == ("A,W", "ReadOnly")
    assert actual("SmartChargingCtrlr", "PeriodsPerSchedule") == ("33", "ReadOnly")
    assert actual("SmartChargingCtrlr", "Entries", "ChargingProfiles") == ("15", "ReadOnly")
    assert actual("SmartChargingCtrlr", "ProfileStackLevel") == ("5", "ReadOnly")
    assert actual("SmartChargingCtrlr", "ACPhaseSwitchingSupported") == ("false", "ReadOnly")
    assert actual("EVSE", "SupplyPhases") == ("3", "ReadOnly")
    assert report[("EVSE", "Power", None)]["variable_characteristics"]["max_limit"] == 22080.0
    assert actual("SecurityCtrlr", "BasicAuthPassword") == (None, "WriteOnly")


@pytest.mark.parametrize(
    ("item", "status"),
    [
        (variable("SampledDataCtrlr", "TxUpdatedInterval", "10"), "Accepted"),
        (variable("SampledDataCtrlr", "TxUpdatedMeasurands", ALL_MEASURANDS), "Accepted"),
        (variable("SampledDataCtrlr", "TxUpdatedMeasurands", "SoC"), "Rejected"),
        (variable("SampledDataCtrlr", "TxUpdatedInterval", "ten"), "Rejected"),
        (variable("TxCtrlr", "StopTxOnEVSideDisconnect", "false"), "Rejected"),
        (variable("SecurityCtrlr", "SecurityProfile", "3"), "Rejected"),
        (variable("SampledDataCtrlr", "NoSuchVariable", "1"), "UnknownVariable"),
        (variable("NoSuchCtrlr", "Enabled", "true"), "UnknownComponent"),
    ],
)
async def test_set_variables_matrix(csms: CsmsServer, sim: WallboxSimulator, item: dict[str, Any], status: str) -> None:
    """SetVariables accepts writable valid values and refuses read-only, invalid and unknown ones."""
    result = await csms.call(call.SetVariables(set_variable_data=[item]))
    assert result.set_variable_result[0]["attribute_status"] == status


async def test_get_variables_reads_the_model(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """GetVariables returns values; MessageTimeout needs its instance; the password is not readable."""
    result = await csms.call(
        call.GetVariables(
            get_variable_data=[
                variable("OCPPCommCtrlr", "MessageTimeout", instance="Default"),
                variable("OCPPCommCtrlr", "MessageTimeout"),
                variable("SecurityCtrlr", "BasicAuthPassword"),
            ]
        )
    )
    answers = [(item["attribute_status"], item.get("attribute_value")) for item in result.get_variable_result]
    assert answers == [("Accepted", "30"), ("UnknownVariable", None), ("Rejected", None)]


async def test_plug_in_starts_a_transaction(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """Plugging in reports Occupied, starts a transaction by itself and begins charging at the car's 16 A."""
    mark = csms.mark()
    await sim.plug_in()
    events = csms.of("TransactionEvent", mark)
    assert [(e["event_type"], e["trigger_reason"], e["transaction_info"]["charging_state"]) for e in events] == [
        ("Started", "CablePluggedIn", "EVConnected"),
        ("Updated", "ChargingStateChanged", "Charging"),
    ]
    assert events[0]["transaction_info"]["transaction_id"] == sim.transaction_id
    assert "id_token" not in events[0]
    assert samples(events[0]) == {("Energy.Active.Import.Register", None): 1_234_567.0}
    assert [s["connector_status"] for s in csms.of("StatusNotification", mark)] == ["Occupied"]
    assert len(csms.of("NotifyEVChargingNeeds", mark)) == 1
    assert (sim.charging_state, sim.offered_current_a, sim.current_a, sim.power_w) == ("Charging", 32.0, 16.0, 11040.0)


async def test_periodic_meter_values_carry_per_phase_values(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """With TxUpdatedInterval=1 and all measurands, Updated(MeterValuePeriodic) brings per-phase values."""
    items = [
        variable("SampledDataCtrlr", "TxUpdatedInterval", "1"),
        variable("SampledDataCtrlr", "TxUpdatedMeasurands", ALL_MEASURANDS),
    ]
    await csms.call(call.SetVariables(set_variable_data=items))
    mark = csms.mark()
    await sim.plug_in()
    event = await csms.wait_for("TransactionEvent", lambda e: e["trigger_reason"] == "MeterValuePeriodic", since=mark)
    values = samples(event)
    assert event["meter_value"][0]["sampled_value"][0]["context"] == "Sample.Periodic"
    assert {key: value for key, value in values.items() if key[0] != "Energy.Active.Import.Register"} == {
        ("Power.Active.Import", None): 11040.0,
        ("Current.Import", "L1"): 16.0,
        ("Current.Import", "L2"): 16.0,
        ("Current.Import", "L3"): 16.0,
        ("Current.Import", None): 48.0,
        ("Voltage", "L1-N"): 230.0,
        ("Voltage", "L2-N"): 230.0,
        ("Voltage", "L3-N"): 230.0,
    }
    assert values[("Energy.Active.Import.Register", None)] > 1_234_567.0


async def test_no_periodic_meter_values_while_interval_is_zero(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """With the default TxUpdatedInterval=0 a session sends no periodic meter values (as the real unit)."""
    mark = csms.mark()
    await sim.plug_in()
    await simulated_time_passes(sim.clock, 10.0)
    assert [e["trigger_reason"] for e in csms.of("TransactionEvent", mark)] == [
        "CablePluggedIn",
        "ChargingStateChanged",
    ]


async def test_energy_integrates_power_over_simulated_time(sim: WallboxSimulator) -> None:
    """The register grows by power x simulated time."""
    await sim.plug_in()
    start_s, start_wh = sim.clock.now_s(), sim.energy_wh
    await simulated_time_passes(sim.clock, 5.0)
    assert sim.energy_wh - start_wh == pytest.approx(11040.0 * (sim.clock.now_s() - start_s) / 3600, rel=0.01)


async def test_zero_amp_default_profile_pauses_and_16_a_resumes(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """A 0 A TxDefaultProfile suspends charging with the transaction alive; the same id at 16 A resumes."""
    await sim.plug_in()
    transaction_id = sim.transaction_id
    mark = csms.mark()
    assert (await csms.call(profile(0))).status == "Accepted"
    await csms.wait_for("TransactionEvent", state_is("SuspendedEVSE"), since=mark)
    assert (sim.transaction_id, sim.charging_state, sim.power_w) == (transaction_id, "SuspendedEVSE", 0.0)
    assert (await csms.call(profile(16))).status == "Accepted"
    event = await csms.wait_for("TransactionEvent", state_is("Charging"), since=mark)
    assert event["trigger_reason"] == "ChargingStateChanged"
    assert (sim.transaction_id, sim.charging_state, sim.power_w) == (transaction_id, "Charging", 11040.0)
    assert [(p.id, p.periods[0].limit) for p in sim.profiles.values()] == [(1, 16.0)]


async def test_limit_below_car_maximum_lowers_the_current(sim: WallboxSimulator, csms: CsmsServer) -> None:
    """A 10 A limit makes the car draw 10 A per phase; below 6 A it stops (IEC 61851)."""
    await sim.plug_in()
    await csms.call(profile(10))
    assert (sim.offered_current_a, sim.current_a, sim.charging_state) == (10.0, 10.0, "Charging")
    await csms.call(profile(5))
    assert (sim.offered_current_a, sim.current_a, sim.charging_state) == (5.0, 0.0, "SuspendedEVSE")


async def test_stack_level_above_zero_is_rejected(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """With quirks a profile on stack level 1 is Rejected and nothing is installed."""
    result = await csms.call(profile(16, stack_level=1))
    assert (result.status, result.status_info) == ("Rejected", {"reason_code": "InvalidStackLevel"})
    assert sim.profiles == {}


async def test_stack_level_one_is_accepted_without_quirks(csms: CsmsServer, plain: WallboxSimulator) -> None:
    """Without quirks stack levels up to ProfileStackLevel (5) are accepted."""
    assert (await csms.call(profile(16, stack_level=1))).status == "Accepted"


async def test_reused_id_with_another_purpose_is_rejected(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """Reusing a TxDefaultProfile's id for a ChargingStationMaxProfile is Rejected."""
    await csms.call(profile(16, profile_id=5))
    result = await csms.call(profile(16, profile_id=5, purpose="ChargingStationMaxProfile", evse_id=0))
    assert result.status == "Rejected"


async def test_tx_profile_while_suspended_is_dropped(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """A TxProfile sent during SuspendedEVSE is Accepted but silently dropped."""
    await sim.plug_in()
    await csms.call(profile(0))
    result = await csms.call(profile(16, profile_id=9, purpose="TxProfile", transaction_id=sim.transaction_id))
    assert result.status == "Accepted"
    assert (list(sim.profiles), sim.charging_state) == ([1], "SuspendedEVSE")


async def test_one_rejected_tx_profile_refuses_the_rest(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """After one TxProfile is Rejected, every later TxProfile of that transaction is Rejected."""
    await sim.plug_in()
    tx = sim.transaction_id
    assert (
        await csms.call(profile(8, profile_id=9, purpose="TxProfile", stack_level=1, transaction_id=tx))
    ).status == ("Rejected")
    assert (await csms.call(profile(8, profile_id=9, purpose="TxProfile", transaction_id=tx))).status == "Rejected"


async def test_station_max_caps_the_tx_profile(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """The limit is the minimum of ChargingStationMaxProfile and the TxProfile, which overrules TxDefault."""
    await sim.plug_in()
    await csms.call(profile(6, profile_id=1))
    await csms.call(profile(12, profile_id=2, purpose="TxProfile", transaction_id=sim.transaction_id))
    assert sim.offered_current_a == 12.0
    await csms.call(profile(10, profile_id=3, purpose="ChargingStationMaxProfile", evse_id=0))
    assert sim.offered_current_a == 10.0


async def test_scripted_rejection_of_a_purpose(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """``reject_profiles`` makes every profile of that purpose Rejected."""
    sim.reject_profiles.add("TxDefaultProfile")
    assert (await csms.call(profile(16))).status == "Rejected"


async def test_clear_without_criteria_removes_every_profile(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """ClearChargingProfile without id or criteria removes all profiles; another clear finds none."""
    await csms.call(profile(16, profile_id=1))
    await csms.call(profile(20, profile_id=2, purpose="ChargingStationMaxProfile", evse_id=0))
    assert (await csms.call(call.ClearChargingProfile())).status == "Accepted"
    assert (sim.profiles, sim.offered_current_a) == ({}, 32.0)
    assert (await csms.call(call.ClearChargingProfile())).status == "Unknown"


async def test_composite_schedule_shows_the_effective_limit(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """GetCompositeSchedule is Rejected without profiles and reports the limit in A with one."""
    assert (await csms.call(call.GetCompositeSchedule(duration=600, evse_id=1))).status == "Rejected"
    await csms.call(profile(10))
    result = await csms.call(call.GetCompositeSchedule(duration=600, evse_id=1))
    assert result.status == "Accepted"
    assert (result.schedule["charging_rate_unit"], result.schedule["charging_schedule_period"]) == (
        "A",
        [{"start_period": 0, "limit": 10.0, "number_phases": 3}],
    )


async def test_frozen_total_current_after_a_limit_change(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """With quirks the non-phased Current.Import keeps its pre-limit total while the phases are right."""
    await csms.call(
        call.SetVariables(set_variable_data=[variable("SampledDataCtrlr", "TxUpdatedMeasurands", ALL_MEASURANDS)])
    )
    await sim.plug_in()
    await csms.call(profile(10))
    mark = csms.mark()
    assert (await csms.call(call.TriggerMessage(requested_message="MeterValues"))).status == "Accepted"
    values = samples(await csms.wait_for("MeterValues", since=mark))
    assert (values[("Current.Import", "L1")], values[("Current.Import", None)]) == (10.0, 48.0)


async def test_total_current_follows_without_quirks(csms: CsmsServer, plain: WallboxSimulator) -> None:
    """Without quirks the non-phased Current.Import total follows the limit."""
    await csms.call(
        call.SetVariables(set_variable_data=[variable("SampledDataCtrlr", "TxUpdatedMeasurands", ALL_MEASURANDS)])
    )
    await plain.plug_in()
    await csms.call(profile(10))
    mark = csms.mark()
    await csms.call(call.TriggerMessage(requested_message="MeterValues"))
    values = samples(await csms.wait_for("MeterValues", since=mark))
    assert values[("Current.Import", None)] == 30.0


@pytest.mark.parametrize(
    ("message", "status"),
    [
        ("BootNotification", "Rejected"),
        ("StatusNotification", "Rejected"),
        ("MeterValues", "Accepted"),
        ("TransactionEvent", "Rejected"),
        ("Heartbeat", "NotImplemented"),
    ],
)
async def test_trigger_message_matrix(csms: CsmsServer, sim: WallboxSimulator, message: str, status: str) -> None:
    """TriggerMessage answers like the real unit (TransactionEvent needs a running transaction)."""
    assert (await csms.call(call.TriggerMessage(requested_message=message))).status == status


async def test_trigger_transaction_event_during_a_session(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """During a session a triggered TransactionEvent is Updated with triggerReason Trigger."""
    await sim.plug_in()
    mark = csms.mark()
    assert (await csms.call(call.TriggerMessage(requested_message="TransactionEvent"))).status == "Accepted"
    event = await csms.wait_for("TransactionEvent", since=mark)
    assert (event["event_type"], event["trigger_reason"]) == ("Updated", "Trigger")


async def test_remote_start_without_a_car_is_rejected(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """RequestStartTransaction with no car plugged in is Rejected."""
    result = await csms.call(call.RequestStartTransaction(id_token=NO_TOKEN, remote_start_id=1))
    assert (result.status, sim.transaction_id) == ("Rejected", None)


async def test_remote_start_is_refused_after_a_remote_stop(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """After RequestStopTransaction (Remote) a RequestStartTransaction is Rejected until the car is unplugged."""
    await sim.plug_in()
    first = sim.transaction_id
    assert first is not None
    assert (await csms.call(call.RequestStopTransaction(transaction_id="not-it"))).status == "Rejected"
    mark = csms.mark()
    assert (await csms.call(call.RequestStopTransaction(transaction_id=first))).status == "Accepted"
    ended = await csms.wait_for("TransactionEvent", lambda e: e["event_type"] == "Ended", since=mark)
    assert (ended["trigger_reason"], ended["transaction_info"]["stopped_reason"]) == ("RemoteStop", "Remote")
    assert (await csms.call(call.RequestStartTransaction(id_token=NO_TOKEN, remote_start_id=2))).status == "Rejected"
    await sim.unplug()
    await sim.plug_in()
    assert sim.transaction_id not in (None, first)


async def test_remote_start_draws_nothing_until_a_profile(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """An Accepted remote start delivers 0 W (quirk) until a charging profile with a limit arrives."""
    items = [variable("AuthCtrlr", "Enabled", "true"), variable("TxCtrlr", "TxStartPoint", "Authorized")]
    await csms.call(call.SetVariables(set_variable_data=items))
    await sim.plug_in()
    assert sim.transaction_id is None
    mark = csms.mark()
    result = await csms.call(call.RequestStartTransaction(id_token=NO_TOKEN, remote_start_id=42))
    assert (result.status, result.transaction_id) == ("Accepted", sim.transaction_id)
    started = await csms.wait_for("TransactionEvent", lambda e: e["event_type"] == "Started", since=mark)
    assert (started["trigger_reason"], started["transaction_info"]["remote_start_id"]) == ("RemoteStart", 42)
    assert (sim.charging_state, sim.power_w) == ("SuspendedEVSE", 0.0)
    await csms.call(profile(16))
    assert (sim.charging_state, sim.power_w) == ("Charging", 11040.0)


async def test_unplug_ends_the_transaction(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """Unplugging ends the transaction (EVDisconnected) with the register, then reports Available."""
    await sim.plug_in()
    mark = csms.mark()
    await sim.unplug()
    ended = await csms.wait_for("TransactionEvent", since=mark)
    assert (ended["event_type"], ended["transaction_info"]["stopped_reason"]) == ("Ended", "EVDisconnected")
    assert list(samples(ended)) == [("Energy.Active.Import.Register", None)]
    assert [s["connector_status"] for s in csms.of("StatusNotification", mark)] == ["Available"]
    assert (sim.transaction_id, sim.charging_state) == (None, "Idle")


async def test_car_suspend_and_resume(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """The car pausing is reported as SuspendedEV with 0 W; resuming returns to Charging."""
    await sim.plug_in()
    await sim.car_suspend()
    assert (sim.charging_state, sim.power_w) == ("SuspendedEV", 0.0)
    await sim.car_resume()
    assert (sim.charging_state, sim.power_w) == ("Charging", 11040.0)
    states = [e["transaction_info"]["charging_state"] for e in csms.of("TransactionEvent")]
    assert states[-2:] == ["SuspendedEV", "Charging"]


async def test_reboot_with_cable_starts_a_new_transaction(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """A power cycle ends the session (PowerLoss), boots again, and the plugged car starts a NEW transaction."""
    await sim.plug_in()
    first = sim.transaction_id
    mark = csms.mark()
    await sim.reboot()
    assert not sim.connected
    await sim.wait_connected(5.0)
    started = await csms.wait_for("TransactionEvent", lambda e: e["event_type"] == "Started", since=mark)
    ended = csms.of("TransactionEvent", mark)[0]
    assert (ended["event_type"], ended["transaction_info"]["transaction_id"]) == ("Ended", first)
    assert (ended["transaction_info"]["stopped_reason"], ended["offline"]) == ("PowerLoss", True)
    assert [boot["reason"] for boot in csms.of("BootNotification")] == ["PowerUp", "PowerUp"]
    assert started["transaction_info"]["transaction_id"] == sim.transaction_id != first
    assert (sim.boot_count, started["trigger_reason"]) == (2, "EVDetected")


async def test_reset_immediate_reboots_with_remote_reset(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """Reset(Immediate) is Accepted; the session ends (ImmediateReset) and the unit boots with RemoteReset."""
    await sim.plug_in()
    mark = csms.mark()
    assert (await csms.call(call.Reset(type="Immediate"))).status == "Accepted"
    await csms.wait_for("BootNotification", since=mark, timeout_s=5.0)
    ended = csms.of("TransactionEvent", mark)[0]
    assert (ended["event_type"], ended["transaction_info"]["stopped_reason"]) == ("Ended", "ImmediateReset")
    assert csms.of("BootNotification", mark)[0]["reason"] == "RemoteReset"


async def test_drop_connection_reconnects_without_boot(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """A network blip reconnects without BootNotification and queued events arrive flagged offline."""
    await sim.plug_in()
    await sim.drop_connection(offline_s=4.0)
    await sim.car_suspend()
    await sim.wait_connected(5.0)
    event = await csms.wait_for("TransactionEvent", state_is("SuspendedEV"))
    assert (event["offline"], sim.boot_count, len(csms.handshakes)) == (True, 1, 2)
    assert len(csms.of("BootNotification")) == 1


async def test_silent_wallbox_leaves_calls_unanswered() -> None:
    """While silent, calls are logged in ``received`` but never answered."""
    async with CsmsServer(response_timeout_s=0.3) as quiet, running(quiet) as silent:
        silent.set_silent(True)
        with pytest.raises(TimeoutError):
            await quiet.call(call.GetVariables(get_variable_data=[variable("AuthCtrlr", "Enabled")]))
        payload = await silent.wait_for_call("GetVariables", 1.0)
        assert payload["getVariableData"][0]["variable"] == {"name": "Enabled"}


async def test_unsolicited_messages_are_all_answered(sim: WallboxSimulator) -> None:
    """Every kind of message the unit sends unasked gets a response from the CSMS."""
    responses = await sim.send_unsolicited(5.0)
    assert sorted(name for name, response in responses.items() if response is not None) == [
        "ClearedChargingLimit",
        "NotifyChargingLimit",
        "NotifyEVChargingNeeds",
        "NotifyEvent",
        "SecurityEventNotification",
    ]


async def test_wait_for_call_returns_each_call_once(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """``wait_for_call`` walks through the calls of one action in order."""
    await csms.call(profile(10))
    await csms.call(profile(12))
    first = await sim.wait_for_call("SetChargingProfile")
    second = await sim.wait_for_call("SetChargingProfile")
    limits = [profile_limit(p) for p in (first, second)]
    assert limits == [10, 12]


async def test_heartbeats_follow_the_boot_interval(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """Heartbeats come every HeartbeatInterval (10 simulated s = 0.5 s here)."""
    await csms.wait_for("Heartbeat", timeout_s=2.0)
    assert sim.sent[-1] == ("Heartbeat", {})


async def test_watt_profile_is_spread_over_the_phases(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """A 6900 W limit on three phases at 230 V offers 10 A per phase."""
    assert (await csms.call(profile(6900, unit="W"))).status == "Accepted"
    assert sim.offered_current_a == pytest.approx(10.0)


async def test_tx_profile_is_stuck_after_suspended_evse(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """After SuspendedEVSE with a TxProfile installed, clearing that TxProfile answers Unknown (quirk)."""
    await sim.plug_in()
    await csms.call(profile(16, profile_id=9, purpose="TxProfile", transaction_id=sim.transaction_id))
    await csms.call(profile(0, profile_id=3, purpose="ChargingStationMaxProfile", evse_id=0))
    assert sim.charging_state == "SuspendedEVSE"
    assert (await csms.call(call.ClearChargingProfile(charging_profile_id=9))).status == "Unknown"
    assert sorted(sim.profiles) == [3, 9]


async def test_reset_on_idle_waits_for_the_session(csms: CsmsServer, sim: WallboxSimulator) -> None:
    """Reset(OnIdle) during a session is Scheduled; the reboot follows the unplug."""
    await sim.plug_in()
    mark = csms.mark()
    assert (await csms.call(call.Reset(type="OnIdle"))).status == "Scheduled"
    assert csms.of("BootNotification", mark) == []
    await sim.unplug()
    boot = await csms.wait_for("BootNotification", since=mark)
    assert (boot["reason"], sim.transaction_id) == ("RemoteReset", None)

"""Readings, connect-time provisioning and persistence, with a library charge point."""

from __future__ import annotations

import json
import ssl
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ocpp.v201 import call

from conftest import CHARGER_ID, StartApp, api_get, charger_snapshot, default_options, ocpp_url
from helpers import eventually
from peer import library_charger

NOW = "2026-11-26T01:00:00Z"


def sample(
    value: float, measurand: str, phase: str | None = None, unit: str | None = None, multiplier: int | None = None
) -> dict[str, Any]:
    """One sampledValue in the library's snake_case form."""
    item: dict[str, Any] = {"value": value, "measurand": measurand, "context": "Sample.Periodic"}
    if phase:
        item["phase"] = phase
    if unit or multiplier is not None:
        item["unit_of_measure"] = {k: v for k, v in (("unit", unit), ("multiplier", multiplier)) if v is not None}
    return item


def tx_event(
    event_type: str,
    seq_no: int,
    samples: list[dict[str, Any]],
    *,
    state: str = "Charging",
    reason: str = "MeterValuePeriodic",
) -> call.TransactionEvent:
    """A TransactionEvent for transaction ``tx-42`` on EVSE 1, ``seq_no`` times 10 minutes after ``NOW``."""
    at = (datetime.fromisoformat(NOW) + timedelta(minutes=10 * seq_no)).strftime("%Y-%m-%dT%H:%M:%SZ")
    info: dict[str, Any] = {"transaction_id": "tx-42", "charging_state": state}
    if event_type == "Ended":
        info["stopped_reason"] = "EVDisconnected"
    return call.TransactionEvent(
        event_type=event_type,
        timestamp=at,
        trigger_reason=reason,
        seq_no=seq_no,
        transaction_info=info,
        evse={"id": 1, "connector_id": 1},
        meter_value=[{"timestamp": at, "sampled_value": samples}] if samples else None,
    )


PHASES = [
    sample(16.1, "Current.Import", "L1"),
    sample(15.9, "Current.Import", "L2"),
    sample(16.0, "Current.Import", "L3"),
    sample(32.0, "Current.Import"),  # the frozen non-phased total this wallbox can send
    sample(231.0, "Voltage", "L1-N"),
    sample(229.0, "Voltage", "L2-N"),
    sample(230.0, "Voltage", "L3-N"),
    sample(11.04, "Power.Active.Import", unit="kW"),
]


async def test_session_readings_appear_in_api(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Status, transaction, power, current per phase, voltage, lifetime and session energy reach /api/chargers."""
    app = await start_app()
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        await charger.call(
            call.StatusNotification(timestamp=NOW, connector_status="Occupied", evse_id=1, connector_id=1),
            suppress=False,
        )
        await charger.call(
            tx_event("Started", 0, [sample(1_234_567, "Energy.Active.Import.Register")], reason="CablePluggedIn"),
            suppress=False,
        )
        await charger.call(
            tx_event("Updated", 1, [sample(1_236.067, "Energy.Active.Import.Register", unit="kWh"), *PHASES]),
            suppress=False,
        )
        snapshot = await charger_snapshot(app)
    assert snapshot["status"] == "Occupied"
    assert snapshot["charging_state"] == "Charging"
    assert snapshot["transaction_id"] == "tx-42"
    assert snapshot["power_w"] == 11040.0
    assert snapshot["current_a"] == 16.0
    assert snapshot["current_phases_a"] == {"L1": 16.1, "L2": 15.9, "L3": 16.0}
    assert snapshot["voltage_v"] == 230.0
    assert snapshot["energy_kwh"] == 1236.067
    assert snapshot["session_energy_kwh"] == 1.5


async def test_unknown_values_are_null(start_app: StartApp) -> None:
    """Before any reading, measurements are null, never invented."""
    app = await start_app()
    snapshot = await charger_snapshot(app)
    for key in (
        "power_w",
        "energy_kwh",
        "session_energy_kwh",
        "current_a",
        "voltage_v",
        "status",
        "transaction_id",
        "last_seen",
    ):
        assert snapshot[key] is None, key
    assert snapshot["connected"] is False


async def test_energy_register_never_goes_backwards(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """A lower energy reading than before is ignored."""
    app = await start_app()
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        for value in (5000.0, 4000.0):
            await charger.call(
                call.MeterValues(
                    evse_id=1,
                    meter_value=[{"timestamp": NOW, "sampled_value": [sample(value, "Energy.Active.Import.Register")]}],
                ),
                suppress=False,
            )
        assert (await charger_snapshot(app))["energy_kwh"] == 5.0


async def test_transaction_end_records_last_session(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """TransactionEvent Ended clears the transaction and keeps the session's energy and reason."""
    app = await start_app()
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        await charger.call(tx_event("Started", 0, [sample(10_000, "Energy.Active.Import.Register")]), suppress=False)
        await charger.call(
            tx_event(
                "Ended",
                1,
                [sample(12_500, "Energy.Active.Import.Register")],
                state="EVConnected",
                reason="EVCommunicationLost",
            ),
            suppress=False,
        )
        snapshot = await charger_snapshot(app)
    assert snapshot["transaction_id"] is None
    assert snapshot["charging_state"] is None
    assert snapshot["last_session"]["energy_kwh"] == 2.5
    assert snapshot["last_session"]["stopped_reason"] == "EVDisconnected"


async def test_connect_sets_metering_and_reads_capabilities(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """At connect: the limit, reconciliation (status, transaction), then the full report and the metering set-up."""
    app = await start_app(options=default_options(meter_interval=15))
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        assert (await charger.next_call("GetBaseReport"))["report_base"] == "FullInventory"
        variables = (await charger.next_call("SetVariables"))["set_variable_data"]
        await eventually(
            lambda: app.hub.chargers[CHARGER_ID].capabilities.meter_push,
            until=lambda pushes: pushes is not None,
            what="the answer to SetVariables in the capabilities",
        )
        details = await api_get(app, "/api/chargers/DE*BMW*ETEST0001")
    triggers = [payload["requested_message"] for action, payload in charger.received if action == "TriggerMessage"]
    assert [action for action, _ in charger.received] == [
        "SetChargingProfile",
        "GetCompositeSchedule",
        "TriggerMessage",
        "GetVariables",
        "TriggerMessage",
        "GetBaseReport",
        "SetVariables",
    ]
    assert triggers == ["StatusNotification", "TransactionEvent"]
    assert {v["variable"]["name"]: v["attribute_value"] for v in variables} == {
        "TxUpdatedInterval": "15",
        "TxUpdatedMeasurands": "Current.Import,Energy.Active.Import.Register,Power.Active.Import,Voltage",
    }
    caps = details["capabilities"]
    assert caps["measurands"] == ["Current.Import", "Energy.Active.Import.Register", "Power.Active.Import", "Voltage"]
    assert caps["rate_units"] == ["A", "W"]
    assert caps["meter_push"] is True
    assert caps["triggers"] == {"StatusNotification": False, "TransactionEvent": False}
    assert caps["variables"]["SecurityCtrlr.BasicAuthPassword"] == "***"


async def test_rejected_metering_falls_back_to_polling(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """When SetVariables is rejected, the CSMS polls with TriggerMessage(MeterValues) during a transaction."""
    app = await start_app(options=default_options(meter_interval=1))
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, accept_variables=False) as charger:
        await charger.call(tx_event("Started", 0, [sample(10_000, "Energy.Active.Import.Register")]), suppress=False)
        await charger.next_call("SetVariables")
        await charger.next_call("TriggerMessage", where=lambda call: call["requested_message"] == "MeterValues")
    details = await api_get(app, "/api/chargers/DE*BMW*ETEST0001")
    assert details["capabilities"]["meter_push"] is False


async def test_restart_keeps_transaction_and_energy(
    start_app: StartApp, client_ssl: ssl.SSLContext, tmp_path: Path
) -> None:
    """After the add-on restarts, the running transaction and the energy register are restored from the data dir."""
    data_dir = tmp_path / "persist"
    app = await start_app(data_dir=data_dir)
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        await charger.call(tx_event("Started", 0, [sample(20_000, "Energy.Active.Import.Register")]), suppress=False)
        await charger.call(tx_event("Updated", 1, [sample(21_000, "Energy.Active.Import.Register")]), suppress=False)
    await app.stop()
    stored = json.loads((data_dir / "chargers" / "DE%2ABMW%2AETEST0001.json").read_text())
    assert stored["evses"]["1"]["transaction"]["transaction_id"] == "tx-42"
    again = await start_app(data_dir=data_dir)
    snapshot = await charger_snapshot(again)
    assert (snapshot["transaction_id"], snapshot["transaction_source"]) == ("tx-42", "restored")
    assert snapshot["energy_kwh"] is None  # not connected: no live reading
    assert snapshot["last_reading"]["energy_kwh"] == 21.0
    assert snapshot["session_energy_kwh"] == 1.0


async def test_trace_masks_id_tokens(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """The message trace keeps frames in both directions with idTokens masked."""
    app = await start_app()
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        await charger.call(call.Authorize(id_token={"id_token": "04A1B2C3D4", "type": "ISO14443"}), suppress=False)
    trace = await api_get(app, "/api/trace?action=Authorize")
    assert [entry["direction"] for entry in trace] == ["out", "in"]
    assert all("04A1B2C3D4" not in entry["frame"] for entry in trace)
    assert '"idToken":"***"' in trace[1]["frame"]


async def test_implausible_evse_ids_do_not_grow_state(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """StatusNotifications for EVSE ids beyond 8 are answered but not tracked, so the state stays bounded."""
    app = await start_app()
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        for evse_id in (1, 9, 5000):
            await charger.call(
                call.StatusNotification(timestamp=NOW, connector_status="Occupied", evse_id=evse_id, connector_id=1),
                suppress=False,
            )
    assert sorted(app.hub.chargers[CHARGER_ID].evses) == [1]

"""Every charger-to-CSMS action of OCPP 2.0.1 gets a schema-valid answer, never NotImplemented."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from ocpp.v201 import call

from conftest import CHARGER_ID, StartApp, ocpp_url
from peer import library_charger

NOW = "2026-11-26T01:00:00Z"
COMPONENT = {"name": "EVSE", "evse": {"id": 1}}
VARIABLE = {"name": "AvailabilityState"}

#: One minimal, valid request per action a charger may send. The library charge point validates our
#: answers against the OCPP 2.0.1 response schemas, so a wrong answer fails the call.
REQUESTS: dict[str, Any] = {
    "Authorize": call.Authorize(id_token={"id_token": "04A1B2C3", "type": "ISO14443"}),
    "BootNotification": call.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"),
    "ClearedChargingLimit": call.ClearedChargingLimit(charging_limit_source="EMS", evse_id=1),
    "DataTransfer": call.DataTransfer(vendor_id="com.example", message_id="hello", data="x"),
    "FirmwareStatusNotification": call.FirmwareStatusNotification(status="Idle"),
    "Get15118EVCertificate": call.Get15118EVCertificate(
        iso15118_schema_version="urn:iso:15118:2:2013:MsgDef", action="Install", exi_request="AAAA"
    ),
    "GetCertificateStatus": call.GetCertificateStatus(
        ocsp_request_data={
            "hash_algorithm": "SHA256",
            "issuer_name_hash": "a",
            "issuer_key_hash": "b",
            "serial_number": "1",
            "responder_url": "http://ocsp.example",
        }
    ),
    "Heartbeat": call.Heartbeat(),
    "LogStatusNotification": call.LogStatusNotification(status="Idle"),
    "MeterValues": call.MeterValues(evse_id=1, meter_value=[{"timestamp": NOW, "sampled_value": [{"value": 10.0}]}]),
    "NotifyChargingLimit": call.NotifyChargingLimit(charging_limit={"charging_limit_source": "EMS"}, evse_id=1),
    "NotifyCustomerInformation": call.NotifyCustomerInformation(data="none", seq_no=0, generated_at=NOW, request_id=1),
    "NotifyDisplayMessages": call.NotifyDisplayMessages(request_id=1),
    "NotifyEVChargingNeeds": call.NotifyEVChargingNeeds(
        charging_needs={
            "requested_energy_transfer": "AC_three_phase",
            "ac_charging_parameters": {
                "energy_amount": 10000,
                "ev_min_current": 6,
                "ev_max_current": 16,
                "ev_max_voltage": 400,
            },
        },
        evse_id=1,
    ),
    "NotifyEVChargingSchedule": call.NotifyEVChargingSchedule(
        time_base=NOW,
        charging_schedule={
            "id": 1,
            "charging_rate_unit": "A",
            "charging_schedule_period": [{"start_period": 0, "limit": 16.0}],
        },
        evse_id=1,
    ),
    "NotifyEvent": call.NotifyEvent(
        generated_at=NOW,
        seq_no=0,
        event_data=[
            {
                "event_id": 1,
                "timestamp": NOW,
                "trigger": "Delta",
                "actual_value": "Available",
                "event_notification_type": "HardWiredNotification",
                "component": COMPONENT,
                "variable": VARIABLE,
            }
        ],
    ),
    "NotifyMonitoringReport": call.NotifyMonitoringReport(request_id=1, seq_no=0, generated_at=NOW),
    "NotifyReport": call.NotifyReport(request_id=99, generated_at=NOW, seq_no=0),
    "PublishFirmwareStatusNotification": call.PublishFirmwareStatusNotification(status="Idle"),
    "ReportChargingProfiles": call.ReportChargingProfiles(
        request_id=1,
        charging_limit_source="CSO",
        evse_id=1,
        charging_profile=[
            {
                "id": 1,
                "stack_level": 0,
                "charging_profile_purpose": "TxDefaultProfile",
                "charging_profile_kind": "Absolute",
                "charging_schedule": [
                    {
                        "id": 1,
                        "charging_rate_unit": "A",
                        "charging_schedule_period": [{"start_period": 0, "limit": 16.0}],
                    }
                ],
            }
        ],
    ),
    "ReservationStatusUpdate": call.ReservationStatusUpdate(reservation_id=1, reservation_update_status="Expired"),
    "SecurityEventNotification": call.SecurityEventNotification(type="SettingSystemTime", timestamp=NOW),
    "SignCertificate": call.SignCertificate(csr="-----BEGIN CERTIFICATE REQUEST-----"),
    "StatusNotification": call.StatusNotification(
        timestamp=NOW, connector_status="Available", evse_id=1, connector_id=1
    ),
    "TransactionEvent": call.TransactionEvent(
        event_type="Started",
        timestamp=NOW,
        trigger_reason="Authorized",
        seq_no=0,
        transaction_info={"transaction_id": "tx-1"},
        id_token={"id_token": "04A1B2C3", "type": "ISO14443"},
        evse={"id": 1, "connector_id": 1},
    ),
}


def test_every_charger_action_is_covered() -> None:
    """The table above names every charger-to-CSMS action of OCPP 2.0.1 (25 of them)."""
    assert len(REQUESTS) == 25


@pytest.mark.parametrize("action", sorted(REQUESTS))
async def test_action_gets_valid_answer(start_app: StartApp, client_ssl: ssl.SSLContext, action: str) -> None:
    """The CSMS answers the action with a CALLRESULT that passes the library's response schema check."""
    app = await start_app()
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        result = await charger.call(REQUESTS[action], suppress=False)
        assert type(result).__name__ == action


async def test_transaction_event_with_id_token_gets_id_token_info(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """A TransactionEvent that carries an idToken is answered with idTokenInfo."""
    app = await start_app()
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        result = await charger.call(REQUESTS["TransactionEvent"], suppress=False)
        assert result.id_token_info == {"status": "Accepted"}

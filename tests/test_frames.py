"""Malformed frames get the CALLERROR OCPP-J names, and the connection lives on."""

from __future__ import annotations

import json
import ssl

import pytest

from bmw_wallbox.csms.framing import Dropped, Frame, FrameError, check_frame

from conftest import CHARGER_ID, StartApp, api_get, ocpp_url
from peer import raw_socket

HEARTBEAT = json.dumps([2, "hb-1", "Heartbeat", {}])


@pytest.mark.parametrize(
    ("frame", "unique_id", "code"),
    [
        ("this is not json", "-1", "RpcFrameworkError"),
        ("{}", "-1", "RpcFrameworkError"),
        ("[]", "-1", "RpcFrameworkError"),
        ('"just a string"', "-1", "RpcFrameworkError"),
        ("[2]", "-1", "RpcFrameworkError"),
        ('[2, 17, "Heartbeat", {}]', "-1", "RpcFrameworkError"),
        ('[2, "' + "x" * 37 + '", "Heartbeat", {}]', "-1", "RpcFrameworkError"),
        ('["2", "id-a", "Heartbeat", {}]', "id-a", "RpcFrameworkError"),
        ('[2, "id-b", "Heartbeat"]', "id-b", "RpcFrameworkError"),
        ('[2, "id-c", 5, {}]', "id-c", "RpcFrameworkError"),
        ('[2, "id-d", "Heartbeat", []]', "id-d", "FormatViolation"),
        ('[7, "id-e", "Heartbeat", {}]', "id-e", "MessageTypeNotSupported"),
        ('[2, "id-f", "MakeCoffee", {}]', "id-f", "NotImplemented"),
        ('[2, "id-g", "Reset", {"type": "Immediate"}]', "id-g", "NotSupported"),
        ('[2, "id-h", "BootNotification", {"reason": "PowerUp"}]', "id-h", "OccurrenceConstraintViolation"),
        (
            '[2, "id-i", "StatusNotification", {"timestamp": 5, "connectorStatus": "Available", '
            '"evseId": 1, "connectorId": 1}]',
            "id-i",
            "TypeConstraintViolation",
        ),
        (
            '[2, "id-j", "StatusNotification", {"timestamp": "2026-11-26T00:00:00Z", "connectorStatus": "Melting", '
            '"evseId": 1, "connectorId": 1}]',
            "id-j",
            "PropertyConstraintViolation",
        ),
    ],
)
async def test_malformed_frame_gets_callerror_and_connection_lives(
    start_app: StartApp, client_ssl: ssl.SSLContext, frame: str, unique_id: str, code: str
) -> None:
    """The server answers the CALLERROR the spec names, then still answers a Heartbeat."""
    app = await start_app()
    async with raw_socket(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as ws:
        await ws.send(frame)
        answer = json.loads(await ws.recv())
        assert answer[:3] == [4, unique_id, code]
        assert isinstance(answer[3], str)
        assert answer[4] == {}
        await ws.send(HEARTBEAT)
        reply = json.loads(await ws.recv())
        assert reply[:2] == [3, "hb-1"]
        assert reply[2]["currentTime"].endswith("Z")


async def test_binary_frame_gets_rpc_framework_error(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """A binary frame is answered with RpcFrameworkError (OCPP-J uses text frames) and the link stays up."""
    app = await start_app()
    async with raw_socket(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as ws:
        await ws.send(b"\xff\x00\x01")
        assert json.loads(await ws.recv())[:3] == [4, "-1", "RpcFrameworkError"]
        await ws.send(HEARTBEAT)
        assert json.loads(await ws.recv())[0] == 3


async def test_oversized_frame_closes_with_1009(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """A frame over 1 MiB closes the connection with code 1009 (message too big)."""
    app = await start_app()
    async with raw_socket(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as ws:
        await ws.send(json.dumps([2, "big", "DataTransfer", {"vendorId": "x", "data": "y" * (2 * 1024 * 1024)}]))
        await ws.wait_closed()
        assert ws.close_code == 1009


async def test_vendor_quirk_in_optional_field_is_dropped_not_refused(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """A reading with a non-standard context value is accepted; the bad field is ignored and the value kept."""
    app = await start_app()
    frame = [
        2,
        "mv-1",
        "MeterValues",
        {
            "evseId": 1,
            "meterValue": [
                {
                    "timestamp": "2026-11-26T00:00:00Z",
                    "sampledValue": [
                        {"value": 1234567, "context": "Vendor.Special", "measurand": "Energy.Active.Import.Register"},
                        {"value": 7360, "measurand": "Power.Active.Import", "vendorField": True},
                    ],
                }
            ],
        },
    ]
    async with raw_socket(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as ws:
        await ws.send(json.dumps(frame))
        assert json.loads(await ws.recv()) == [3, "mv-1", {}]
    chargers = await api_get(app, "/api/chargers")
    snapshot = next(c for c in chargers if c["id"] == CHARGER_ID)
    assert snapshot["last_reading"]["energy_kwh"] == 1234.567
    assert snapshot["last_reading"]["power_w"] == 7360


def test_answers_to_answers_are_dropped() -> None:
    """A malformed CALLRESULT or CALLERROR is dropped, never answered."""
    assert isinstance(check_frame('[3, "id"]'), Dropped)
    assert isinstance(check_frame('[4, "id", "GenericError"]'), Dropped)
    assert isinstance(check_frame("[3, 5, {}]"), Dropped)


def test_well_formed_call_passes() -> None:
    """A well-formed CALL is handed on with its parts."""
    assert check_frame(HEARTBEAT) == Frame(message_type=2, unique_id="hb-1", action="Heartbeat", payload={})
    assert check_frame('[4, "id", "NotSupported", "no", {}]') == Frame(
        message_type=4, unique_id="id", payload="NotSupported", description="no", details={}
    )


def test_callerror_frame_is_ocpp_j() -> None:
    """The CALLERROR frame has the five OCPP-J elements."""
    error = FrameError(unique_id="-1", code="RpcFrameworkError", description="Frame is not valid JSON")
    assert json.loads(error.to_json()) == [4, "-1", "RpcFrameworkError", "Frame is not valid JSON", {}]

"""Logs and firmware with the simulated wallbox: it uploads a generated log and fetches firmware, reporting statuses."""

from __future__ import annotations

import os
import ssl
from urllib.parse import quote

import aiohttp
import pytest
from test_maintenance_firmware import firmware_status, upload_firmware

from bmw_wallbox.simulator import WallboxSimulator

from conftest import CHARGER_ID, StartApp, api_get, api_send, running
from helpers import eventually

BASE = f"/api/chargers/{quote(CHARGER_ID, safe='')}"


def simulator(port: int | None, client_ssl: ssl.SSLContext) -> WallboxSimulator:
    """A simulated wallbox for the app's OCPP port."""
    return WallboxSimulator(f"wss://localhost:{port}", CHARGER_ID, ssl=client_ssl, time_scale=10.0, reboot_s=5.0)


@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_simulator_log_arrives_byte_for_byte(
    start_app: StartApp, client_ssl: ssl.SSLContext, method: str
) -> None:
    """The simulator's log, sent over PUT or POST, is listed Uploaded and downloadable byte for byte."""
    app = await start_app()
    sim = simulator(app.ocpp_port, client_ssl)
    sim.transfers.upload_method = method
    async with running(sim):
        status, answer = await api_send(app, "POST", f"{BASE}/get_log", {"type": "SecurityLog"})
        log_id = answer["log"]["id"]
        logs = await eventually(
            lambda: api_get(app, f"{BASE}/logs"),
            what="the simulator's log Uploaded",
            until=lambda logs: logs[0]["status"] == "Uploaded" and logs[0]["size"],
        )
        statuses = [p["status"] for action, p in sim.sent if action == "LogStatusNotification"]
    url = f"http://127.0.0.1:{app.panel_port}{BASE}/logs/{log_id}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        body = await response.read()
    assert status == 200
    assert sim.transfers.uploaded is not None
    assert body == sim.transfers.uploaded
    assert (logs[0]["name"], logs[0]["type"], logs[0]["size"]) == (
        f"SecurityLog-{answer['log']['request_id']}.log",
        "SecurityLog",
        len(body),
    )
    assert statuses == ["Uploading", "Uploaded"]


async def test_simulator_fetches_firmware_and_reports_each_status(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """The simulator fetches the firmware byte for byte; Installed reaches the snapshot after each status."""
    app = await start_app()
    firmware = os.urandom(200_000)
    await upload_firmware(app, firmware, name="delta-01.20.07.00.bin")
    sim = simulator(app.ocpp_port, client_ssl)
    async with running(sim):
        status, _ = await api_send(app, "POST", f"{BASE}/update_firmware", {"name": "delta-01.20.07.00.bin"})
        snapshot = await firmware_status(app, "Installed")
        statuses = [p["status"] for action, p in sim.sent if action == "FirmwareStatusNotification"]
    assert status == 200
    assert sim.transfers.firmware == firmware
    assert statuses == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert snapshot["firmware_update"]["name"] == "delta-01.20.07.00.bin"

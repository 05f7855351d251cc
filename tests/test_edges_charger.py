"""What enters from a charger is bounded, with a real add-on and library charge points on real sockets."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from ocpp.routing import after
from ocpp.v201 import call

from bmw_wallbox.app import Application
from bmw_wallbox.csms.handlers import MAX_REPORT_ENTRIES

from conftest import CHARGER_ID, StartApp, api_send, ocpp_url
from helpers import eventually
from peer import REPORT, LibraryCharger, library_charger, raw_socket

NOW = "2026-11-26T01:00:00Z"
BASE = f"/api/chargers/{quote(CHARGER_ID, safe='')}"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json(text: str) -> Any:
    """Decode JSON as RFC 8259 has it: NaN and Infinity are errors (Python's json accepts them)."""
    return json.loads(text, parse_constant=_refuse_constant)


async def api_text(app: Application, path: str) -> str:
    """The raw body of a GET of the JSON API (asserting 200)."""
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{app.panel_port}{path}") as response:
        assert response.status == 200
        return await response.text()


def saved_files(data_dir: Path) -> dict[str, str]:
    """Every JSON file the add-on saved, by name."""
    return {str(path.relative_to(data_dir)): path.read_text("utf-8") for path in data_dir.rglob("*.json")}


async def test_interval_overflow_leaves_api_and_files_valid(
    start_app: StartApp, client_ssl: ssl.SSLContext, tmp_path: Path
) -> None:
    """Two MeterValues with a 1.5e308 Wh interval: the API, the panel's data and the state file stay strict JSON."""
    app = await start_app()
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        for _ in range(2):
            sample = {"value": 1.5e308, "measurand": "Energy.Active.Import.Interval", "context": "Sample.Periodic"}
            await charger.call(
                call.MeterValues(evse_id=1, meter_value=[{"timestamp": NOW, "sampled_value": [sample]}]),
                suppress=False,
            )
        chargers = strict_json(await api_text(app, "/api/chargers"))
        assert next(c for c in chargers if c["id"] == CHARGER_ID)["energy_kwh"] is None
        strict_json(await api_text(app, BASE))
    await app.stop()
    files = saved_files(tmp_path / "data")
    assert any(name.startswith("chargers/") for name in files)
    for text in files.values():
        strict_json(text)


async def test_a_stray_updated_without_evse_leaves_the_running_session(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """Updated for an unknown transaction without evse: tx-1 keeps running, nothing superseded, Stop targets tx-1."""
    app = await start_app()
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        await charger.call(
            call.StatusNotification(timestamp=NOW, connector_status="Occupied", evse_id=1, connector_id=1),
            suppress=False,
        )
        for event_type, transaction_id, evse in (
            ("Started", "tx-1", {"id": 1, "connector_id": 1}),
            ("Updated", "ghost", None),
        ):
            await charger.call(
                call.TransactionEvent(
                    event_type=event_type,
                    timestamp=NOW,
                    trigger_reason="CablePluggedIn" if event_type == "Started" else "MeterValuePeriodic",
                    seq_no=0,
                    transaction_info={"transaction_id": transaction_id, "charging_state": "Charging"},
                    evse=evse,
                ),
                suppress=False,
            )
        state = app.hub.chargers[CHARGER_ID]
        assert (state.main_evse.transaction and state.main_evse.transaction.transaction_id, state.sessions) == (
            "tx-1",
            [],
        )
        status, _ = await api_send(app, "POST", f"{BASE}/stop")
        stop = await charger.next_call("RequestStopTransaction")
        assert (status, stop["transaction_id"]) == (200, "tx-1")


class ReportFlooder(LibraryCharger):
    """Answers GetBaseReport with 40 frames of 100 unique variables each (long values), then the real report."""

    @after("GetBaseReport")
    async def after_get_base_report(self, request_id: int, **kwargs: Any) -> None:
        for frame in range(40):
            data = [
                {
                    "component": {"name": "Flood", "instance": f"f{frame}"},
                    "variable": {"name": f"V{index}"},
                    "variable_attribute": [{"type": "Actual", "value": "v" * 2500}],
                    "variable_characteristics": {"data_type": "string", "supports_monitoring": False},
                }
                for index in range(100)
            ]
            await self.call(
                call.NotifyReport(request_id=request_id, generated_at=NOW, seq_no=frame, report_data=data, tbc=True)
            )
        await self.call(call.NotifyReport(request_id=request_id, generated_at=NOW, seq_no=40, report_data=REPORT))


async def test_a_huge_device_model_report_is_bounded_and_freed(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """4,000 unique variables of 2,500 characters: at most 2,000 kept, each cut, and the report freed once read."""
    app = await start_app()
    async with library_charger(
        ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, charger_class=ReportFlooder
    ) as charger:
        await charger.next_call("GetBaseReport")
        state = app.hub.chargers[CHARGER_ID]
        await eventually(lambda: state.capabilities.reported_at, what="the capabilities from the report")
        link = app.csms.connections[CHARGER_ID]
        assert link.report_entries == {}
        assert len(state.capabilities.variables) <= MAX_REPORT_ENTRIES
        assert max(len(v) for v in state.capabilities.variables.values()) <= 500
        assert link.report_request_id is None  # later report frames are not stored


async def test_a_status_flood_costs_a_few_info_lines(
    start_app: StartApp, client_ssl: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    """400 status changes of one connector: at most four INFO lines about them, the rest at DEBUG, counted."""
    app = await start_app()
    with caplog.at_level(logging.DEBUG, logger="bmw_wallbox.csms"):
        async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
            for index in range(400):
                status = "Occupied" if index % 2 == 0 else "Available"
                await charger.call(
                    call.StatusNotification(timestamp=NOW, connector_status=status, evse_id=1, connector_id=1),
                    suppress=False,
                )
        await eventually(lambda: CHARGER_ID not in app.csms.connections, what="the connection to close")
    about = [r for r in caplog.records if "connector" in r.getMessage() and r.name == "bmw_wallbox.csms"]
    info = [r.getMessage() for r in about if r.levelno == logging.INFO]
    assert len(info) <= 4, info
    assert any("more connector status changes of EVSE 1" in line for line in info)
    assert sum(r.levelno == logging.DEBUG for r in about) >= 390


async def test_a_frame_flood_is_read_slower_and_healthz_answers(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """500 pipelined Heartbeats: all answered, at most 100 a second past the first 300; /healthz stays quick."""
    app = await start_app()
    async with raw_socket(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as ws:
        started = time.monotonic()
        for index in range(500):
            await ws.send(json.dumps([2, f"hb-{index}", "Heartbeat", {}]))
        health_s: list[float] = []
        async with aiohttp.ClientSession() as http:

            async def healthz() -> None:
                begin = time.monotonic()
                async with http.get(f"http://127.0.0.1:{app.panel_port}/healthz") as response:
                    assert response.status == 200
                health_s.append(time.monotonic() - begin)

            answered: set[str] = set()
            while len(answered) < 500:
                checking = asyncio.ensure_future(healthz())
                answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if answer[0] == 3:  # the add-on's own calls to this charger come in between
                    answered.add(answer[1])
                await checking
    elapsed_s = time.monotonic() - started
    assert answered == {f"hb-{index}" for index in range(500)}
    assert elapsed_s >= (500 - 300) / 100 * 0.9
    assert max(health_s) < 2.0

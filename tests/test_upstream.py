"""Forwarding to an upstream backend (mirror mode): boot, status and every transaction event once, in order.

The upstream is a plain library CSMS (:mod:`upstream_backend`), the charger a
library charge point; both talk to the add-on on 127.0.0.1.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from ocpp.v201 import call

from bmw_wallbox.errors import StartupError
from bmw_wallbox.simulator import WallboxSimulator

from conftest import CHARGER_ID, StartApp, charger_snapshot, default_options, ocpp_url, running
from helpers import eventually, simulated_time_passes
from peer import LibraryCharger, library_charger
from upstream_backend import Backend, running_backend

STATION = "UP*STATION*1"
NOW = "2026-12-06T10:00:00Z"


def forwarded(backend: Backend, **charger: Any) -> Any:
    """Options with the test charger forwarded to ``backend``."""
    return default_options(chargers=[{"id": CHARGER_ID, "upstream_url": backend.url(STATION), **charger}])


async def event(charger: LibraryCharger, seq_no: int, event_type: str = "Updated") -> None:
    """One TransactionEvent of transaction tx-1 with this seqNo."""
    await charger.call(
        call.TransactionEvent(
            event_type=event_type,
            timestamp=NOW,
            trigger_reason="MeterValuePeriodic" if event_type == "Updated" else "CablePluggedIn",
            seq_no=seq_no,
            transaction_info={"transaction_id": "tx-1", "charging_state": "Charging"},
            evse={"id": 1, "connector_id": 1} if event_type == "Started" else None,
        ),
        suppress=False,
    )


def seq_numbers(backend: Backend) -> list[int]:
    """The seqNo of every TransactionEvent the upstream received, in order."""
    return [p["seq_no"] for p in backend.actions("TransactionEvent")]


async def test_mirror_forwards_boot_status_and_every_event(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """The upstream gets a boot with the charger's identity, its status and each transaction event once, in order."""
    async with running_backend() as backend:
        app = await start_app(options=forwarded(backend), upstream_backoff_s=0.1)
        async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
            await backend.session(STATION)
            await charger.call(
                call.StatusNotification(timestamp=NOW, connector_status="Occupied", evse_id=1, connector_id=1),
                suppress=False,
            )
            await event(charger, 0, "Started")
            for seq_no in range(1, 5):
                await event(charger, seq_no)
            await event(charger, 5, "Ended")
            await eventually(lambda: seq_numbers(backend), what="six events", until=lambda s: len(s) >= 6)
        assert seq_numbers(backend) == [0, 1, 2, 3, 4, 5]
        boots = backend.actions("BootNotification")
        assert boots[-1]["charging_station"] == {"model": "Library", "vendor_name": "ocpp"}
        statuses = [(p["connector_status"], p["evse_id"]) for p in backend.actions("StatusNotification")]
        assert ("Occupied", 1) in statuses
        await eventually(lambda: charger_snapshot(app), what="connected, nothing queued", until=_drained)


async def test_outage_and_restart_deliver_queued_events_in_order(
    start_app: StartApp, client_ssl: ssl.SSLContext, tmp_path: Path
) -> None:
    """Events sent while the upstream is away, across an add-on restart, reach it once each and in order."""
    data_dir = tmp_path / "data"
    async with running_backend() as backend:
        app = await start_app(options=forwarded(backend), data_dir=data_dir, upstream_backoff_s=0.1)
        async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
            await backend.session(STATION)
            await event(charger, 0, "Started")
            await event(charger, 1)
            await eventually(lambda: charger_snapshot(app), what="both answered", until=_drained)
            await backend.stop()
            await eventually(lambda: charger_snapshot(app), what="upstream down", until=_down)
            await event(charger, 2)
            await event(charger, 3)
            assert (await charger_snapshot(app))["upstream"]["queued"] == 2
        await app.stop()
        again = await start_app(options=forwarded(backend), data_dir=data_dir, upstream_backoff_s=0.1)
        assert (await charger_snapshot(again))["upstream"]["queued"] == 2
        async with library_charger(ocpp_url(again), CHARGER_ID, ssl_context=client_ssl) as charger:
            await event(charger, 4)
            await event(charger, 5, "Ended")
            await backend.start()
            await eventually(lambda: seq_numbers(backend), what="six events", until=lambda s: len(s) >= 6)
            await eventually(lambda: charger_snapshot(again), what="queue drained", until=_drained)
        assert seq_numbers(backend) == [0, 1, 2, 3, 4, 5]


def _down(snapshot: dict[str, Any]) -> bool:
    return snapshot["upstream"]["connected"] is False


def _drained(snapshot: dict[str, Any]) -> bool:
    return snapshot["upstream"]["connected"] is True and snapshot["upstream"]["queued"] == 0


async def test_simulated_session_with_outage_reaches_upstream_unbroken(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """A simulated session with the upstream away in the middle reaches it whole: seqNo 0, 1, 2 ... Started to Ended."""
    async with running_backend() as backend:
        app = await start_app(options=forwarded(backend), upstream_backoff_s=0.1)
        sim = WallboxSimulator(ocpp_url(app), CHARGER_ID, ssl=client_ssl, time_scale=20.0, reboot_s=5.0)
        async with running(sim):
            boot = (await backend.session(STATION)) and backend.actions("BootNotification")[-1]
            await sim.plug_in()
            await eventually(lambda: backend.actions("TransactionEvent"), what="Started upstream")
            await backend.stop()
            await simulated_time_passes(sim.clock, 60)
            assert (await charger_snapshot(app))["upstream"]["queued"] > 0
            await backend.start()
            await sim.unplug()
            await eventually(
                lambda: [p["event_type"] for p in backend.actions("TransactionEvent")],
                what="the Ended event upstream",
                until=lambda kinds: "Ended" in kinds,
                timeout=30,
            )
            await eventually(lambda: charger_snapshot(app), what="queue drained", until=_drained)
        events = backend.actions("TransactionEvent")
        seq = [p["seq_no"] for p in events]
        # The one event in flight when the upstream went away may come twice (its answer was lost), never more.
        once = [n for i, n in enumerate(seq) if i == 0 or n != seq[i - 1]]
        assert once == list(range(once[0], once[0] + len(once)))
        assert len(seq) - len(once) <= 1
        assert (events[0]["event_type"], events[-1]["event_type"]) == ("Started", "Ended")
        assert boot["charging_station"]["serial_number"] == "DE2201A00042"


async def test_pending_boot_holds_the_queue(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """While the upstream answers the boot Pending nothing else is sent; once Accepted, the queue follows."""
    async with running_backend() as backend:
        backend.boot_status, backend.interval_s = "Pending", 1
        app = await start_app(options=forwarded(backend), upstream_backoff_s=0.1)
        async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
            await event(charger, 0, "Started")
            await eventually(
                lambda: backend.actions("BootNotification"), what="a second boot", until=lambda b: len(b) >= 2
            )
            snapshot = await charger_snapshot(app)
            assert backend.actions("TransactionEvent") == []
            assert (snapshot["upstream"]["connected"], snapshot["upstream"]["last_error"]) == (False, "boot Pending")
            assert snapshot["upstream"]["queued"] == 1
            backend.boot_status = "Accepted"
            await eventually(lambda: charger_snapshot(app), what="queue drained", until=_drained)
        assert seq_numbers(backend) == [0]


async def test_refused_login_is_the_last_error(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """An upstream that refuses the connection shows up as not connected with the HTTP status as last_error."""
    async with running_backend() as backend:
        backend.refuse_status = 401
        app = await start_app(options=forwarded(backend, upstream_password="wrong-one"), upstream_backoff_s=0.1)
        async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl):
            snapshot = await eventually(
                lambda: charger_snapshot(app), what="the refusal", until=lambda s: s["upstream"]["last_error"]
            )
        assert snapshot["upstream"]["connected"] is False
        assert snapshot["upstream"]["last_error"] == "refused the connection: HTTP 401"


async def test_tls_upstream_with_a_ca_file_from_ssl(
    start_app: StartApp, client_ssl: ssl.SSLContext, ssl_dir: Path, ca: trustme.CA
) -> None:
    """A wss:// upstream whose certificate chains to upstream_ca (a file in the ssl folder) is reached."""
    ca.cert_pem.write_to_path(str(ssl_dir / "upstream-ca.pem"))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(ssl_dir / "fullchain.pem", ssl_dir / "privkey.pem")
    async with running_backend(tls=server) as backend:
        app = await start_app(options=forwarded(backend, upstream_ca="upstream-ca.pem"), upstream_backoff_s=0.1)
        async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl):
            await backend.session(STATION)
            await eventually(lambda: charger_snapshot(app), what="connected", until=_drained)


async def test_missing_upstream_ca_stops_the_start(start_app: StartApp) -> None:
    """An upstream_ca file that is not there stops the start with a message that names the option."""
    options = default_options(
        chargers=[{"id": CHARGER_ID, "upstream_url": "wss://backend.example/ocpp/X", "upstream_ca": "nope.pem"}]
    )
    with pytest.raises(StartupError, match=r"option upstream_ca: .*nope\.pem"):
        await start_app(options=options)


async def test_no_upstream_no_link(start_app: StartApp, tmp_path: Path) -> None:
    """A charger without upstream_url has upstream null in its snapshot and no queue file."""
    app = await start_app()
    assert (await charger_snapshot(app))["upstream"] is None
    assert not list((tmp_path / "data").glob("upstream-*"))


async def test_heartbeats_at_the_upstreams_interval(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """The add-on sends Heartbeat at the interval the upstream's boot answer asked for."""
    async with running_backend() as backend:
        backend.interval_s = 1
        app = await start_app(options=forwarded(backend), upstream_backoff_s=0.1)
        async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl):
            await backend.session(STATION)
            await eventually(lambda: backend.actions("Heartbeat"), what="two heartbeats", until=lambda h: len(h) >= 2)

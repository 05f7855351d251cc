"""Who may connect: TLS, charger ids, Basic Auth, subprotocols, replacement."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path
from typing import Any

import pytest
from ocpp.routing import after, on
from ocpp.v201 import call
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from bmw_wallbox.app import Application, Settings
from bmw_wallbox.csms.server import basic_auth_matches, tls_context
from bmw_wallbox.errors import StartupError

from conftest import (
    AUTH_CHARGER_ID,
    CHARGER_ID,
    PASSWORD,
    StartApp,
    api_get,
    api_send,
    charger_snapshot,
    default_options,
    ocpp_url,
)
from helpers import eventually
from peer import LibraryCharger, basic_auth, library_charger

BOOT = call.BootNotification(
    charging_station={
        "model": "EIAW-E22KTSE6B04",
        "vendor_name": "Delta Electronics",
        "firmware_version": "01.20.06.71",
    },
    reason="PowerUp",
)


async def logged(caplog: pytest.LogCaptureFixture, fragment: str) -> str:
    """The first log line that contains ``fragment``; waits until the add-on logged one."""
    lines = await eventually(
        lambda: [r.getMessage() for r in caplog.records if fragment in r.getMessage()],
        what=f"a log line with {fragment!r}",
    )
    return lines[0]


async def test_library_charger_connects_over_wss(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """A library charge point connects over wss:// with the test CA and shows as connected with its boot info."""
    app = await start_app()
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        result = await charger.call(BOOT, suppress=False)
        assert result.status == "Accepted"
        assert result.current_time.endswith("Z")
        snapshot = await charger_snapshot(app)
        assert snapshot["connected"] is True
        assert snapshot["tls"] is True
        assert snapshot["authenticated"] is False
        assert (snapshot["vendor"], snapshot["model"], snapshot["firmware"]) == (
            "Delta Electronics",
            "EIAW-E22KTSE6B04",
            "01.20.06.71",
        )


async def test_basic_auth_accepts_right_password(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """A charger with a password connects when it sends its id and password."""
    app = await start_app()
    async with library_charger(ocpp_url(app), AUTH_CHARGER_ID, ssl_context=client_ssl, password=PASSWORD) as charger:
        await charger.call(BOOT, suppress=False)
        snapshot = await charger_snapshot(app, AUTH_CHARGER_ID)
        assert snapshot["connected"] is True
        assert snapshot["authenticated"] is True


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (None, "no credentials"),
        (basic_auth(AUTH_CHARGER_ID, "wrong-password"), "wrong password"),
        (basic_auth("someone-else", PASSWORD), "wrong username"),
        ({"Authorization": "Basic !!!notbase64"}, "garbage header"),
    ],
)
async def test_basic_auth_refuses_with_401(
    start_app: StartApp, client_ssl: ssl.SSLContext, headers: dict[str, str] | None, reason: str
) -> None:
    """Missing or wrong credentials are refused before the upgrade with HTTP 401."""
    app = await start_app()
    with pytest.raises(InvalidStatus) as info:
        async with connect(
            f"{ocpp_url(app)}/DE%2ABMW%2AEAUTH0002",
            subprotocols=["ocpp2.0.1"],
            ssl=client_ssl,
            additional_headers=headers,  # type: ignore[list-item]
        ):
            pass
    assert info.value.response.status_code == 401, reason
    assert (await charger_snapshot(app, AUTH_CHARGER_ID))["connected"] is False


COLON_ID = "ACME:EVSE:01"


@pytest.mark.parametrize(
    ("user", "password", "matches"),
    [
        (COLON_ID, PASSWORD, True),
        (COLON_ID, PASSWORD + ":x", False),
        (COLON_ID, "", False),
        ("ACME", PASSWORD, False),
        ("ACME:EVSE", "01:" + PASSWORD, True),  # the same decoded text: Basic Auth cannot tell them apart
        (COLON_ID + "x", PASSWORD, False),
    ],
)
def test_basic_auth_splits_after_the_expected_id(user: str, password: str, matches: bool) -> None:
    """The decoded credentials must start with the configured id and a colon; the rest is the password."""
    header = basic_auth(user, password)["Authorization"]
    assert basic_auth_matches(header, username=COLON_ID, password=PASSWORD) is matches


async def test_charger_id_with_colon_logs_in(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """A configured id that contains ':' connects with its password (Basic Auth splits after the id)."""
    options = default_options(chargers=[{"id": COLON_ID, "password": PASSWORD}])
    app = await start_app(options=options)
    async with library_charger(ocpp_url(app), COLON_ID, ssl_context=client_ssl, password=PASSWORD):
        assert (await charger_snapshot(app, COLON_ID))["authenticated"] is True


async def test_unknown_id_refused_with_404_logged_once_and_remembered(
    start_app: StartApp, client_ssl: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    """An id not in the options gets 404, one log line with the hint, and is listed for the panel."""
    app = await start_app()
    caplog.set_level(logging.INFO)
    for _ in range(3):
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"{ocpp_url(app)}/DE%2ABMW%2AEUNKNOWN", subprotocols=["ocpp2.0.1"], ssl=client_ssl):  # type: ignore[list-item]
                pass
        assert info.value.response.status_code == 404
    hints = [r for r in caplog.records if "Refused unknown charging station id" in r.getMessage()]
    assert len(hints) == 1
    assert "add it under option chargers" in hints[0].getMessage()
    unknown = await api_get(app, "/api/unknown_chargers")
    assert [(u["id"], u["attempts"]) for u in unknown] == [("DE*BMW*EUNKNOWN", 3)]


@pytest.mark.parametrize("subprotocols", [["ocpp1.6"], None])
async def test_wrong_subprotocol_refused_with_400(
    start_app: StartApp, client_ssl: ssl.SSLContext, subprotocols: list[str] | None
) -> None:
    """A client that does not offer ocpp2.0.1 is refused with HTTP 400 and a message saying why."""
    app = await start_app()
    with pytest.raises(InvalidStatus) as info:
        async with connect(f"{ocpp_url(app)}/DE%2ABMW%2AETEST0001", subprotocols=subprotocols, ssl=client_ssl):  # type: ignore[arg-type]
            pass
    assert info.value.response.status_code == 400
    assert b"ocpp2.0.1" in info.value.response.body


async def test_id_with_stars_matches_percent_decoded(
    start_app: StartApp, client_ssl: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    """The id is the percent-decoded last path segment, with any prefix path."""
    caplog.set_level(logging.INFO)
    app = await start_app()
    async with connect(f"{ocpp_url(app)}/ocpp/v201/DE*BMW*ETEST0001", subprotocols=["ocpp2.0.1"], ssl=client_ssl):  # type: ignore[list-item]
        await logged(caplog, "Connected from")
        chargers = await api_get(app, "/api/chargers")
    assert [c["id"] for c in chargers if c["connected"]] == [CHARGER_ID]


async def test_second_connection_replaces_first(
    start_app: StartApp, client_ssl: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    """A new connection with the same id closes the old one with code 1000 and stays connected."""
    caplog.set_level(logging.INFO)
    app = await start_app()
    url = f"{ocpp_url(app)}/DE%2ABMW%2AETEST0001"
    async with connect(url, subprotocols=["ocpp2.0.1"], ssl=client_ssl) as first:  # type: ignore[list-item]
        await logged(caplog, "Connected from")
        async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as second:
            await first.wait_closed()
            assert first.close_code == 1000
            assert first.close_reason == "replaced by a new connection"
            await second.call(call.Heartbeat(), suppress=False)
            assert (await charger_snapshot(app))["connected"] is True


async def test_disconnect_marks_offline(
    start_app: StartApp, client_ssl: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    """Closing the socket marks the charger as not connected."""
    caplog.set_level(logging.INFO)
    app = await start_app()
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        await charger.call(BOOT, suppress=False)
    await logged(caplog, "Disconnected")
    assert (await charger_snapshot(app))["connected"] is False


def unstarted_app(ssl_dir: Path, tmp_path: Path) -> Application:
    """An app with TLS from ``ssl_dir`` on free loopback ports, not started yet."""
    settings = Settings(
        options=default_options(),
        data_dir=tmp_path / "d",
        ssl_dir=ssl_dir,
        host="127.0.0.1",
        ocpp_port=0,
        panel_port=0,
        transfer_port=0,
    )
    return Application(settings)


@pytest.mark.parametrize(("missing", "option"), [("fullchain.pem", "certfile"), ("privkey.pem", "keyfile")])
async def test_missing_certificate_is_a_clear_startup_error(
    ssl_dir: Path, tmp_path: Path, missing: str, option: str
) -> None:
    """A missing certificate file stops start-up with a message naming the option; no plain ws:// fallback."""
    (ssl_dir / missing).unlink()
    app = unstarted_app(ssl_dir, tmp_path)
    with pytest.raises(StartupError, match=f"option {option}: .*{missing} not found"):
        await app.start()
    assert app.ocpp_port is None


async def test_unusable_certificate_is_a_clear_startup_error(ssl_dir: Path, tmp_path: Path) -> None:
    """A certificate file that is not a certificate stops start-up naming both options."""
    (ssl_dir / "fullchain.pem").write_text("not a certificate")
    app = unstarted_app(ssl_dir, tmp_path)
    with pytest.raises(StartupError, match="certfile/keyfile"):
        await app.start()


def test_tls_context_requires_tls_1_2(ssl_dir: Path) -> None:
    """The server's TLS context refuses protocol versions below TLS 1.2."""
    context = tls_context(ssl_dir, "fullchain.pem", "privkey.pem")
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


class _Unanswering(LibraryCharger):
    """Takes SetChargingProfile and never answers it (as a charger that is going away)."""

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any], **kwargs: Any) -> Any:
        self._got("SetChargingProfile", {"evse_id": evse_id, "charging_profile": charging_profile})
        await asyncio.Event().wait()


async def test_a_charger_back_at_once_gets_its_limit_without_waiting_for_the_old_call(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """The link drops while the add-on waits for an answer: the next connection gets the limit at once, not in 30 s."""
    app = await start_app()
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, charger_class=_Unanswering) as silent:
        await silent.next_call("SetChargingProfile")
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as again:
        limit = await again.next_call("SetChargingProfile", timeout=5.0)
    assert limit["charging_profile"]["charging_profile_purpose"] == "TxDefaultProfile"


class _ResetAndGone(LibraryCharger):
    """Answers Reset Accepted and closes the connection right after, as a charger that reboots at once."""

    @after("Reset")
    async def close_after_reset(self, **kwargs: Any) -> None:
        await self._connection.close()


async def test_an_answer_just_before_the_connection_closes_counts(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """Reset answered Accepted by a charger that drops the link at once: the reboot is reported accepted."""
    app = await start_app()
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl, charger_class=_ResetAndGone) as box:
        await box.next_call("SetVariables")
        status, body = await api_send(app, "POST", "/api/chargers/DE*BMW*ETEST0001/reset")
    assert (status, body["outcome"]) == (200, "accepted")

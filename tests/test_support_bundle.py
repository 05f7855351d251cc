"""The support bundle: one zip with version, options, state, trace, log, setup and snapshots, every secret masked."""

from __future__ import annotations

import io
import json
import logging
import ssl
import zipfile
from urllib.parse import quote

import aiohttp
from ocpp.v201 import call
from test_maintenance_logs import LoggingCharger

from bmw_wallbox.app import Application

from conftest import AUTH_CHARGER_ID, CHARGER_ID, PASSWORD, StartApp, api_send, default_options, ocpp_url
from helpers import eventually, refused_port
from peer import library_charger

REMOTE_TOKEN = "RemoteStart-7f3a9c21"
CARD = "04A1B2C3D4E5F6A7"
PRESENTED = "DEADBEEF00112233"
MQTT_USER = "mqtt-user-x81"
MQTT_PASSWORD = "mqtt-pass-5519"
HA_TOKEN = "ha-long-lived-token-abcdef"
DEVICE_PASSWORD = "hunter2-secret"  # the BasicAuthPassword the library charger reports in its device model


async def bundle(app: Application) -> tuple[zipfile.ZipFile, dict[str, bytes]]:
    """Download the bundle; the zip and each member's bytes."""
    url = f"http://127.0.0.1:{app.panel_port}/api/support_bundle"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == "application/zip"
        assert "attachment" in response.headers["Content-Disposition"]
        body = await response.read()
    archive = zipfile.ZipFile(io.BytesIO(body))
    return archive, {name: archive.read(name) for name in archive.namelist()}


async def test_bundle_holds_no_configured_secret(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """No password, MQTT credential, idToken or one-time URL token the test configured or made appears in the zip."""
    with refused_port() as port:
        options = default_options(
            id_token=REMOTE_TOKEN,
            mqtt={"server": f"mqtt://127.0.0.1:{port}", "user": MQTT_USER, "password": MQTT_PASSWORD},
        )
        app = await start_app(options=options, mqtt_probe_timeout_s=2.0)
    status, _ = await api_send(app, "POST", "/api/tokens", {"name": "Anna", "id_token": CARD, "type": "ISO14443"})
    assert status == 201
    async with library_charger(
        ocpp_url(app), AUTH_CHARGER_ID, ssl_context=client_ssl, password=PASSWORD, charger_class=LoggingCharger
    ) as charger:
        charger.upload = False
        await charger.next_call("SetVariables")
        status, _ = await api_send(app, "POST", f"/api/chargers/{quote(AUTH_CHARGER_ID, safe='')}/get_log", {})
        upload_url = (await charger.next_call("GetLog"))["log"]["remote_location"]
        await charger.call(call.Authorize(id_token={"id_token": PRESENTED, "type": "ISO14443"}), suppress=False)
        await charger.call(call.Authorize(id_token={"id_token": CARD, "type": "ISO14443"}), suppress=False)
        await eventually(lambda: (app.settings.data_dir / "tokens.json").exists(), what="the token list saved")
        archive, members = await bundle(app)
    link_token = upload_url.rsplit("/", 1)[-1]
    secrets = [PASSWORD, REMOTE_TOKEN, CARD, PRESENTED, MQTT_USER, MQTT_PASSWORD, DEVICE_PASSWORD, link_token]
    everything = b"".join(members.values()) + "".join(archive.namelist()).encode()
    assert CARD[-4:].encode() in members["state/tokens.json"]  # the card is there, masked to its last four
    assert [s for s in secrets if s.encode() in everything] == []
    names = set(members)
    assert {"version.txt", "options.json", "chargers.json", "setup.json", "trace.json", "log.txt"} <= names
    assert any(name.startswith("state/chargers/") for name in names)
    options_json = json.loads(members["options.json"])
    assert options_json["mqtt"]["password"] == "***"
    assert options_json["chargers"][1]["password"] == "***"
    assert [c["id"] for c in json.loads(members["chargers.json"])] == [CHARGER_ID, AUTH_CHARGER_ID]
    assert json.loads(members["trace.json"]), "the trace holds the charger's frames"


async def test_bundle_masks_the_home_assistant_token(start_app: StartApp) -> None:
    """The Home Assistant token given to the app is masked in the bundle (options and logs included)."""
    app = await start_app(ha_token=HA_TOKEN, ha_url="http://127.0.0.1:9")
    logging_line = f"token in a message: {HA_TOKEN}"

    logging.getLogger("bmw_wallbox.test").warning(logging_line)
    _, members = await bundle(app)
    assert HA_TOKEN.encode() not in b"".join(members.values())
    assert b"token in a message" in members["log.txt"]

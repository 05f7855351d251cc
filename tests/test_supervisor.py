"""What the add-on asks the Supervisor: the OCPP host port (and the setup URL built from it) and the MQTT service.

The Supervisor cannot run here, so a small aiohttp server on loopback answers
``GET /addons/self/info`` and ``GET /services/mqtt`` in the Supervisor's format.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bmw_wallbox.app import Application
from bmw_wallbox.supervisor import MqttService, SupervisorError, mqtt_service, ocpp_host_port
from bmw_wallbox.web.checklist import SetupFacts, build_setup

from conftest import StartApp, default_options
from helpers import eventually
from mosquitto import PASSWORD, USER, Mosquitto

TOKEN = "supervisor-token-123"


def _info(network: Any) -> dict[str, Any]:
    return {"result": "ok", "data": {"slug": "bmw_wallbox", "network": network}}


SERVICE_PASSWORD = "svc-pass"


def _mqtt(port: int, *, password: str = SERVICE_PASSWORD) -> dict[str, Any]:
    """The Supervisor's MQTT service, as the Mosquitto broker app registers it."""
    data = {"addon": "core_mosquitto", "host": "127.0.0.1", "port": port, "ssl": False, "protocol": "3.1.1"}
    return {"result": "ok", "data": {**data, "username": USER, "password": password}}


#: What the Supervisor answers without a broker app.
NO_MQTT = {"result": "error", "message": "Service not enabled"}


@pytest.fixture
async def supervisor() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """A stand-in Supervisor; set ``answer['body']`` / ``answer['status']`` before asking."""
    answer: dict[str, Any] = {
        "status": 200,
        "body": _info({"9000/tcp": 19000}),
        "auth": None,
        "mqtt_status": 400,
        "mqtt_body": NO_MQTT,
    }

    async def info(request: web.Request) -> web.Response:
        answer["auth"] = request.headers.get("Authorization")
        return web.json_response(answer["body"], status=answer["status"])

    async def mqtt(request: web.Request) -> web.Response:
        answer["mqtt_auth"] = request.headers.get("Authorization")
        return web.json_response(answer["mqtt_body"], status=answer["mqtt_status"])

    app = web.Application()
    app.router.add_get("/addons/self/info", info)
    app.router.add_get("/services/mqtt", mqtt)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", answer
    await runner.cleanup()


async def test_mapped_host_port_is_read_with_the_token(supervisor: tuple[str, dict[str, Any]]) -> None:
    """The host port mapped to 9000/tcp is returned; the request carries the Supervisor token."""
    url, answer = supervisor
    async with aiohttp.ClientSession() as http:
        assert await ocpp_host_port(http, token=TOKEN, base_url=url) == 19000
    assert answer["auth"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("network", [{"9000/tcp": None}, {}, None])
async def test_disabled_port_is_none(supervisor: tuple[str, dict[str, Any]], network: Any) -> None:
    """A port the user disabled under Network (null or missing) is None."""
    url, answer = supervisor
    answer["body"] = _info(network)
    async with aiohttp.ClientSession() as http:
        assert await ocpp_host_port(http, token=TOKEN, base_url=url) is None


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (401, {"result": "error"}, "HTTP 401"),
        (200, {"result": "ok"}, "no network section"),
        (200, _info({"9000/tcp": "9000"}), "host port '9000'"),
    ],
)
async def test_unreadable_answers_are_errors(
    supervisor: tuple[str, dict[str, Any]], status: int, body: Any, message: str
) -> None:
    """An error status or an answer without a usable port raises SupervisorError saying why."""
    url, answer = supervisor
    answer.update(status=status, body=body)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(SupervisorError, match=message):
            await ocpp_host_port(http, token=TOKEN, base_url=url)


async def test_unreachable_supervisor_is_an_error() -> None:
    """No Supervisor listening gives SupervisorError, not a crash."""
    async with aiohttp.ClientSession() as http:
        with pytest.raises(SupervisorError, match="could not be asked"):
            await ocpp_host_port(http, token=TOKEN, base_url="http://127.0.0.1:9")


def _facts(**kwargs: Any) -> SetupFacts:
    return SetupFacts(
        ssl=False,
        ssl_dir=Path("/nonexistent"),
        certfile="fullchain.pem",
        keyfile="privkey.pem",
        ocpp_port=9000,
        chargers=(("DE*BMW*E1", "BMW Wallbox", False),),
        **kwargs,
    )


def test_setup_url_uses_the_mapped_host_port() -> None:
    """With the host port known, the URL to enter in the installer app uses it."""
    setup = build_setup(_facts(host_port_known=True, host_port=19000), None, now=datetime.now(UTC))
    assert setup["chargers"][0]["url"].endswith(":19000/DE*BMW*E1")
    port = next(item for item in setup["items"] if item["key"] == "port")
    assert (port["status"], port["title"]) == ("ok", "OCPP port 19000 on the host")


def test_disabled_host_port_fails_the_checklist() -> None:
    """A disabled OCPP port is a failed checklist item that says where to set it."""
    setup = build_setup(_facts(host_port_known=True, host_port=None), None, now=datetime.now(UTC))
    port = next(item for item in setup["items"] if item["key"] == "port")
    assert port["status"] == "fail"
    assert "under Network" in port["detail"]


async def start_in_container(start_app: StartApp, supervisor_url: str, **kwargs: Any) -> Application:
    """The add-on as in the container: the Supervisor at ``supervisor_url``, its token, no TLS by default."""
    kwargs.setdefault("options", default_options(ssl=False))
    return await start_app(
        container=True, ha_token=TOKEN, ha_url="http://127.0.0.1:9", supervisor_url=supervisor_url, **kwargs
    )


async def test_addon_in_container_learns_its_host_port(
    start_app: StartApp, supervisor: tuple[str, dict[str, Any]]
) -> None:
    """In the container the add-on asks the Supervisor at start-up and the setup facts carry the host port."""
    url, _ = supervisor
    app = await start_in_container(start_app, url)
    facts = app.setup_facts()
    assert (facts.host_port_known, facts.host_port, facts.public_port) == (True, 19000, 19000)


async def test_mqtt_service_is_read_with_the_token(supervisor: tuple[str, dict[str, Any]]) -> None:
    """The broker the Supervisor offers is read with the token; its password stays out of the repr."""
    url, answer = supervisor
    answer.update(mqtt_status=200, mqtt_body=_mqtt(1883))
    async with aiohttp.ClientSession() as http:
        service = await mqtt_service(http, token=TOKEN, base_url=url)
    assert service == MqttService(host="127.0.0.1", port=1883, ssl=False, username=USER, password="svc-pass")
    assert ("svc-pass" in repr(service), answer["mqtt_auth"]) == (False, f"Bearer {TOKEN}")


async def test_no_broker_app_means_no_mqtt_service(supervisor: tuple[str, dict[str, Any]]) -> None:
    """Without a broker app the Supervisor answers 400, which means: no MQTT service."""
    url, _ = supervisor
    async with aiohttp.ClientSession() as http:
        assert await mqtt_service(http, token=TOKEN, base_url=url) is None


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (403, {"result": "error", "message": "No access to mqtt service!"}, "HTTP 403"),
        (200, {"result": "ok", "data": {"host": "core-mosquitto"}}, "no host and port"),
        (200, {"result": "ok", "data": {"host": "", "port": 1883}}, "no usable host and port"),
    ],
)
async def test_unreadable_mqtt_service_is_an_error(
    supervisor: tuple[str, dict[str, Any]], status: int, body: Any, message: str
) -> None:
    """A refusal or an answer without host and port raises SupervisorError saying why."""
    url, answer = supervisor
    answer.update(mqtt_status=status, mqtt_body=body)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(SupervisorError, match=message):
            await mqtt_service(http, token=TOKEN, base_url=url)


async def test_addon_in_container_uses_the_supervisors_broker(
    start_app: StartApp, supervisor: tuple[str, dict[str, Any]], mosquitto: Mosquitto
) -> None:
    """In the container the add-on takes the broker from /services/mqtt and publishes its entities there."""
    url, answer = supervisor
    answer.update(mqtt_status=200, mqtt_body=_mqtt(mosquitto.port, password=PASSWORD))
    app = await start_in_container(
        start_app,
        url,
        options=default_options(ssl=False, mqtt={"base_topic": "svc_test", "discovery_prefix": "svc_ha"}),
        mqtt_ready_timeout_s=0.1,
    )
    mqtt = app.home_assistant.mqtt if app.home_assistant is not None else None
    assert mqtt is not None
    assert (mqtt.broker.source, mqtt.broker.port, mqtt.broker.username) == (
        "the Supervisor's MQTT service",
        mosquitto.port,
        USER,
    )
    await eventually(mqtt.client.connected.is_set, what="the app connected to the broker")
    facts = app.setup_facts()
    assert (facts.entities_via, facts.mqtt_state) == ("mqtt", "connected")


async def test_addon_in_container_without_broker_uses_rest(
    start_app: StartApp, supervisor: tuple[str, dict[str, Any]]
) -> None:
    """With no broker app the add-on keeps the REST entities, and the checklist says how to get the device."""
    url, _ = supervisor
    app = await start_in_container(start_app, url)
    setup = build_setup(app.setup_facts(), None, now=datetime.now(UTC))
    entities = next(item for item in setup["items"] if item["key"] == "entities")
    assert (app.home_assistant is not None and app.home_assistant.mqtt, entities["status"], entities["title"]) == (
        None,
        "info",
        "Entities through Home Assistant's REST API",
    )
    assert "Mosquitto broker app" in entities["detail"]

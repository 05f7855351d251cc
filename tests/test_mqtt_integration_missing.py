"""A broker, but Home Assistant without its MQTT integration: the app says so in the log and on the Setup page."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

import pytest

from bmw_wallbox.options import Options

from conftest import CHARGER_ID, StartApp, api_get
from helpers import eventually
from mosquitto import Mosquitto

if TYPE_CHECKING:
    from ha_fixtures import OnboardedCore

pytest_plugins = ["ha_fixtures"]


async def test_a_missing_mqtt_integration_is_shown_on_the_setup_page(
    start_app: StartApp, home_assistant: OnboardedCore, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """Broker connected, Home Assistant without MQTT: a warning in the log and a 'warn' entities item naming the fix."""
    caplog.set_level(logging.WARNING)
    base = f"missing{uuid.uuid4().hex[:8]}"
    options = Options.model_validate(
        {"ssl": False, "chargers": [{"id": CHARGER_ID}], "mqtt": {"base_topic": base, "discovery_prefix": base}}
    )
    app = await start_app(
        options=options, mqtt_url=mosquitto.url, ha_url=home_assistant.core.url, ha_token=home_assistant.token
    )
    output = app.home_assistant
    assert output is not None
    assert output.mqtt is not None
    assert output.integration is not None
    integration = output.integration
    await eventually(output.mqtt.client.connected.is_set, what="the app connected to the broker")
    known = await eventually(
        lambda: integration.loaded,
        until=lambda value: value is not None,
        what="the app to ask Home Assistant for its MQTT integration",
        timeout=30,
    )
    setup = await api_get(app, "/api/setup")
    (item,) = [item for item in setup["items"] if item["key"] == "entities"]
    assert (known, item["status"], item["title"]) == (False, "warn", "Home Assistant's MQTT integration is not set up")
    assert "Settings > Devices & services" in item["detail"]
    assert any("MQTT integration is not set up" in r.getMessage() for r in caplog.records)

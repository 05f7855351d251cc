"""A charger on the MQTT broker, seen from a real Home Assistant: the scenario of ``test_mqtt_homeassistant``.

:func:`scenario` starts a fresh add-on with one charger of a new id on the
broker, its simulated wallbox with a car, and waits until Home Assistant shows
every entity; at the end it removes the device from Home Assistant (an empty
retained config), so the next scenario gets the same entity ids. The wallbox is
the Delta unless a scenario asks for another personality; with the dual-evse
one, "every entity" includes each EVSE's (:func:`evse_models`, :func:`evse_control_models`), and the car is
at EVSE 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bmw_wallbox.app import Application, Settings
from bmw_wallbox.homeassistant.model.controls import CONTROLS, ControlDescription, charger_controls
from bmw_wallbox.homeassistant.model.entities import EntityDescription, charger_entities
from bmw_wallbox.homeassistant.model.evses import evse_entities
from bmw_wallbox.options import Options
from bmw_wallbox.simulator import DELTA, Personality, WallboxSimulator
from bmw_wallbox.state import ChargerState

from ha_client import HaClient
from ha_process import HomeAssistantCore
from helpers import eventually, free_port, profile_limits
from mosquitto import Mosquitto, watching

MAX_CURRENT_A = 16
TIME_SCALE = 10.0
#: The component keys of one charger without a site block: sensors, controls, the event and the update entity.
KEYS = [d.key for d in charger_entities(site=False)] + [c.key for c in CONTROLS] + ["events", "firmware_update"]


def model_charger(evses: int) -> ChargerState:
    """A charger of the model with ``evses`` EVSEs."""
    charger = ChargerState(charger_id="model", name="model", max_current_a=MAX_CURRENT_A)
    for evse_id in range(1, evses + 1):
        charger.evse(evse_id)
    return charger


def evse_models(evses: int) -> tuple[EntityDescription[ChargerState], ...]:
    """The model's per-EVSE sensors of a charger with ``evses`` EVSEs (none with one)."""
    return evse_entities(model_charger(evses))


def evse_control_models(evses: int) -> tuple[ControlDescription, ...]:
    """The model's per-EVSE controls of a charger with ``evses`` EVSEs (none with one)."""
    return tuple(c for c in charger_controls(model_charger(evses)) if c.evse_id is not None)


@dataclass
class Scenario:
    """One test's add-on with one charger on the broker, its wallbox with a car, and Home Assistant."""

    core: HomeAssistantCore
    broker: Mosquitto
    ha: HaClient
    data_dir: Path
    ocpp_port: int
    charger_id: str
    evses: int = 1
    app: Application | None = None
    wallbox: WallboxSimulator | None = None

    @property
    def node(self) -> str:
        return "bmw_wallbox_" + self.charger_id.replace("*", "_")

    @property
    def keys(self) -> list[str]:
        """The component keys of this charger: :data:`KEYS`, and each EVSE's sensors and controls with several."""
        return KEYS + [d.key for d in evse_models(self.evses)] + [c.key for c in evse_control_models(self.evses)]

    def settings(self, *, mqtt: bool, chargers: tuple[str, ...] = ()) -> Settings:
        """The add-on's settings: with the broker (--mqtt-url) or without (REST)."""
        ids = chargers or (self.charger_id,)
        options = Options.model_validate(
            {"ssl": False, "chargers": [{"id": cid, "max_current": MAX_CURRENT_A} for cid in ids]}
        )
        return Settings(
            options=options,
            data_dir=self.data_dir,
            host="127.0.0.1",
            ocpp_port=self.ocpp_port,
            panel_port=0,
            transfer_port=0,
            ha_url=self.core.url,
            ha_token=self.core.token,
            min_apply_interval_s=0.0,
            mqtt_url=self.broker.url if mqtt else None,
        )

    async def start_app(self, *, mqtt: bool = True, chargers: tuple[str, ...] = ()) -> Application:
        """Start the add-on (stopping the one before); the wallbox reconnects to it by itself."""
        if self.app is not None:
            await self.app.stop()
        self.app = Application(self.settings(mqtt=mqtt, chargers=chargers))
        await self.app.start()
        return self.app

    async def registry(self, node: str | None = None) -> list[dict[str, Any]]:
        """The entity registry entries of one node's MQTT entities (this charger's by default)."""
        prefix = f"{node or self.node}_"
        entries = await self.ha.ws_command({"type": "config/entity_registry/list"})
        return [e for e in entries if e["platform"] == "mqtt" and str(e["unique_id"]).startswith(prefix)]

    async def device(self, charger_id: str | None = None) -> dict[str, Any] | None:
        """The device registry entry of a charger (this one by default), or None."""
        wanted = ["mqtt", f"bmw_wallbox_{charger_id or self.charger_id}"]
        devices = await self.ha.ws_command({"type": "config/device_registry/list"})
        return next((d for d in devices if wanted in d["identifiers"]), None)

    async def entity_id(self, key: str) -> str:
        """The entity id Home Assistant gave one component of the charger."""
        entries = await self.registry()
        return next(e["entity_id"] for e in entries if e["unique_id"] == f"{self.node}_{key}")

    async def registry_complete(self) -> list[dict[str, Any]]:
        """The registry entries once every component is registered."""
        entries: list[dict[str, Any]] = []

        async def complete() -> bool:
            nonlocal entries
            entries = await self.registry()
            return len(entries) >= len(self.keys)

        try:
            await eventually(complete, timeout=30, what=f"{len(self.keys)} entities in the registry")
        except AssertionError as err:
            registered = sorted(e["unique_id"] for e in entries)
            raise AssertionError(f"{err}: {registered}\n{self.core.log_tail()}") from None
        return entries

    async def limit_sent(self, limit_a: float, after: int) -> list[float]:
        """Wait for a SetChargingProfile of ``limit_a`` A after ``received[after]``; return the limits sent since."""
        assert self.wallbox is not None
        wallbox = self.wallbox
        await eventually(lambda: limit_a in profile_limits(wallbox.received, after), what=f"a {limit_a:g} A profile")
        return profile_limits(wallbox.received, after)

    async def remove_devices(self, *charger_ids: str) -> None:
        """Remove the chargers' devices from Home Assistant (an empty retained config), and wait until they are gone."""
        async with watching(self.broker) as client:
            for cid in charger_ids:
                await client.publish(
                    f"homeassistant/device/bmw_wallbox_{cid.replace('*', '_')}/config", "", retain=True
                )
        for cid in charger_ids:

            async def gone(cid: str = cid) -> bool:
                return await self.device(cid) is None

            await eventually(gone, timeout=20, what=f"the device of {cid} removed")


@contextlib.asynccontextmanager
async def scenario(
    core: HomeAssistantCore,
    mosquitto: Mosquitto,
    ha: HaClient,
    data_dir: Path,
    *,
    personality: Personality = DELTA,
) -> AsyncIterator[Scenario]:
    """A new charger on a fresh add-on with MQTT, its wallbox charging, every entity available; removed after."""
    charger_id = f"DE*BMW*E{uuid.uuid4().hex[:10].upper()}"
    setup = Scenario(core, mosquitto, ha, data_dir, free_port(), charger_id, evses=personality.evses)
    app = await setup.start_app()
    wallbox = WallboxSimulator(
        f"ws://127.0.0.1:{app.ocpp_port}", charger_id, personality=personality, time_scale=TIME_SCALE, reboot_s=3
    )
    setup.wallbox = wallbox
    task = asyncio.create_task(wallbox.run())
    try:
        await wallbox.wait_connected(10)
        await wallbox.plug_in()
        for entry in await setup.registry_complete():  # Home Assistant subscribes a few seconds after discovery
            await ha.wait_state(entry["entity_id"], lambda s: s["state"] != "unavailable", timeout_s=30)
        yield setup
    finally:
        await wallbox.stop()
        await task
        if setup.app is not None:
            await setup.app.stop()
        await setup.remove_devices(charger_id)

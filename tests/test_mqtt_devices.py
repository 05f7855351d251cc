"""The MQTT devices' publishing: what goes out when the state changes while it is still sending, and when.

The broker side is a client that records what is published (the real broker
runs in ``test_mqtt.py``); here the timing is exact, so a change that arrives in
the middle of a publication is tested every time, not when the machine is slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from bmw_wallbox.aio import TaskSet
from bmw_wallbox.controller import Controller
from bmw_wallbox.homeassistant.model.events import EventFeed
from bmw_wallbox.homeassistant.mqtt.broker import BrokerSettings
from bmw_wallbox.homeassistant.mqtt.devices import MqttDevices
from bmw_wallbox.hub import StateHub
from bmw_wallbox.state import ChargerState, SampledValue, utcnow

from helpers import eventually

CHARGER_ID = "DE*BMW*E1"


class RecordingClient:
    """Stands in for the broker connection: records every publication; ``during_next`` runs inside the next one."""

    def __init__(self, *, swallows_a_cancellation: bool = False) -> None:
        self.swallows_a_cancellation = swallows_a_cancellation
        self.running = asyncio.Event()
        self.ended = False
        self.connected = asyncio.Event()
        self.connected.set()
        self.sent: list[tuple[str, str]] = []
        self.during_next: Callable[[], None] | None = None

    async def run(self) -> None:
        self.running.set()
        try:
            if self.swallows_a_cancellation:  # what Python 3.11's wait_for inside aiomqtt can do
                self.swallows_a_cancellation = False
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.Event().wait()
            await asyncio.Event().wait()
        finally:
            self.ended = True

    async def publish(self, topic: str, payload: str, *, retain: bool = True, qos: int = 0) -> None:
        self.sent.append((topic, payload))
        hook, self.during_next = self.during_next, None
        if hook is not None:
            hook()
        await asyncio.sleep(0)  # the wire: other tasks run meanwhile

    async def say_goodbye(self) -> None:
        return None

    def payloads(self, topic: str) -> list[str]:
        return [payload for name, payload in self.sent if name == topic]


class Started:
    """MQTT devices on a recording client, their hub and their tasks."""

    def __init__(self, link: RecordingClient) -> None:
        charger = ChargerState(charger_id=CHARGER_ID, name="BMW Wallbox", max_current_a=16)
        charger.mark_connected(remote_address="127.0.0.1", tls=True, authenticated=True, at=utcnow())
        self.hub = StateHub([charger])
        self.tasks = TaskSet("test", logger=logging.getLogger(__name__))
        feed = EventFeed(self.hub, Controller(self.hub, ports=lambda _: None))
        self.devices = MqttDevices(self.hub, feed, BrokerSettings(host="127.0.0.1", port=1883), tasks=self.tasks)
        self.devices.client = link  # type: ignore[assignment]
        self.devices.start()

    async def stop(self) -> None:
        await self.devices.stop()
        await self.tasks.close()


@pytest.fixture
async def bridge() -> AsyncIterator[tuple[MqttDevices, RecordingClient, StateHub]]:
    link = RecordingClient()
    started = Started(link)
    try:
        yield started.devices, link, started.hub
    finally:
        await started.stop()


async def test_disconnect_while_publishing_is_published(bridge: tuple[MqttDevices, RecordingClient, StateHub]) -> None:
    """The charger drops while its topics go out: the availability topic still ends ``offline``."""
    mqtt, link, hub = bridge
    availability = mqtt.topics[CHARGER_ID].availability

    def drop() -> None:
        hub.chargers[CHARGER_ID].mark_disconnected(at=utcnow())
        hub.commit(CHARGER_ID)

    link.during_next = drop
    mqtt.loop.send_all_again()
    await eventually(lambda: link.payloads(availability)[-1:] == ["offline"], what="availability offline")
    assert link.payloads(availability) == ["online", "offline"]


async def test_states_go_out_in_the_order_they_happened(bridge: tuple[MqttDevices, RecordingClient, StateHub]) -> None:
    """Several changes during one publication: the last payload of every topic is the state now."""
    mqtt, link, hub = bridge
    charger = hub.chargers[CHARGER_ID]
    availability = mqtt.topics[CHARGER_ID].availability
    await eventually(lambda: link.payloads(availability) == ["online"], what="the first publication")

    def flap() -> None:
        charger.mark_disconnected(at=utcnow())
        hub.commit(CHARGER_ID)
        charger.mark_connected(remote_address="127.0.0.1", tls=True, authenticated=True, at=utcnow())
        hub.commit(CHARGER_ID)
        charger.mark_disconnected(at=utcnow())
        hub.commit(CHARGER_ID)

    link.during_next = flap
    mqtt.loop.send_all_again()
    await eventually(lambda: link.payloads(availability)[-1:] == ["offline"], what="availability offline")
    assert link.payloads(availability) == ["online", "offline"]


async def test_stop_ends_even_when_a_library_swallowed_the_cancellation() -> None:
    """The add-on stops (and restarts) even when the MQTT client swallowed the first cancellation."""
    link = RecordingClient(swallows_a_cancellation=True)
    started = Started(link)
    await link.running.wait()
    async with asyncio.timeout(10):
        await started.stop()
    assert (link.swallows_a_cancellation, link.ended) == (False, True)  # it swallowed one, and it ended


async def test_discovery_is_rendered_only_when_it_changes(
    bridge: tuple[MqttDevices, RecordingClient, StateHub],
) -> None:
    """A meter reading publishes its states but not the discovery document; a new firmware publishes it again."""
    mqtt, link, hub = bridge
    config = mqtt.topics[CHARGER_ID].config
    power = mqtt.topics[CHARGER_ID].state("power")
    await eventually(lambda: len(link.payloads(config)) == 1, what="the first discovery")
    charger = hub.chargers[CHARGER_ID]
    for watts in (1000.0, 2000.0, 3000.0):
        charger.meter_values(1, [SampledValue(measurand="Power.Active.Import", value=watts)], at=utcnow(), now=utcnow())
        hub.commit(CHARGER_ID)
        await eventually(lambda w=watts: link.payloads(power)[-1:] == [str(int(w))], what=f"{watts} W published")
    first, second = (mqtt.render(CHARGER_ID)[config].payload for _ in range(2))
    assert first is second  # the same text: not rendered again
    charger.booted(dataclasses.replace(charger.boot, firmware="01.99"))
    hub.commit(CHARGER_ID)
    await eventually(lambda: len(link.payloads(config)) == 2, what="the discovery with the new firmware")
    assert '"sw": "01.99"' in link.payloads(config)[-1]

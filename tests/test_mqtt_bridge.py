"""The MQTT bridge's publisher: what it sends when the state changes while it is still sending.

The broker side is a link that records what is published (the real broker runs
in ``test_mqtt.py``); here the timing is exact, so a change that arrives in the
middle of a publication is tested every time, not when the machine is slow.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from bmw_wallbox.controller import Controller
from bmw_wallbox.homeassistant.broker import BrokerSettings
from bmw_wallbox.homeassistant.mqtt_bridge import MqttBridge
from bmw_wallbox.hub import StateHub
from bmw_wallbox.state import ChargerState, utcnow

from helpers import eventually

CHARGER_ID = "DE*BMW*E1"


class RecordingLink:
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


async def started(link: RecordingLink) -> tuple[MqttBridge, StateHub]:
    charger = ChargerState(charger_id=CHARGER_ID, name="BMW Wallbox", max_current_a=16)
    charger.mark_connected(remote_address="127.0.0.1", tls=True, authenticated=True, at=utcnow())
    hub = StateHub([charger])
    controller = Controller(hub, ports=lambda _: None)
    bridge = MqttBridge(hub, controller, BrokerSettings(host="127.0.0.1", port=1883))
    bridge.link = link  # type: ignore[assignment]
    await bridge.start()
    return bridge, hub


@pytest.fixture
async def bridge() -> AsyncIterator[tuple[MqttBridge, RecordingLink, StateHub]]:
    link = RecordingLink()
    mqtt, hub = await started(link)
    try:
        yield mqtt, link, hub
    finally:
        await mqtt.stop()


async def test_disconnect_while_publishing_is_published(bridge: tuple[MqttBridge, RecordingLink, StateHub]) -> None:
    """The charger drops while its topics go out: the availability topic still ends ``offline``."""
    mqtt, link, hub = bridge
    availability = mqtt.topics[CHARGER_ID].availability

    def drop() -> None:
        hub.chargers[CHARGER_ID].mark_disconnected(at=utcnow())
        hub.commit(CHARGER_ID)

    link.during_next = drop
    mqtt.publish_all()
    await eventually(lambda: link.payloads(availability)[-1:] == ["offline"], what="availability offline")
    assert link.payloads(availability) == ["online", "offline"]


async def test_states_go_out_in_the_order_they_happened(bridge: tuple[MqttBridge, RecordingLink, StateHub]) -> None:
    """Several changes during one publication: the last payload of every topic is the state now."""
    mqtt, link, hub = bridge
    charger = hub.chargers[CHARGER_ID]
    availability = mqtt.topics[CHARGER_ID].availability
    await mqtt.publish_dirty()  # nothing dirty yet: nothing sent
    assert link.sent == []

    def flap() -> None:
        charger.mark_disconnected(at=utcnow())
        hub.commit(CHARGER_ID)
        charger.mark_connected(remote_address="127.0.0.1", tls=True, authenticated=True, at=utcnow())
        hub.commit(CHARGER_ID)
        charger.mark_disconnected(at=utcnow())
        hub.commit(CHARGER_ID)

    link.during_next = flap
    mqtt.publish_all()
    await eventually(lambda: link.payloads(availability)[-1:] == ["offline"], what="availability offline")
    await asyncio.gather(mqtt.publish_dirty(), mqtt.publish_dirty())  # two publishers at once change nothing
    assert link.payloads(availability) == ["online", "offline"]


async def test_stop_ends_even_when_a_library_swallowed_the_cancellation() -> None:
    """The add-on stops (and restarts) even when the MQTT client swallowed the first cancellation."""
    link = RecordingLink(swallows_a_cancellation=True)
    mqtt, _ = await started(link)
    await link.running.wait()
    async with asyncio.timeout(10):
        await mqtt.stop()
    assert (link.swallows_a_cancellation, link.ended) == (False, True)  # it swallowed one, and it ended

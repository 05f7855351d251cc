"""The broker connection: one MQTT client at a time (aiomqtt), reopened for as long as :meth:`MqttClient.run` runs.

At every connect: the add-on's status topic is set ``online`` (retained; the
last will sets it ``offline`` when the connection dies without a goodbye), the
subscriptions are made, and the ``on_connected`` hook runs (it publishes the
discovery and every state again; it must not wait for anything). Then messages
go to ``on_message(topic, payload, retained)`` until the connection drops
(``retained``: the broker sent a stored message because we subscribed, not one
just published); the next attempt follows after a backoff that doubles from
``backoff_min_s`` (0.5 s) to ``backoff_max_s`` (10 s).

Error policy: a lost connection is logged at INFO, a failed connect at WARNING
once per outage and at DEBUG after that, the reconnect at INFO; a refused login
at ERROR once per outage (also when the outage began with a lost connection,
as after a broker restart with other logins). Every aiomqtt error is translated here into
:class:`MqttConnectionError` or :class:`MqttAuthError`; the password never
appears in a log line or a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
from collections.abc import Awaitable, Callable, Sequence

import aiomqtt

from bmw_wallbox.aio import Backoff, stopping
from bmw_wallbox.errors import WallboxError
from bmw_wallbox.homeassistant.mqtt.broker import BrokerSettings

_LOGGER = logging.getLogger(__name__)

MessageHandler = Callable[[str, str, bool], None]
ConnectedHook = Callable[[], Awaitable[None]]

ONLINE, OFFLINE = "online", "offline"
#: Return codes of a refused login: MQTT 3.1.1 (4, 5) and MQTT 5 (134, 135).
_LOGIN_REFUSED = frozenset({4, 5, 134, 135})


class MqttError(WallboxError):
    """Base class of the errors of talking to the MQTT broker."""


class MqttConnectionError(MqttError):
    """The broker cannot be reached, or the connection is not open."""


class MqttAuthError(MqttError):
    """The broker refused the user name or password."""


def _translate(err: Exception, broker: BrokerSettings) -> MqttError:
    rc = getattr(err, "rc", None)
    if getattr(rc, "value", rc) in _LOGIN_REFUSED:
        who = f"user {broker.username!r}" if broker.username else "a login without a user name"
        return MqttAuthError(f"the MQTT broker {broker.url} refused {who} ({err})")
    return MqttConnectionError(f"the MQTT broker {broker.url} is unreachable ({err or type(err).__name__})")


async def probe(broker: BrokerSettings, *, timeout_s: float = 10.0) -> None:
    """Connect once and disconnect; raises :class:`MqttAuthError` or :class:`MqttConnectionError`."""
    client = aiomqtt.Client(
        broker.host,
        broker.port,
        username=broker.username,
        password=broker.password,
        identifier=f"bmw-wallbox-probe-{secrets.token_hex(4)}",
        timeout=timeout_s,
        tls_context=ssl.create_default_context() if broker.tls else None,
    )
    try:
        async with asyncio.timeout(timeout_s):
            async with client:
                pass
    except TimeoutError as err:
        raise MqttConnectionError(f"the MQTT broker {broker.url} did not answer within {timeout_s:.0f} s") from err
    except (aiomqtt.MqttError, OSError) as err:
        raise _translate(err, broker) from err


class MqttClient:
    """Publishes and receives through the broker; see the module docstring."""

    def __init__(
        self,
        broker: BrokerSettings,
        *,
        status_topic: str,
        subscriptions: Sequence[str],
        on_message: MessageHandler,
        on_connected: ConnectedHook,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 10.0,
        keepalive_s: int = 30,
        timeout_s: float = 10.0,
    ) -> None:
        self.broker = broker
        self._status_topic = status_topic
        self._subscriptions = list(subscriptions)
        self._on_message = on_message
        self._on_connected = on_connected
        self._backoff = Backoff(min_s=backoff_min_s, max_s=backoff_max_s)
        self._keepalive_s = keepalive_s
        self._timeout_s = timeout_s
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        #: What the panel shows: ``connected``, ``connecting``, or why not.
        self.state = "connecting"

    def _make_client(self) -> aiomqtt.Client:
        broker = self.broker
        return aiomqtt.Client(
            broker.host,
            broker.port,
            username=broker.username,
            password=broker.password,
            identifier=f"bmw-wallbox-{secrets.token_hex(4)}",
            will=aiomqtt.Will(self._status_topic, OFFLINE, qos=1, retain=True),
            keepalive=self._keepalive_s,
            timeout=self._timeout_s,
            tls_context=ssl.create_default_context() if broker.tls else None,
        )

    async def publish(self, topic: str, payload: str, *, retain: bool = True, qos: int = 0) -> None:
        """Publish one message; raises :class:`MqttConnectionError` when not connected or the send fails."""
        client = self._client
        if client is None or not self.connected.is_set():
            raise MqttConnectionError("not connected to the MQTT broker")
        try:
            await client.publish(topic, payload, qos=qos, retain=retain)
        except aiomqtt.MqttError as err:
            raise MqttConnectionError(f"publishing to the MQTT broker failed ({err})") from err

    async def run(self) -> None:
        """Connect, serve, reconnect with backoff; returns only by cancellation."""
        failing = False
        refusal_logged = False
        while True:
            if stopping():
                raise asyncio.CancelledError
            client = self._make_client()
            try:
                async with client:
                    self._client = client
                    await client.publish(self._status_topic, ONLINE, qos=1, retain=True)
                    for topic in self._subscriptions:
                        await client.subscribe(topic)
                    self.connected.set()
                    self.state = "connected"
                    _LOGGER.info("Connected to the MQTT broker %s%s", self.broker.url, " again" if failing else "")
                    failing = refusal_logged = False
                    self._backoff.reset()
                    await self._run_hook()
                    async for message in client.messages:
                        self._dispatch(message)
                _LOGGER.info("The connection to the MQTT broker %s closed; reconnecting", self.broker.url)
            except (aiomqtt.MqttError, OSError) as err:
                if stopping():
                    raise asyncio.CancelledError from None
                error = _translate(err, self.broker)
                if isinstance(error, MqttAuthError):
                    self.state = "refused the login"
                    if not refusal_logged:
                        _LOGGER.error("%s; check the options mqtt.user and mqtt.password", error)
                    refusal_logged = True
                    self._backoff.longest()
                else:
                    self.state = "unreachable"
                    if self.connected.is_set():
                        _LOGGER.info("Lost the MQTT broker %s (%s); reconnecting", self.broker.url, err)
                    else:
                        (_LOGGER.debug if failing else _LOGGER.warning)("%s; retrying", error)
                failing = True
            finally:
                self.connected.clear()
                self._client = None
                if self.state == "connected":
                    self.state = "connecting"
            await self._backoff.sleep()

    async def _run_hook(self) -> None:
        """Run the connect hook; a lost connection ends the connection, anything else is logged."""
        try:
            await self._on_connected()
        except MqttConnectionError:
            raise aiomqtt.MqttError("the connection dropped while publishing") from None
        except Exception:
            _LOGGER.exception("Publishing to the MQTT broker after connecting failed")

    def _dispatch(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        if isinstance(payload, bytes | bytearray):
            try:
                text = bytes(payload).decode("utf-8")
            except UnicodeDecodeError:
                _LOGGER.debug("Ignoring a message on %s that is not UTF-8", message.topic.value)
                return
        else:
            text = "" if payload is None else str(payload)
        try:
            self._on_message(message.topic.value, text, bool(message.retain))
        except Exception:  # one bad message must not close the connection
            _LOGGER.exception("Handling the MQTT message on %s failed", message.topic.value)

    async def say_goodbye(self, *, timeout_s: float = 3.0) -> None:
        """Best effort before stopping: set the add-on's status ``offline`` (a clean disconnect sends no last will)."""
        with contextlib.suppress(MqttError, TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self.publish(self._status_topic, OFFLINE, qos=1)

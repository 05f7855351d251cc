"""Which MQTT broker to use: the ``--mqtt-url`` flag, else the ``mqtt`` options, else the Supervisor's service.

:func:`choose_broker` decides without I/O; :func:`find_broker` asks the
Supervisor and tries the broker once (the composition's only I/O about it). The host, port and TLS come from
the first of: the flag (``mqtt://[user:password@]host[:port]``, for running
outside the container), option ``mqtt.server``, the Supervisor's MQTT service
(the Mosquitto broker app). User and password come from options ``mqtt.user``
and ``mqtt.password`` when set, else from the same place as the host. With
none of them there is no broker, and entities go through the REST API.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import aiohttp

from bmw_wallbox.options import MqttOptions
from bmw_wallbox.supervisor import MqttService, SupervisorError, mqtt_service

_LOGGER = logging.getLogger(__name__)

#: Default ports of ``mqtt://`` and ``mqtts://``.
MQTT_PORT = 1883
MQTTS_PORT = 8883


class BrokerUrlError(ValueError):
    """A broker URL that is not ``mqtt://host[:port]`` or ``mqtts://host[:port]``."""


@dataclass(frozen=True, kw_only=True)
class BrokerSettings:
    """Where the broker is, how to log in, and the topics' first levels; ``source`` says where it came from."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    discovery_prefix: str = "homeassistant"
    base_topic: str = "bmw_wallbox"
    source: str = "option mqtt.server"

    @property
    def url(self) -> str:
        """``mqtt(s)://host:port``, without credentials (for logs and the panel)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"


def parse_url(url: str) -> tuple[str, int, bool, str | None, str | None]:
    """``mqtt(s)://[user:password@]host[:port]`` -> host, port, TLS, user, password; raises :class:`BrokerUrlError`."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or parts.path not in ("", "/"):
        raise BrokerUrlError("the broker URL must be mqtt://host[:port] or mqtts://host[:port]")
    try:
        port = parts.port
    except ValueError:
        raise BrokerUrlError("the broker URL has an invalid port") from None
    tls = parts.scheme == "mqtts"
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.hostname, port or (MQTTS_PORT if tls else MQTT_PORT), tls, user, password


def choose_broker(*, options: MqttOptions, flag_url: str | None, service: MqttService | None) -> BrokerSettings | None:
    """The broker to use (see the module docstring), or None; raises :class:`BrokerUrlError` for a bad URL."""
    url, source = (flag_url, "--mqtt-url") if flag_url else (options.server, "option mqtt.server")
    if url:
        host, port, tls, user, password = parse_url(url)
    elif service is not None:
        host, port, tls = service.host, service.port, service.ssl
        user, password, source = service.username, service.password, "the Supervisor's MQTT service"
    else:
        return None
    return BrokerSettings(
        host=host,
        port=port,
        tls=tls,
        username=options.user or user,
        password=options.password or password,
        discovery_prefix=options.discovery_prefix,
        base_topic=options.base_topic,
        source=source,
    )


@dataclass(frozen=True, kw_only=True)
class BrokerChoice:
    """The broker to use (None: the REST API), and why none is used when there is something to say."""

    broker: BrokerSettings | None
    note: str | None = None


async def find_broker(
    http: aiohttp.ClientSession | None,
    *,
    options: MqttOptions,
    flag_url: str | None,
    supervisor: tuple[str, str] | None,
    probe_timeout_s: float,
) -> BrokerChoice:
    """The broker for the entities (see :func:`choose_broker`), once it accepted a first connection.

    ``supervisor`` is (base URL, token) in the container, where the
    Supervisor's MQTT service is asked when neither the flag nor the option
    names a broker. A broker that refuses the login or is not reached within
    ``probe_timeout_s`` is logged and not used. Raises :class:`BrokerUrlError` for a bad URL.
    """
    service, note = None, None
    if not (flag_url or options.server) and supervisor is not None and http is not None:
        try:
            service = await mqtt_service(http, token=supervisor[1], base_url=supervisor[0])
        except SupervisorError as err:
            _LOGGER.warning("Cannot ask the Supervisor for an MQTT broker (%s)", err)
        if service is None:
            note = "No MQTT broker: install the Mosquitto broker app for a device with controls"
    broker = choose_broker(options=options, flag_url=flag_url, service=service)
    if broker is None:
        _LOGGER.info("No MQTT broker: entities go through Home Assistant's REST API (no device, no unique ids)")
        return BrokerChoice(broker=None, note=note)
    from bmw_wallbox.homeassistant.mqtt.client import MqttAuthError, MqttConnectionError, probe  # only with a broker

    try:
        await probe(broker, timeout_s=probe_timeout_s)
    except MqttAuthError as err:
        _LOGGER.error("%s; check the options mqtt.user and mqtt.password. Using the REST API instead", err)
        return BrokerChoice(broker=None, note=f"The MQTT broker {broker.url} refused the login")
    except MqttConnectionError as err:
        _LOGGER.warning("%s. Using the REST API instead", err)
        return BrokerChoice(broker=None, note=f"The MQTT broker {broker.url} could not be reached at start")
    _LOGGER.info("Entities go through MQTT discovery on %s (%s)", broker.url, broker.source)
    return BrokerChoice(broker=broker)

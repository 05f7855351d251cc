"""What the add-on asks the Home Assistant Supervisor about itself and its services.

- ``GET /addons/self/info`` (no extra permission): the host port mapped to the
  OCPP port under Network, and the add-on's full slug (for the ingress URL);
- ``GET /services/mqtt`` (needs ``services: [mqtt:want]`` in ``config.yaml``):
  the MQTT broker the Supervisor offers (the Mosquitto broker app), if any.

Every failure is translated here, once, into :class:`SupervisorError`; the
broker password never appears in a message or a ``repr``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bmw_wallbox.errors import WallboxError

_LOGGER = logging.getLogger(__name__)

OCPP_CONTAINER_PORT = "9000/tcp"


class SupervisorError(WallboxError):
    """The Supervisor could not be asked or gave an answer we cannot read."""


@dataclass(frozen=True, kw_only=True)
class AddonInfo:
    """What ``/addons/self/info`` says: the full slug and the OCPP host port (None: disabled under Network)."""

    slug: str | None
    host_port: int | None


@dataclass(frozen=True, kw_only=True)
class MqttService:
    """The broker the Supervisor offers to add-ons (``GET /services/mqtt``)."""

    host: str
    port: int
    ssl: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)


async def _get(
    http: aiohttp.ClientSession, path: str, *, token: str, base_url: str, timeout_s: float, ok: tuple[int, ...] = (200,)
) -> tuple[int, Any]:
    """``GET {base_url}{path}`` with the token; the status and the decoded body (None unless JSON)."""
    try:
        async with asyncio.timeout(timeout_s):
            async with http.get(f"{base_url}{path}", headers={"Authorization": f"Bearer {token}"}) as response:
                if response.status not in ok:
                    raise SupervisorError(f"the Supervisor answered HTTP {response.status} on {path}")
                try:
                    return response.status, await response.json(content_type=None)
                except ValueError:
                    return response.status, None
    except TimeoutError as err:
        raise SupervisorError(f"the Supervisor did not answer {path} within {timeout_s:.0f} s") from err
    except aiohttp.ClientError as err:
        raise SupervisorError(f"the Supervisor could not be asked: {err}") from err


async def addon_info(
    http: aiohttp.ClientSession, *, token: str, base_url: str = "http://supervisor", timeout_s: float = 5.0
) -> AddonInfo:
    """The add-on's slug and OCPP host port; raises :class:`SupervisorError` (no answer within ``timeout_s``)."""
    _, body = await _get(http, "/addons/self/info", token=token, base_url=base_url, timeout_s=timeout_s)
    try:
        data = body["data"]
        network = data["network"] or {}
        port = network.get(OCPP_CONTAINER_PORT)
    except (KeyError, TypeError, AttributeError) as err:
        raise SupervisorError("the Supervisor's add-on info has no network section") from err
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
        raise SupervisorError(f"the Supervisor reported host port {port!r}")
    slug = data.get("slug")
    return AddonInfo(slug=slug if isinstance(slug, str) and slug else None, host_port=port)


async def ocpp_host_port(
    http: aiohttp.ClientSession, *, token: str, base_url: str = "http://supervisor", timeout_s: float = 5.0
) -> int | None:
    """The host port mapped to the OCPP port; None when the user disabled it under Network.

    Raises :class:`SupervisorError` when the Supervisor does not answer within
    ``timeout_s`` seconds or answers something else than add-on info.
    """
    return (await addon_info(http, token=token, base_url=base_url, timeout_s=timeout_s)).host_port


async def mqtt_service(
    http: aiohttp.ClientSession, *, token: str, base_url: str = "http://supervisor", timeout_s: float = 5.0
) -> MqttService | None:
    """The broker the Supervisor offers, or None when it offers none (no broker app: HTTP 400).

    Raises :class:`SupervisorError` when the Supervisor cannot be asked, refuses
    (403: the add-on does not declare the service) or answers something unreadable.
    """
    status, body = await _get(
        http, "/services/mqtt", token=token, base_url=base_url, timeout_s=timeout_s, ok=(200, 400)
    )
    if status == 400:
        return None
    try:
        data = body["data"]
        host, port = data["host"], data["port"]
    except (KeyError, TypeError) as err:
        raise SupervisorError("the Supervisor's MQTT service has no host and port") from err
    if not isinstance(host, str) or not host or isinstance(port, bool) or not isinstance(port, int):
        raise SupervisorError("the Supervisor's MQTT service has no usable host and port")
    username, password = data.get("username"), data.get("password")
    return MqttService(
        host=host,
        port=port,
        ssl=data.get("ssl") is True,
        username=str(username) if username else None,
        password=str(password) if password else None,
    )

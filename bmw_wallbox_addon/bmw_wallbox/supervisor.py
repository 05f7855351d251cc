"""What the add-on asks the Home Assistant Supervisor about itself.

Only ``GET /addons/self/info``, which needs no extra permission: it tells
which host port the user mapped to the OCPP port under Network.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from bmw_wallbox.errors import WallboxError

_LOGGER = logging.getLogger(__name__)

OCPP_CONTAINER_PORT = "9000/tcp"


class SupervisorError(WallboxError):
    """The Supervisor could not be asked or gave an answer we cannot read."""


async def ocpp_host_port(
    http: aiohttp.ClientSession, *, token: str, base_url: str = "http://supervisor", timeout_s: float = 5.0
) -> int | None:
    """The host port mapped to the OCPP port; None when the user disabled it under Network.

    Raises :class:`SupervisorError` when the Supervisor does not answer within
    ``timeout_s`` seconds or answers something else than add-on info.
    """
    try:
        async with asyncio.timeout(timeout_s):
            async with http.get(
                f"{base_url}/addons/self/info", headers={"Authorization": f"Bearer {token}"}
            ) as response:
                if response.status != 200:
                    raise SupervisorError(f"the Supervisor answered HTTP {response.status}")
                body = await response.json()
    except TimeoutError as err:
        raise SupervisorError(f"the Supervisor did not answer within {timeout_s:.0f} s") from err
    except (aiohttp.ClientError, ValueError) as err:
        raise SupervisorError(f"the Supervisor could not be asked: {err}") from err
    try:
        network = body["data"]["network"] or {}
        port = network.get(OCPP_CONTAINER_PORT)
    except (KeyError, TypeError, AttributeError) as err:
        raise SupervisorError("the Supervisor's add-on info has no network section") from err
    if port is None:
        return None
    if isinstance(port, bool) or not isinstance(port, int):
        raise SupervisorError(f"the Supervisor reported host port {port!r}")
    return port

"""The Home Assistant Core REST API, as far as the add-on uses it, and the errors of talking to Core.

The caller injects the ``aiohttp.ClientSession``. Every I/O failure is
translated here, once, into one of the errors below; the token never
appears in a message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp

from bmw_wallbox.errors import WallboxError


class HomeAssistantError(WallboxError):
    """Base class of the errors of talking to Home Assistant Core."""


class HomeAssistantConnectionError(HomeAssistantError):
    """Core cannot be reached or answered 5xx (it is starting, stopping or restarting); try again later."""


class HomeAssistantAuthError(HomeAssistantError):
    """Core refused the token (401/403, ``auth_invalid``)."""


class HomeAssistantRequestError(HomeAssistantError):
    """Core refused one request as invalid (a 4xx answer, or a WebSocket command error); it will not work again."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def rest_headers(token: str) -> dict[str, str]:
    """The headers of every REST request."""
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


class CoreRestClient:
    """``{base_url}/api/...`` with a bearer token; ``base_url`` is ``http://supervisor/core`` in the container.

    ``timeout_s`` (default 10 s) bounds each request.
    """

    def __init__(self, http: aiohttp.ClientSession, *, base_url: str, token: str, timeout_s: float = 10.0) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._headers = rest_headers(token)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def post_state(self, entity_id: str, body: dict[str, Any]) -> None:
        """Create or replace the state of ``entity_id`` (``{"state": ..., "attributes": {...}}``)."""
        await self._request("POST", f"/api/states/{quote(entity_id)}", body)

    async def delete_state(self, entity_id: str) -> bool:
        """Remove the state of ``entity_id``; False when Core had none."""
        try:
            await self._request("DELETE", f"/api/states/{quote(entity_id)}", None)
        except HomeAssistantRequestError as err:
            if err.status == 404:
                return False
            raise
        return True

    async def get_state(self, entity_id: str) -> dict[str, Any] | None:
        """The state document of ``entity_id``, or None when Core has no such entity."""
        try:
            answer = await self._request("GET", f"/api/states/{quote(entity_id)}", None)
        except HomeAssistantRequestError as err:
            if err.status == 404:
                return None
            raise
        return answer if isinstance(answer, dict) else None

    async def render_template(self, template: str) -> Any:
        """Render a template in Core (``POST /api/template``, admin only) and parse the result as JSON."""
        return await self._request("POST", "/api/template", {"template": template})

    async def _request(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        try:
            async with self._http.request(
                method, f"{self._base_url}{path}", json=body, headers=self._headers, timeout=self._timeout
            ) as response:
                if response.status in (401, 403):
                    raise HomeAssistantAuthError(
                        f"Home Assistant refused the token ({response.status} on {method} {path})"
                    )
                if response.status >= 500:
                    raise HomeAssistantConnectionError(f"Home Assistant answered {response.status} on {method} {path}")
                if response.status >= 400:
                    text = (await response.text())[:200]
                    raise HomeAssistantRequestError(
                        f"Home Assistant answered {response.status} on {method} {path}: {text}", status=response.status
                    )
                return await response.json(content_type=None)
        except TimeoutError as err:
            raise HomeAssistantConnectionError(f"Home Assistant did not answer {method} {path} in time") from err
        except aiohttp.ClientError as err:
            raise HomeAssistantConnectionError(f"Home Assistant is unreachable ({type(err).__name__}: {err})") from err

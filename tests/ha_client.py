"""What a test does to Home Assistant Core: onboard it, read and set states, call services, follow events.

:func:`onboard` creates the owner through the onboarding flow and returns a
long-lived access token. :class:`HaClient` wraps Core's REST and WebSocket APIs
for the tests (the caller owns the ``aiohttp.ClientSession``), including
:meth:`HaClient.clear_leftovers`, which takes Core back to the states and
helpers it had right after onboarding.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import aiohttp

from helpers import eventually

OWNER = {"name": "Test Owner", "username": "owner", "password": "test-pass-1234", "language": "en"}
#: Helper collections whose items a test may create (the add-on's slider and buttons).
HELPER_DOMAINS = ("input_number", "input_button")
#: Real seconds to wait for one WebSocket answer.
ANSWER_TIMEOUT_S = 10.0


async def onboard(http: aiohttp.ClientSession, url: str) -> str:
    """Create the owner, exchange the auth code for an access token, and return a long-lived token."""
    client_id = f"{url}/"
    async with http.post(f"{url}/api/onboarding/users", json={"client_id": client_id, **OWNER}) as response:
        assert response.status == 200, await response.text()
        auth_code = (await response.json())["auth_code"]
    form = {"grant_type": "authorization_code", "code": auth_code, "client_id": client_id}
    async with http.post(f"{url}/auth/token", data=form) as response:
        assert response.status == 200, await response.text()
        access_token = (await response.json())["access_token"]
    client = HaClient(http, url, access_token)
    token = await client.ws_command(
        {"type": "auth/long_lived_access_token", "client_name": "bmw-wallbox tests", "lifespan": 30}
    )
    return str(token)


async def add_mqtt_integration(
    http: aiohttp.ClientSession, url: str, token: str, *, port: int, username: str, password: str
) -> None:
    """Add Home Assistant's MQTT integration (broker 127.0.0.1:``port``) through the config flow, as the UI does."""
    headers = {"Authorization": f"Bearer {token}"}
    flows = f"{url}/api/config/config_entries/flow"
    async with http.post(flows, json={"handler": "mqtt"}, headers=headers) as response:
        flow = await response.json()
    assert flow.get("step_id") == "broker", flow
    body = {"broker": "127.0.0.1", "port": port, "username": username, "password": password}
    async with http.post(f"{flows}/{flow['flow_id']}", json=body, headers=headers) as response:
        result = await response.json()
    assert result.get("type") == "create_entry", result


class HaClient:
    """What a test does to Home Assistant: read states, call services, fire and follow events, WS commands."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self._session = session
        self.url = url
        self._token = token
        self._headers = {"Authorization": f"Bearer {token}"}

    async def state(self, entity_id: str) -> dict[str, Any] | None:
        """The state document of an entity, or None when Core has none."""
        async with self._session.get(f"{self.url}/api/states/{entity_id}", headers=self._headers) as response:
            if response.status == 404:
                return None
            response.raise_for_status()
            return dict(await response.json())

    async def entity_ids(self) -> set[str]:
        """Every entity id Core has a state for."""
        async with self._session.get(f"{self.url}/api/states", headers=self._headers) as response:
            response.raise_for_status()
            return {state["entity_id"] for state in await response.json()}

    async def wait_state(
        self,
        entity_id: str,
        check: Callable[[dict[str, Any]], bool] = lambda state: True,
        *,
        what: str = "",
        timeout_s: float = 10.0,
    ) -> dict[str, Any]:
        """Poll until the entity exists and ``check(state)`` holds; return that state (the last one is in the error)."""

        async def current() -> dict[str, Any] | None:
            return await self.state(entity_id)

        state = await eventually(
            current,
            until=lambda state: state is not None and check(state),
            what=f"{entity_id} {what or 'to exist'}",
            timeout=timeout_s,
            ignore=(aiohttp.ClientError,),
        )
        assert state is not None
        return state

    async def call_service(self, domain: str, service: str, data: dict[str, Any]) -> None:
        """``POST /api/services/<domain>/<service>``."""
        url = f"{self.url}/api/services/{domain}/{service}"
        async with self._session.post(url, json=data, headers=self._headers) as response:
            assert response.status == 200, await response.text()

    async def post_state(self, entity_id: str, state: str, attributes: dict[str, Any] | None = None) -> None:
        """Set a state as a device or another integration would (``POST /api/states/<entity_id>``)."""
        body = {"state": state, "attributes": attributes or {}}
        async with self._session.post(
            f"{self.url}/api/states/{entity_id}", json=body, headers=self._headers
        ) as response:
            assert response.status in (200, 201), await response.text()

    async def delete_state(self, entity_id: str) -> None:
        """Remove a state from Core's state machine (``DELETE /api/states/<entity_id>``); a missing one is fine."""
        async with self._session.delete(f"{self.url}/api/states/{entity_id}", headers=self._headers) as response:
            assert response.status in (200, 404), await response.text()

    async def fire_event(self, event_type: str, data: dict[str, Any]) -> None:
        """``POST /api/events/<event_type>``."""
        async with self._session.post(
            f"{self.url}/api/events/{event_type}", json=data, headers=self._headers
        ) as response:
            assert response.status == 200, await response.text()

    @contextlib.asynccontextmanager
    async def websocket(self) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
        """An authenticated WebSocket to Core."""
        async with self._session.ws_connect(f"{self.url}/api/websocket") as ws:
            assert (await ws.receive_json(timeout=ANSWER_TIMEOUT_S))["type"] == "auth_required"
            await ws.send_json({"type": "auth", "access_token": self._token})
            assert (await ws.receive_json(timeout=ANSWER_TIMEOUT_S))["type"] == "auth_ok"
            yield ws

    async def ws_command(self, payload: dict[str, Any]) -> Any:
        """Run one WebSocket command on a fresh connection and return its result (asserting success)."""
        (result,) = await self.ws_commands([payload])
        return result

    async def ws_commands(self, payloads: Iterable[dict[str, Any]]) -> list[Any]:
        """Run WebSocket commands one after the other on one connection; return their results (asserting success)."""
        results: list[Any] = []
        async with self.websocket() as ws:
            for number, payload in enumerate(payloads, start=1):
                await ws.send_json({"id": number, **payload})
                while True:
                    answer = await ws.receive_json(timeout=ANSWER_TIMEOUT_S)
                    if answer.get("id") == number and answer.get("type") == "result":
                        break
                assert answer["success"], (payload, answer)
                results.append(answer["result"])
        return results

    async def helpers(self, domain: str) -> list[dict[str, Any]]:
        """The items of a helper collection (``input_number/list`` and the like)."""
        items: list[dict[str, Any]] = await self.ws_command({"type": f"{domain}/list"})
        return items

    @contextlib.asynccontextmanager
    async def events(self, event_type: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """Collect the events of one type into a queue while the block runs."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        async with self.websocket() as ws:
            await ws.send_json({"id": 1, "type": "subscribe_events", "event_type": event_type})
            assert (await ws.receive_json(timeout=ANSWER_TIMEOUT_S))["success"]

            async def pump() -> None:
                async for message in ws:
                    if message.type is aiohttp.WSMsgType.TEXT:
                        data = json.loads(message.data)
                        if data.get("type") == "event":
                            queue.put_nowait(data["event"])

            task = asyncio.create_task(pump())
            try:
                yield queue
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def clear_leftovers(self, baseline: set[str]) -> None:
        """Delete every helper item and every state that is not in ``baseline`` (what Core had after onboarding)."""
        listed = await self.ws_commands({"type": f"{domain}/list"} for domain in HELPER_DOMAINS)
        deletes = [
            {"type": f"{domain}/delete", f"{domain}_id": item["id"]}
            for domain, items in zip(HELPER_DOMAINS, listed, strict=True)
            for item in items
        ]
        if deletes:
            await self.ws_commands(deletes)
        await asyncio.gather(*(self.delete_state(entity_id) for entity_id in await self.entity_ids() - baseline))

"""The OCPP server under hostile frames: a raw socket for the attacker and a well-behaved bystander charger.

:func:`open_arena` provisions the bystander and opens the attacker's socket on a
started add-on (the ``arena`` fixture in ``conftest`` does that per test).
:data:`NASTY_FRAMES` are frames that once crashed or stalled the server, with the
start of the answer each must get.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from ocpp.v201 import call
from websockets.asyncio.client import ClientConnection

from bmw_wallbox.app import Application
from bmw_wallbox.web.views import charger_snapshot

from peer import LibraryCharger, library_charger, raw_socket

#: Real seconds to wait for one answer.
ANSWER_TIMEOUT_S = 5.0


def _stable(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A snapshot without what changes by itself: the time of the last frame, the measured round trip."""
    return {k: v for k, v in snapshot.items() if k not in ("last_seen", "rtt_ms")}


@dataclass
class Arena:
    """The app, a raw socket for the fuzzer and a well-behaved bystander charger."""

    app: Application
    ws: ClientConnection
    bystander: LibraryCharger
    bystander_state: dict[str, Any]
    probes: itertools.count[int]

    async def exchange(self, frame: str | bytes) -> list[Any] | None:
        """Send ``frame`` then a Heartbeat; return the answer to ``frame`` (None if only the Heartbeat's came)."""
        probe_id = f"probe-{next(self.probes)}"
        await self.ws.send(frame)
        await self.ws.send(json.dumps([2, probe_id, "Heartbeat", {}]))
        answers: list[list[Any]] = []
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                while True:
                    message = json.loads(await self.ws.recv())
                    if message[0] == 2:  # the CSMS's own connect-time requests, never answered here
                        continue
                    if message[1] == probe_id:
                        assert message[0] == 3, message
                        break
                    answers.append(message)
        except TimeoutError:
            raise AssertionError(f"no answer to the Heartbeat probe within {ANSWER_TIMEOUT_S:g} s") from None
        assert len(answers) <= 1, answers
        return answers[0] if answers else None

    async def bystander_changes(self) -> dict[str, tuple[Any, Any]]:
        """What changed in the bystander's snapshot (field -> (before, now)); its Heartbeat must still be answered."""
        answer = await self.bystander.call(call.Heartbeat(), suppress=False)
        assert answer.current_time.endswith("Z")
        now = _stable(charger_snapshot(self.app.hub.chargers[self.bystander.id]))
        return {
            key: (self.bystander_state.get(key), now.get(key))
            for key in self.bystander_state.keys() | now.keys()
            if self.bystander_state.get(key) != now.get(key)
        }


@contextlib.asynccontextmanager
async def open_arena(
    app: Application, url: str, *, attacker: str, bystander: str, password: str, client_ssl: ssl.SSLContext
) -> AsyncIterator[Arena]:
    """The bystander ``bystander`` provisioned (it has a password) and the attacker's raw socket as ``attacker``."""
    async with library_charger(url, bystander, ssl_context=client_ssl, password=password) as calm:
        await calm.next_call("TriggerMessage")
        await calm.call(call.Heartbeat(), suppress=False)  # the TriggerMessage answer is in
        state = _stable(charger_snapshot(app.hub.chargers[bystander]))
        async with raw_socket(url, attacker, ssl_context=client_ssl) as ws:
            yield Arena(app=app, ws=ws, bystander=calm, bystander_state=state, probes=itertools.count())


MV = (
    '[2, "{id}", "MeterValues", {{"evseId": 1, "meterValue": [{{"timestamp": "2026-11-26T10:00:00Z", '
    '"sampledValue": [{{"value": {value}{unit}}}]}}]}}]'
)

#: (frame, the start of its answer): frames that once crashed or stalled the server.
NASTY_FRAMES = [
    pytest.param("[" * 5000 + "]" * 5000, [4, "-1", "RpcFrameworkError"], id="frame-nested-5000-deep"),
    pytest.param(
        '[2, "d", "DataTransfer", {"vendorId": "v", "data": ' + "[" * 40 + "]" * 40 + "}]",
        [4, "d", "FormatViolation"],
        id="payload-nested-41-deep",
    ),
    pytest.param(MV.format(id="nan", value="NaN", unit=""), [4, "-1", "RpcFrameworkError"], id="NaN"),
    pytest.param(MV.format(id="inf", value="-Infinity", unit=""), [4, "-1", "RpcFrameworkError"], id="Infinity"),
    pytest.param(
        MV.format(id="mul", value="1", unit=', "unitOfMeasure": {"multiplier": 10000000}'),
        [3, "mul", {}],
        id="multiplier-10e7",
    ),
    pytest.param(MV.format(id="big", value="9" * 4000, unit=""), [3, "big", {}], id="4000-digit-value"),
    pytest.param(MV.format(id="e400", value="1e400", unit=""), [3, "e400", {}], id="overflowing-float"),
]

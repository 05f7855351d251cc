"""Upstream requests to the charger: decided by :mod:`.rules`, passed through the charger's connection, traced.

:class:`RequestGate` answers every request the upstream sends. A refused one
gets the refusal of :func:`~.rules.refusal` (CALLERROR NotSupported where the
action has no status); a passed one goes to the charger through its existing
connection (in the connection's call queue, after the add-on's own commands)
and the charger's answer goes back; a charging profile goes capped at the
add-on's limit (``ChargerState.enforced_a``: the user's limit under the site
budget). Each decision is one trace entry (direction ``upstream``) and
one log line.

While the upstream's profile is installed, a change of the add-on's limit
(a pause, a smaller or larger limit) sends the profile again, capped at the
new limit, so the upstream's profile never keeps the charger above it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from ocpp.exceptions import NotSupportedError
from ocpp.v201 import call, call_result

from bmw_wallbox.errors import WallboxError
from bmw_wallbox.hub import StateHub
from bmw_wallbox.state import ChargerState, Save, utcnow
from bmw_wallbox.trace import Trace
from bmw_wallbox.upstream.rules import Decision, Verdict, capped_profile, decide, limit_a_of, refusal


class ChargerLink(Protocol):
    """The charger's open connection: one OCPP request, the charger's typed answer (raises ``WallboxError``)."""

    async def request(self, payload: Any) -> Any:
        """Send ``payload`` (a library request) to the charger."""


class RequestGate:
    """Answers the upstream's requests for one charger (see the module docstring)."""

    def __init__(
        self,
        *,
        state: ChargerState,
        hub: StateHub,
        trace: Trace,
        mode: str,
        allow: frozenset[str],
        charger: Callable[[], ChargerLink | None],
        log: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self._state = state
        self._hub = hub
        self._trace = trace
        self._mode = mode
        self._allow = allow
        self._charger = charger
        self._log = log
        self._profile: tuple[int, dict[str, Any], float] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: The request ids of device-model reports the upstream asked for (their NotifyReports go upstream).
        self.report_ids: set[int] = set()

    async def handle(self, action: str, request: dict[str, Any]) -> Any:
        """The answer to one upstream request (a library ``call_result``)."""
        decision = decide(action, mode=self._mode, allow=self._allow)
        charger = self._charger() if decision.verdict is not Verdict.REFUSE else None
        if decision.verdict is not Verdict.REFUSE and charger is None:
            decision = Decision(verdict=Verdict.REFUSE, reason="the charger is not connected")
        self._note(action, decision)
        if decision.verdict is Verdict.REFUSE or charger is None:
            return self._refuse(action, request)
        if decision.verdict is Verdict.CAP:
            request = self._capped(request)
        if action in ("GetBaseReport", "GetReport") and isinstance(request.get("request_id"), int):
            self.report_ids = {*list(self.report_ids)[-7:], request["request_id"]}
        try:
            answer = await charger.request(getattr(call, action)(**request))
        except WallboxError as err:
            self._log.warning("%s from the upstream: the charger did not take it (%s); refused", action, err)
            return self._refuse(action, request)
        if action == "ClearChargingProfile" and getattr(answer, "status", None) == "Accepted":
            self._forget_profile()
        return answer

    def _forget_profile(self) -> None:
        """The upstream cleared profiles (``upstream_allow``): its limit no longer applies."""
        self._profile = None
        if self._state.upstream is not None:
            self._state.upstream.upstream_limit(None)
            self._hub.commit(self._state.charger_id, Save.NO)

    def _note(self, action: str, decision: Decision) -> None:
        text = decision.text(action)
        self._log.info("%s", text)
        frame = json.dumps({"decision": str(decision.verdict), "reason": decision.reason})
        self._trace.record(self._state.charger_id, "upstream", frame, action, at=utcnow())

    @staticmethod
    def _refuse(action: str, request: dict[str, Any]) -> Any:
        fields = refusal(action, request)
        if fields is None:
            raise NotSupportedError(f"{action} is not passed to the charger")
        return getattr(call_result, action)(**fields)

    def _capped(self, request: dict[str, Any]) -> dict[str, Any]:
        """The profile capped at the add-on's limit; the upstream's own limit is kept for the controller."""
        profile = request["charging_profile"]
        phases = self._state.capabilities.phases or 3
        local_a = self._state.enforced_a
        if self._state.upstream is not None:
            self._state.upstream.upstream_limit(limit_a_of(profile, phases=phases))
            self._hub.commit(self._state.charger_id, Save.NO)
        self._profile = (int(request["evse_id"]), profile, local_a)
        capped = capped_profile(profile, limit_a=local_a, phases=phases)
        if capped != profile:
            self._log.info("SetChargingProfile from the upstream: capped at the add-on's %.1f A", local_a)
        return {**request, "charging_profile": capped}

    def local_limit_changed(self) -> None:
        """The add-on's limit changed: send the upstream's profile again, capped at the new limit.

        Lower: so the upstream's profile never keeps the charger above the
        add-on's limit (a pause included). Higher again: up to the upstream's
        own limit, never above the add-on's.
        """
        if self._profile is None:
            return
        evse_id, profile, sent_a = self._profile
        local_a = self._state.enforced_a
        charger = self._charger()
        if local_a == sent_a or charger is None:
            return
        if capped_profile(profile, limit_a=local_a, phases=3) == capped_profile(profile, limit_a=sent_a, phases=3):
            self._profile = (evse_id, profile, local_a)
            return  # the upstream's own limits are below both: nothing changes on the charger
        self._profile = (evse_id, profile, local_a)
        phases = self._state.capabilities.phases or 3
        payload = call.SetChargingProfile(
            evse_id=evse_id, charging_profile=capped_profile(profile, limit_a=local_a, phases=phases)
        )
        self._note(
            "SetChargingProfile", Decision(verdict=Verdict.CAP, reason=f"sent again at the add-on's {local_a:.1f} A")
        )
        task = asyncio.create_task(self._send_again(charger, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_again(self, charger: ChargerLink, payload: Any) -> None:
        try:
            await charger.request(payload)
        except WallboxError as err:
            self._log.warning("The upstream's profile could not be capped lower (%s)", err)

    async def close(self) -> None:
        """Cancel what is still being sent."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

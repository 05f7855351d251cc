"""What the add-on lets through from the upstream backend, and the limit it keeps: decisions without I/O.

- :func:`decide`: whether an upstream request reaches the charger (by mode and
  ``upstream_allow``), with the reason the trace and the log give.
- :func:`refusal`: the answer the upstream gets instead, a refusal its own
  enum knows (``Rejected``, ``UnlockFailed`` ...); None where the action has no
  status to refuse with (the caller answers CALLERROR NotSupported then).
- :func:`capped_profile`: an upstream charging profile never raises the current
  above what the add-on enforces (it is sent again at the new cap when that moves).
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

#: Requests that pass through in ``shared`` mode.
SHARED_PASS = frozenset(
    {
        "RequestStartTransaction",
        "RequestStopTransaction",
        "TriggerMessage",
        "UnlockConnector",
        "GetVariables",
        "GetBaseReport",
        "GetReport",
        "GetLocalListVersion",
        "GetTransactionStatus",
        "GetCompositeSchedule",
        "GetChargingProfiles",
    }
)
#: The one request that passes in ``shared`` mode with its limits capped.
CAPPED = "SetChargingProfile"

#: The refusal each action's status enum knows; every other status action is refused with ``Rejected``.
_REFUSALS: Mapping[str, str] = {
    "ClearChargingProfile": "Unknown",
    "ClearDisplayMessage": "Unknown",
    "GetDisplayMessages": "Unknown",
    "DeleteCertificate": "Failed",
    "GetChargingProfiles": "NoProfiles",
    "GetInstalledCertificateIds": "NotFound",
    "SendLocalList": "Failed",
    "UnlockConnector": "UnlockFailed",
    "UnpublishFirmware": "NoFirmware",
}
#: Actions whose answer has no status: each requested item is refused instead.
_PER_ITEM = {
    "GetVariables": ("get_variable_data", "get_variable_result"),
    "SetVariables": ("set_variable_data", "set_variable_result"),
}
#: Actions whose answer has a status (the others are answered CALLERROR NotSupported when refused).
_WITH_STATUS = frozenset(
    {
        "CancelReservation", "CertificateSigned", "ChangeAvailability", "ClearCache", "CustomerInformation",
        "DataTransfer", "GetBaseReport", "GetCompositeSchedule", "GetLog", "GetMonitoringReport", "GetReport",
        "InstallCertificate", "PublishFirmware", "RequestStartTransaction", "RequestStopTransaction", "ReserveNow",
        "Reset", "SetChargingProfile", "SetDisplayMessage", "SetMonitoringBase", "SetMonitoringLevel",
        "SetNetworkProfile", "TriggerMessage", "UpdateFirmware", *_REFUSALS,
    }
)  # fmt: skip

#: Volts per phase assumed when a limit in W is compared with one in A.
NOMINAL_VOLTAGE_V = 230.0


class Verdict(enum.StrEnum):
    """What happens to an upstream request."""

    PASS = "passed to the charger"  # noqa: S105 (not a password)
    CAP = "passed to the charger with its limit capped"
    REFUSE = "refused"


@dataclass(frozen=True, kw_only=True)
class Decision:
    """A verdict and its reason, as the trace and the log show it."""

    verdict: Verdict
    reason: str

    def text(self, action: str) -> str:
        """One line: ``Reset from the upstream: refused (mirror mode)``."""
        return f"{action} from the upstream: {self.verdict} ({self.reason})"


def decide(action: str, *, mode: str, allow: Collection[str]) -> Decision:
    """Whether an upstream request reaches the charger.

    ``mirror``: never. ``shared``: start, stop, trigger, unlock and the reads
    pass; SetChargingProfile passes capped; reset, firmware, set-variables,
    local-list changes and clearing profiles pass only when listed in
    ``allow``; anything else is refused.
    """
    if mode != "shared":
        return Decision(verdict=Verdict.REFUSE, reason="mirror mode")
    if action in SHARED_PASS:
        return Decision(verdict=Verdict.PASS, reason="shared mode")
    if action == CAPPED:
        return Decision(verdict=Verdict.CAP, reason="shared mode, never above the add-on's limit")
    if action in allow:
        return Decision(verdict=Verdict.PASS, reason="listed in upstream_allow")
    return Decision(verdict=Verdict.REFUSE, reason="shared mode; not listed in upstream_allow")


def refusal(action: str, request: Mapping[str, Any]) -> dict[str, Any] | None:
    """The snake_case fields of the refusing answer to ``request``; None when the action cannot be refused so."""
    if action in _PER_ITEM:
        asked, answered = _PER_ITEM[action]
        items = request.get(asked) or []
        status = "attribute_status"
        return {
            answered: [
                {status: "Rejected", "component": item.get("component"), "variable": item.get("variable")}
                for item in items
                if isinstance(item, Mapping)
            ]
        }
    if action in _WITH_STATUS:
        return {"status": _REFUSALS.get(action, "Rejected")}
    return None


def limit_a_of(profile: Mapping[str, Any], *, phases: int) -> float | None:
    """The limit in A per phase of a profile's first period (W divided by phases and 230 V); None if unreadable."""
    try:
        schedule = profile["charging_schedule"][0]
        limit = float(schedule["charging_schedule_period"][0]["limit"])
        unit = schedule["charging_rate_unit"]
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return limit if unit == "A" else limit / (max(phases, 1) * NOMINAL_VOLTAGE_V)


def capped_profile(profile: Mapping[str, Any], *, limit_a: float, phases: int) -> dict[str, Any]:
    """``profile`` with every period's limit at most ``limit_a`` (converted to W for a profile in W)."""
    capped = copy.deepcopy(dict(profile))
    for schedule in capped.get("charging_schedule") or []:
        ceiling = limit_a if schedule.get("charging_rate_unit") == "A" else limit_a * max(phases, 1) * NOMINAL_VOLTAGE_V
        for period in schedule.get("charging_schedule_period") or []:
            period["limit"] = round(min(float(period["limit"]), ceiling), 1)
    return capped

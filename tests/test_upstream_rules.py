"""The upstream's decisions and queue without sockets: what passes, the refusals, the cap, the bounded queue on disk."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import CallResult, validate_payload
from ocpp.v201 import call_result

from bmw_wallbox.upstream.link import FIRST_BACKOFF_S, next_backoff_s
from bmw_wallbox.upstream.outbox import Outbox, outbox_path
from bmw_wallbox.upstream.rules import Verdict, capped_profile, decide, limit_a_of, refusal

#: The requests a CSMS may send a charging station in OCPP 2.0.1.
CSMS_REQUESTS = (
    "CancelReservation", "CertificateSigned", "ChangeAvailability", "ClearCache", "ClearChargingProfile",
    "ClearDisplayMessage", "ClearVariableMonitoring", "CostUpdated", "CustomerInformation", "DataTransfer",
    "DeleteCertificate", "GetBaseReport", "GetChargingProfiles", "GetCompositeSchedule", "GetDisplayMessages",
    "GetInstalledCertificateIds", "GetLocalListVersion", "GetLog", "GetMonitoringReport", "GetReport",
    "GetTransactionStatus", "GetVariables", "InstallCertificate", "PublishFirmware", "RequestStartTransaction",
    "RequestStopTransaction", "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile", "SetDisplayMessage",
    "SetMonitoringBase", "SetMonitoringLevel", "SetNetworkProfile", "SetVariableMonitoring", "SetVariables",
    "TriggerMessage", "UnlockConnector", "UnpublishFirmware", "UpdateFirmware",
)  # fmt: skip


@pytest.mark.parametrize(
    ("action", "mode", "allow", "verdict"),
    [
        ("Reset", "mirror", ["Reset"], Verdict.REFUSE),
        ("RequestStartTransaction", "mirror", [], Verdict.REFUSE),
        ("GetVariables", "mirror", [], Verdict.REFUSE),
        ("RequestStartTransaction", "shared", [], Verdict.PASS),
        ("RequestStopTransaction", "shared", [], Verdict.PASS),
        ("TriggerMessage", "shared", [], Verdict.PASS),
        ("UnlockConnector", "shared", [], Verdict.PASS),
        ("GetBaseReport", "shared", [], Verdict.PASS),
        ("GetLocalListVersion", "shared", [], Verdict.PASS),
        ("SetChargingProfile", "shared", [], Verdict.CAP),
        ("Reset", "shared", [], Verdict.REFUSE),
        ("Reset", "shared", ["Reset"], Verdict.PASS),
        ("UpdateFirmware", "shared", [], Verdict.REFUSE),
        ("SetVariables", "shared", ["SetVariables"], Verdict.PASS),
        ("SendLocalList", "shared", [], Verdict.REFUSE),
        ("ClearChargingProfile", "shared", [], Verdict.REFUSE),
        ("SetNetworkProfile", "shared", [], Verdict.REFUSE),
    ],
)
def test_decide(action: str, mode: str, allow: list[str], verdict: Verdict) -> None:
    """What reaches the charger, by mode and upstream_allow."""
    assert decide(action, mode=mode, allow=allow).verdict is verdict


@pytest.mark.parametrize("action", CSMS_REQUESTS)
async def test_refusal_is_a_valid_answer(action: str) -> None:
    """Each refusal is an answer the OCPP 2.0.1 schema allows (or None: CALLERROR NotSupported then)."""
    request = {"get_variable_data": [{"component": {"name": "C"}, "variable": {"name": "V"}}]}
    if action == "SetVariables":
        request = {
            "set_variable_data": [{"attribute_value": "1", "component": {"name": "C"}, "variable": {"name": "V"}}]
        }
    fields = refusal(action, request)
    if fields is None:
        assert action in {"ClearVariableMonitoring", "CostUpdated", "GetLocalListVersion", "GetTransactionStatus",
                          "SetVariableMonitoring"}  # fmt: skip
        return
    payload = snake_to_camel_case(remove_nones(serialize_as_dict(getattr(call_result, action)(**fields))))
    await validate_payload(CallResult("1", payload, action=action), "2.0.1")


def _profile(limits: list[float], unit: str = "A") -> dict[str, Any]:
    periods = [{"start_period": 900 * i, "limit": limit} for i, limit in enumerate(limits)]
    return {"id": 5, "charging_schedule": [{"id": 1, "charging_rate_unit": unit, "charging_schedule_period": periods}]}


def test_capped_profile_caps_every_period() -> None:
    """Every period is capped at the local limit; lower periods stay as they are; the input is not changed."""
    profile = _profile([32, 6, 16])
    capped = capped_profile(profile, limit_a=10, phases=3)
    assert [p["limit"] for p in capped["charging_schedule"][0]["charging_schedule_period"]] == [10, 6, 10]
    assert profile == _profile([32, 6, 16])


def test_capped_profile_in_watts() -> None:
    """A profile in W is capped at the local limit times phases times 230 V."""
    capped = capped_profile(_profile([11000], unit="W"), limit_a=6, phases=1)
    assert capped["charging_schedule"][0]["charging_schedule_period"][0]["limit"] == 1380


def test_limits() -> None:
    """The upstream's limit in A (W converted); none without a schedule."""
    assert limit_a_of(_profile([6900], unit="W"), phases=3) == 10
    assert limit_a_of({"charging_schedule": []}, phases=3) is None


def _event(seq_no: int, event_type: str = "Updated") -> dict[str, Any]:
    return {"eventType": event_type, "seqNo": seq_no, "transactionInfo": {"transactionId": "t"}}


def test_outbox_survives_a_restart_in_order(tmp_path: Path) -> None:
    """Durable messages are on disk in order and come back after a restart; others are not kept."""
    path = outbox_path(tmp_path, "DE*BMW*E1")
    first = Outbox(path, problems=[])
    first.put("TransactionEvent", _event(0, "Started"))
    first.put("StatusNotification", {"evseId": 1})
    first.put("MeterValues", {"evseId": 1})
    first.put("TransactionEvent", _event(1))
    again = Outbox(path, problems=[])
    again.load()
    assert [(e.action, e.payload.get("seqNo")) for e in again._entries] == [
        ("TransactionEvent", 0),
        ("MeterValues", None),
        ("TransactionEvent", 1),
    ]


def test_outbox_bound_drops_meter_values_first(tmp_path: Path) -> None:
    """Beyond the bound the oldest meter values go first, then Updated events; Started and Ended stay; counted."""
    box = Outbox(tmp_path / "q.json", problems=[], bound=3)
    box.put("TransactionEvent", _event(0, "Started"))
    box.put("MeterValues", {"evseId": 1})
    box.put("TransactionEvent", _event(1))
    box.put("TransactionEvent", _event(2))  # drops the meter values
    box.put("TransactionEvent", _event(3, "Ended"))  # drops seqNo 1
    assert [e.payload.get("seqNo") for e in box._entries] == [0, 2, 3]
    box.put("TransactionEvent", _event(4))  # drops seqNo 2
    box.put("TransactionEvent", _event(5, "Started"))  # drops seqNo 4
    assert [e.payload.get("seqNo") for e in box._entries] == [0, 3, 5]
    box.put("TransactionEvent", _event(6, "Ended"))  # nothing droppable: the newest goes
    assert ([e.payload.get("seqNo") for e in box._entries], box.dropped) == ([0, 3, 5], 5)
    assert json.loads((tmp_path / "q.json").read_text())["dropped"] == 5


def test_outbox_leaves_only_when_answered(tmp_path: Path) -> None:
    """The head stays until it is answered; then the file no longer holds it."""
    box = Outbox(tmp_path / "q.json", problems=[])
    box.put("TransactionEvent", _event(0, "Started"))
    box.put("TransactionEvent", _event(1))
    head = box.head()
    assert head is not None
    assert box.head() is head
    box.answered(head)
    saved = json.loads((tmp_path / "q.json").read_text())["entries"]
    assert [e["payload"]["seqNo"] for e in saved] == [1]


def test_outbox_damaged_file_is_reported(tmp_path: Path) -> None:
    """A damaged queue file is reported, kept aside, and the queue starts empty."""
    path = tmp_path / "q.json"
    path.write_text("{not json")
    problems: list[str] = []
    box = Outbox(path, problems=problems)
    box.load()
    assert box.queued == 0
    assert "q.json" in problems[0]
    assert list(tmp_path.glob("q.json.corrupt-*"))


def test_outbox_bad_entries_are_left_out(tmp_path: Path) -> None:
    """Entries that are not messages are reported and left out; the rest load in order."""
    path = tmp_path / "q.json"
    good = {"action": "TransactionEvent", "payload": _event(7)}
    path.write_text(json.dumps({"schema": 1, "dropped": 2, "entries": [good, {"action": "Reset"}, 5]}))
    problems: list[str] = []
    box = Outbox(path, problems=problems)
    box.load()
    assert ([e.payload["seqNo"] for e in box._entries], box.dropped, len(problems)) == ([7], 2, 1)


async def test_outbox_wait_returns_the_next_message(tmp_path: Path) -> None:
    """wait() returns once a message is queued."""
    box = Outbox(tmp_path / "q.json", problems=[])
    waiting = asyncio.create_task(box.wait())
    box.put("TransactionEvent", _event(0, "Started"))
    assert (await waiting).payload["seqNo"] == 0


def test_backoff_doubles_up_to_two_minutes() -> None:
    """Reconnects start after 1 s, double, and never wait more than 120 s."""
    delays = [FIRST_BACKOFF_S]
    for _ in range(10):
        delays.append(next_backoff_s(delays[-1]))
    assert delays[:8] == [1, 2, 4, 8, 16, 32, 64, 120]
    assert delays[-1] == 120

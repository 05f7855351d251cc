"""The charger port over OCPP: our typed requests become schema-valid OCPP calls, and answers become our types."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import Call, validate_payload
from ocpp.v201.call import SetChargingProfile
from ocpp.v201.enums import ChargingStateEnumType, ConnectorStatusEnumType

from bmw_wallbox.csms.port import answer_of, composite_limit_a, set_profile_request
from bmw_wallbox.ports import LimitProfile, RateUnit, Strategy
from bmw_wallbox.state import ChargingState, ConnectorStatus

NOW = datetime(2026, 11, 26, 10, 0, 30, 123456, tzinfo=UTC)


def profile(strategy: Strategy, **changes: Any) -> LimitProfile:
    """A limit profile as the controller makes it."""
    base: dict[str, Any] = {
        "strategy": strategy,
        "profile_id": 1,
        "stack_level": 0,
        "evse_id": 1,
        "limit": 16.0,
        "unit": RateUnit.AMPS,
    }
    return LimitProfile(**{**base, **changes})


async def schema_valid(request: SetChargingProfile) -> bool:
    """Whether the request passes the OCPP 2.0.1 schema, as the library sends it."""
    payload = remove_nones(snake_to_camel_case(serialize_as_dict(request)))
    await validate_payload(Call("1", "SetChargingProfile", payload), "2.0.1")
    return True


@pytest.mark.parametrize("strategy", list(Strategy))
async def test_every_strategy_makes_a_schema_valid_profile(strategy: Strategy) -> None:
    """TxDefault, Tx (with its transaction) and station maximum profiles all pass the OCPP 2.0.1 schema."""
    request = set_profile_request(
        profile(strategy, transaction_id="tx-1" if strategy is Strategy.TX_PROFILE else None), now=NOW
    )
    assert await schema_valid(request)


def test_a_profile_is_one_absolute_period_from_now() -> None:
    """One period from 0 s with the limit rounded to 0.1, starting at the whole second, in the profile's unit."""
    request = set_profile_request(profile(Strategy.TX_DEFAULT, limit=10.04, unit=RateUnit.WATTS), now=NOW)
    body = request.charging_profile
    schedule = body["charging_schedule"][0]
    assert (body["charging_profile_purpose"], body["charging_profile_kind"]) == ("TxDefaultProfile", "Absolute")
    assert (schedule["start_schedule"], schedule["charging_rate_unit"]) == ("2026-11-26T10:00:30Z", "W")
    assert schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 10.0}]
    assert "transaction_id" not in body


def test_a_tx_profile_names_its_transaction() -> None:
    """A TxProfile carries the transaction it is bound to."""
    request = set_profile_request(profile(Strategy.TX_PROFILE, profile_id=2, transaction_id="tx-9"), now=NOW)
    assert (request.charging_profile["id"], request.charging_profile["transaction_id"]) == (2, "tx-9")


@pytest.mark.parametrize(
    ("schedule", "limit"),
    [
        ({"charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 10.0}]}, 10.0),
        (
            {
                "charging_rate_unit": "A",
                "charging_schedule_period": [{"start_period": 0, "limit": 6}, {"start_period": 600, "limit": 16}],
            },
            6.0,
        ),
        ({"charging_rate_unit": "W", "charging_schedule_period": [{"start_period": 0, "limit": 11040}]}, None),
        ({"charging_rate_unit": "A", "charging_schedule_period": []}, None),
        ({"charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0}]}, None),
        (None, None),
    ],
)
def test_the_composite_limit_is_read_in_amps(schedule: dict[str, Any] | None, limit: float | None) -> None:
    """The limit in force now, in A; a schedule in W or without a readable limit says nothing."""
    assert composite_limit_a(schedule) == limit


def test_an_answer_keeps_the_chargers_reason() -> None:
    """Status, reason code and additional info of a status answer reach the user's sentence."""
    result = SimpleNamespace(status="Rejected", status_info={"reason_code": "InvalidProfile", "additional_info": "id"})
    answer = answer_of(result)
    assert (answer.accepted, answer.describe()) == (False, "Rejected: InvalidProfile: id")


def test_our_state_names_are_the_ocpp_names() -> None:
    """The state model's enums carry exactly the OCPP 2.0.1 values of the library's enums."""
    assert {s.value for s in ChargingState} == {s.value for s in ChargingStateEnumType}
    assert {s.value for s in ConnectorStatus} == {s.value for s in ConnectorStatusEnumType}

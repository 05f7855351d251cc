"""What Home Assistant gets of tokens, without sockets: the last-token sensor and the token name in session events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bmw_wallbox.homeassistant.model.entities import ENTITIES
from bmw_wallbox.homeassistant.model.events import SessionTracker
from bmw_wallbox.homeassistant.rest.states import render
from bmw_wallbox.state import ChargerState, TokenUse

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ANNA = TokenUse(ref="t1", name="Anna's card", masked="…E5F6")
STRANGER = TokenUse(masked="…66AA")


def charger() -> ChargerState:
    """A connected charger without a session."""
    state = ChargerState(charger_id="DE*BMW*E1", name="BMW Wallbox", max_current_a=32)
    state.connected = True
    return state


def event(state: ChargerState, kind: str, *, token: TokenUse | None = None, minutes: int = 0) -> None:
    """One TransactionEvent of transaction tx-1."""
    at = T0 + timedelta(minutes=minutes)
    state.transaction_event(event_type=kind, transaction_id="tx-1", evse_id=1, at=at, now=at, token=token)


def last_token(state: ChargerState) -> tuple[str, dict[str, object]]:
    """The last-token sensor's state and attributes."""
    description = next(d for d in ENTITIES if d.key == "last_token")
    _, shown = render(state, "bmw_wallbox", [description])["sensor.bmw_wallbox_last_token"]
    return shown.state, dict(shown.attributes)


@pytest.mark.parametrize(
    ("token", "shown", "masked"),
    [(ANNA, "Anna's card", "…E5F6"), (STRANGER, "unknown", "…66AA"), (None, "no token", None)],
)
def test_the_last_token_sensor_names_the_running_sessions_token(
    token: TokenUse | None, shown: str, masked: str | None
) -> None:
    """The sensor shows the token's name, ``unknown`` or ``no token``, with its masked end as an attribute."""
    state = charger()
    event(state, "Started", token=token)
    value, attributes = last_token(state)
    assert (value, attributes["masked"], attributes["running"]) == (shown, masked, True)


def test_the_last_token_sensor_keeps_the_last_session_after_it_ended() -> None:
    """After the session ended the sensor still names its token, not running, also while offline."""
    state = charger()
    event(state, "Started", token=ANNA)
    event(state, "Ended", minutes=30)
    state.connected = False
    value, attributes = last_token(state)
    assert (value, attributes["running"], attributes["transaction_id"]) == ("Anna's card", False, "tx-1")


def test_before_any_session_the_last_token_is_unknown() -> None:
    """Without any session the sensor is ``unknown``."""
    assert last_token(charger())[0] == "unknown"


def test_session_started_carries_the_token_name() -> None:
    """A session started with Anna's card fires session_started with her name, never the token id."""
    state = charger()
    tracker = SessionTracker()
    event(state, "Started", token=ANNA)
    ((kind, data),) = tracker.update(state)
    assert (kind, data["token_name"]) == ("session_started", "Anna's card")
    assert "E5F6" not in str({k: v for k, v in data.items() if k != "token_name"})


def test_a_card_after_the_start_fires_session_authorized_once() -> None:
    """A session started at plug-in without a token fires session_authorized when the card comes, once."""
    state = charger()
    tracker = SessionTracker()
    event(state, "Started")
    started = tracker.update(state)
    event(state, "Updated", token=ANNA, minutes=1)
    authorized = tracker.update(state)
    event(state, "Updated", minutes=2)
    assert [(k, d["token_name"]) for k, d in started + authorized] == [
        ("session_started", "no token"),
        ("session_authorized", "Anna's card"),
    ]
    assert tracker.update(state) == []


def test_session_ended_carries_the_token_name() -> None:
    """The session_ended event names the session's token."""
    state = charger()
    tracker = SessionTracker()
    event(state, "Started", token=ANNA)
    tracker.update(state)
    event(state, "Ended", minutes=30)
    ((kind, data),) = tracker.update(state)
    assert (kind, data["token_name"], data["token_masked"]) == ("session_ended", "Anna's card", "…E5F6")

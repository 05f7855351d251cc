"""The token list's rules without sockets: authorization per policy, edits, masking, sessions that know their token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bmw_wallbox.saved import session_from, transaction_from
from bmw_wallbox.state import ChargerState, SampledValue, TokenUse
from bmw_wallbox.tokenbook import (
    MAX_UNKNOWN,
    UNKNOWN_MAX_AGE,
    AuthPolicy,
    AuthStatus,
    Presented,
    TokenBook,
    TokenError,
    mask,
)

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
ANNA = Presented(value="04A1B2C3D4E5F6", kind="ISO14443")
OLD = Presented(value="04FFEEDDCCBBAA", kind="ISO14443")
STRANGER = Presented(value="0499887766", kind="ISO14443")
REMOTE = Presented(value="HomeAssistant", kind="Central")
ANONYMOUS = Presented(value="", kind="NoAuthorization")


def book(policy: AuthPolicy = AuthPolicy.ACCEPT_ALL) -> TokenBook:
    """A book with an allowed card in group ``family``, a blocked card, and the built-in remote-start token."""
    tokens = TokenBook(remote_start_default=REMOTE)
    anna = tokens.add("Anna's card", ANNA.value, ANNA.kind, at=T0)
    tokens.update(anna.ref, group="family")
    tokens.add("Old card", OLD.value, OLD.kind, at=T0, allowed=False)
    tokens.set_policy("wb", policy)
    return tokens


@pytest.mark.parametrize(
    ("policy", "presented", "status", "name"),
    [
        (AuthPolicy.ACCEPT_ALL, ANNA, AuthStatus.ACCEPTED, "Anna's card"),
        (AuthPolicy.KNOWN_ONLY, ANNA, AuthStatus.ACCEPTED, "Anna's card"),
        (AuthPolicy.ACCEPT_ALL, OLD, AuthStatus.BLOCKED, "Old card"),
        (AuthPolicy.KNOWN_ONLY, OLD, AuthStatus.BLOCKED, "Old card"),
        (AuthPolicy.ACCEPT_ALL, STRANGER, AuthStatus.ACCEPTED, None),
        (AuthPolicy.KNOWN_ONLY, STRANGER, AuthStatus.INVALID, None),
        (AuthPolicy.ACCEPT_ALL, REMOTE, AuthStatus.ACCEPTED, "Home Assistant"),
        (AuthPolicy.KNOWN_ONLY, REMOTE, AuthStatus.ACCEPTED, "Home Assistant"),
        (AuthPolicy.ACCEPT_ALL, ANONYMOUS, AuthStatus.ACCEPTED, None),
        (AuthPolicy.KNOWN_ONLY, ANONYMOUS, AuthStatus.UNKNOWN, None),
    ],
)
def test_status_per_policy(policy: AuthPolicy, presented: Presented, status: AuthStatus, name: str | None) -> None:
    """Each kind of token gets the status of the policy table, and the session is attributed to its name."""
    verdict = book(policy).authorize("wb", presented)
    assert (verdict.status, verdict.use.name if verdict.use else None) == (status, name)


def test_the_group_goes_with_an_allowed_token_only() -> None:
    """An allowed token's group is sent; a blocked token's is not."""
    tokens = book()
    assert tokens.authorize("wb", ANNA).group == "family"
    tokens.update(tokens.find(ANNA).ref, allowed=False)  # type: ignore[union-attr]
    assert tokens.authorize("wb", ANNA).group is None


def test_a_token_of_another_type_is_another_token() -> None:
    """The same value with another idToken type is not the listed token."""
    verdict = book(AuthPolicy.KNOWN_ONLY).authorize("wb", Presented(value=ANNA.value, kind="KeyCode"))
    assert verdict.status is AuthStatus.INVALID


def test_the_policy_is_per_charger() -> None:
    """A charger without a policy of its own accepts every token."""
    assert book(AuthPolicy.KNOWN_ONLY).authorize("other", STRANGER).status is AuthStatus.ACCEPTED


def test_a_listed_remote_start_token_is_used_while_allowed() -> None:
    """The token chosen for remote starts is it while allowed; blocked, the built-in one is used again."""
    tokens = book()
    ref = tokens.find(ANNA).ref  # type: ignore[union-attr]
    tokens.update(ref, remote_start=True)
    assert tokens.remote_start_token().name == "Anna's card"  # type: ignore[union-attr]
    tokens.update(ref, allowed=False)
    assert tokens.remote_start_token() is None


@pytest.mark.parametrize(
    ("name", "value", "kind", "code"),
    [
        ("", "04AA", "ISO14443", "invalid"),
        ("x" * 41, "04AA", "ISO14443", "invalid"),
        ("Unknown", "04AA", "ISO14443", "invalid"),
        ("no token", "04AA", "ISO14443", "invalid"),
        ("Tab\there", "04AA", "ISO14443", "invalid"),
        ("Car", "", "ISO14443", "invalid"),
        ("Car", "9" * 37, "ISO14443", "invalid"),
        ("Car", "04AA", "Barcode", "invalid"),
        ("Car", "04AA", "NoAuthorization", "invalid"),
        ("Car", ANNA.value, ANNA.kind, "duplicate"),
        ("anna's CARD", "04AA", "ISO14443", "duplicate"),
    ],
)
def test_a_bad_token_is_refused(name: str, value: str, kind: str, code: str) -> None:
    """Empty, long, reserved or unprintable names, bad ids and types, and duplicates are refused by code."""
    tokens = book()
    with pytest.raises(TokenError) as error:
        tokens.add(name, value, kind, at=T0)
    assert error.value.code == code
    assert len(tokens.tokens) == 2


def test_unknown_tokens_are_remembered_most_recent_first_and_bounded() -> None:
    """Presented tokens that are not listed are kept (the newest MAX_UNKNOWN), anonymous ones never."""
    tokens = book(AuthPolicy.KNOWN_ONLY)
    for number in range(MAX_UNKNOWN + 5):
        presented = Presented(value=f"CARD{number:04d}", kind="ISO14443")
        tokens.note_unknown("wb", presented, tokens.authorize("wb", presented), at=T0 + timedelta(minutes=number))
    tokens.note_unknown("wb", ANONYMOUS, tokens.authorize("wb", ANONYMOUS), at=T0)
    assert len(tokens.unknown) == MAX_UNKNOWN
    assert min(u.value for u in tokens.unknown.values()) == "CARD0005"


def test_an_unknown_token_expires() -> None:
    """An unknown token not seen for UNKNOWN_MAX_AGE is dropped."""
    tokens = book()
    tokens.note_unknown("wb", STRANGER, tokens.authorize("wb", STRANGER), at=T0)
    tokens.expire_unknown(now=T0 + UNKNOWN_MAX_AGE + timedelta(seconds=1))
    assert tokens.unknown == {}


def test_adding_an_unknown_token_lists_it_and_forgets_it_as_unknown() -> None:
    """A presented token added by its ref is listed under the name, and no longer unknown."""
    tokens = book(AuthPolicy.KNOWN_ONLY)
    tokens.note_unknown("wb", STRANGER, tokens.authorize("wb", STRANGER), at=T0)
    (ref,) = tokens.unknown
    token = tokens.add_unknown(ref, "Guest card", at=T0)
    assert (token.value, tokens.unknown, tokens.authorize("wb", STRANGER).status) == (
        STRANGER.value,
        {},
        AuthStatus.ACCEPTED,
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [("04A1B2C3D4E5F6", "…E5F6"), ("12345678", "…5678"), ("123456", "…56"), ("1234", "…"), ("", "…")],
)
def test_mask_shows_at_most_the_last_four(value: str, shown: str) -> None:
    """At most the last four characters are shown, and never more than half of a short token."""
    assert mask(value) == shown


def charger_with_session(token: TokenUse | None) -> ChargerState:
    """A charger with one finished session of 7.4 kWh, started with ``token``."""
    state = ChargerState(charger_id="wb", name="Wallbox", max_current_a=32)
    for kind, at, wh in (("Started", T0, 1000.0), ("Ended", T0 + timedelta(hours=1), 8400.0)):
        state.transaction_event(
            event_type=kind,
            transaction_id="tx-1",
            evse_id=1,
            at=at,
            now=at,
            readings=[SampledValue(measurand="Energy.Active.Import.Register", value=wh)],
            token=token,
        )
    return state


def test_a_session_keeps_the_first_token() -> None:
    """The token of the first event that carried one stays the session's (a stop card does not change it)."""
    state = ChargerState(charger_id="wb", name="Wallbox", max_current_a=32)
    first, second = TokenUse(ref="t1", name="Anna's card", masked="…E5F6"), TokenUse(name=None, masked="…7766")
    for kind, token in (("Started", first), ("Ended", second)):
        state.transaction_event(event_type=kind, transaction_id="tx", evse_id=1, at=T0, now=T0, token=token)
    assert state.sessions[0].to_json()["token_name"] == "Anna's card"


@pytest.mark.parametrize(
    ("token", "name", "masked"),
    [
        (TokenUse(ref="t1", name="Anna's card", masked="…E5F6"), "Anna's card", "…E5F6"),
        (TokenUse(masked="…7766"), "unknown", "…7766"),
        (None, "no token", None),
    ],
)
def test_session_record_shows_the_token_name_never_the_id(token: TokenUse | None, name: str, masked: Any) -> None:
    """History, CSV and events show the name, ``unknown`` or ``no token``, and at most the masked end."""
    shown = charger_with_session(token).sessions[0].to_json()
    assert (shown["token_name"], shown["token_masked"], shown["energy_kwh"]) == (name, masked, 7.4)


def test_a_session_stored_before_tokens_reads_as_no_token() -> None:
    """A stored session and transaction without a token field load, attributed to no token."""
    record = session_from(
        {"transaction_id": "tx", "started_at": T0.isoformat(), "ended_at": T0.isoformat(), "energy_wh": 10.0}
    )
    tx = transaction_from({"transaction_id": "tx", "started_at": T0.isoformat()})
    assert (record.token, tx.token, record.to_json()["token_name"]) == (None, None, "no token")


def test_a_stored_session_keeps_its_token() -> None:
    """The stored form of a session carries the token's reference, name and masked end."""
    record = charger_with_session(TokenUse(ref="t1", name="Anna's card", masked="…E5F6")).sessions[0]
    assert session_from(record.to_store()).token == record.token


def test_a_rename_renames_the_history() -> None:
    """Renaming a token renames it in the sessions recorded for it."""
    state = charger_with_session(TokenUse(ref="t1", name="Card 1", masked="…E5F6"))
    assert state.token_renamed("t1", "Anna's card")
    assert [s.to_json()["token_name"] for s in state.sessions] == ["Anna's card"]
    assert state.main_evse.last_session.token.name == "Anna's card"  # type: ignore[union-attr]

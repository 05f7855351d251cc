"""The local authorization list: what it should hold, the SendLocalList messages (full, differential, chunks),
the charger's rules in the simulator, and the sync against a fake port (no sockets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import get_validator

from bmw_wallbox.controller import Outcome
from bmw_wallbox.csms.handlers import id_token_info
from bmw_wallbox.csms.port import send_local_list_request
from bmw_wallbox.errors import ChargerCallError
from bmw_wallbox.hub import StateHub
from bmw_wallbox.ports import Answer, LocalListUpdate, UpdateType, VariableChange
from bmw_wallbox.simulator.auth import LocalAuthList
from bmw_wallbox.state import ChargerState
from bmw_wallbox.tokenbook import AuthStatus, ListEntry, TokenBook, Verdict
from bmw_wallbox.tokens.locallist import FRAME_OVERHEAD_BYTES, applied, item_bytes, plan_updates, wanted_entries
from bmw_wallbox.tokens.sync import LocalListSync

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def book_with(allowed: int, blocked: int = 0) -> TokenBook:
    """A book with ``allowed`` allowed and ``blocked`` blocked cards, added one minute apart (blocked ones first)."""
    book = TokenBook()
    for number in range(blocked):
        book.add(f"Blocked {number}", f"B{number:05d}", "ISO14443", at=T0 + timedelta(minutes=number), allowed=False)
    for number in range(allowed):
        book.add(f"Card {number}", f"A{number:05d}", "ISO14443", at=T0 + timedelta(minutes=100 + number))
    return book


def sizes(plan: list[LocalListUpdate]) -> list[tuple[str, int, int]]:
    """(update type, version, items) of each message."""
    return [(str(u.update_type), u.version, u.size) for u in plan]


# --- what the list should hold ---------------------------------------------------------------------


def test_allowed_tokens_come_first_then_blocked_ones_as_blocked() -> None:
    """The list holds the allowed tokens as Accepted, then the blocked ones as Blocked."""
    wanted, left_out = wanted_entries(book_with(allowed=2, blocked=1), max_entries=None)
    assert [(e.value, e.status) for e in wanted.values()] == [
        ("A00000", AuthStatus.ACCEPTED),
        ("A00001", AuthStatus.ACCEPTED),
        ("B00000", AuthStatus.BLOCKED),
    ]
    assert left_out == 0


def test_the_delta_holds_32_and_the_rest_are_counted() -> None:
    """With 40 allowed tokens and the Delta's 32 entries, the 32 added first are kept and 8 are counted out."""
    wanted, left_out = wanted_entries(book_with(allowed=40, blocked=3), max_entries=32)
    assert (len(wanted), left_out, max(e.value for e in wanted.values())) == (32, 8, "A00031")


# --- the messages ------------------------------------------------------------------------------------


def test_a_full_list_goes_in_chunks_of_eight_with_rising_versions() -> None:
    """20 tokens and 8 per message: one full update, then two differential ones, each one version up."""
    wanted, _ = wanted_entries(book_with(allowed=20), max_entries=32)
    plan = plan_updates(charger_version=0, recorded_version=None, known=None, wanted=wanted, per_message=8)
    assert sizes(plan) == [("Full", 1, 8), ("Differential", 2, 8), ("Differential", 3, 4)]
    known: dict[tuple[str, str], ListEntry] | None = None
    for update in plan:
        known = applied(known, update)
    assert known == wanted


def test_an_empty_list_is_one_full_update_that_clears_it() -> None:
    """With no tokens the full update carries no entries (it clears the charger's list)."""
    plan = plan_updates(charger_version=4, recorded_version=None, known=None, wanted={}, per_message=8)
    assert sizes(plan) == [("Full", 5, 0)]
    assert send_local_list_request(plan[0]).local_authorization_list is None


def test_a_known_list_gets_only_the_differences() -> None:
    """When the charger has the recorded version, a blocked token and a new one make one differential update."""
    book = book_with(allowed=3)
    known, _ = wanted_entries(book, max_entries=None)
    first = next(iter(book.tokens))
    book.update(first, allowed=False)
    book.add("New card", "N00001", "ISO14443", at=T0 + timedelta(days=1))
    book.delete(list(book.tokens)[1])
    wanted, _ = wanted_entries(book, max_entries=None)
    (update,) = plan_updates(charger_version=7, recorded_version=7, known=known, wanted=wanted, per_message=8)
    assert (update.update_type, update.version, update.removed) == (
        UpdateType.DIFFERENTIAL,
        8,
        (("A00001", "ISO14443"),),
    )
    assert sorted((e.value, str(e.status)) for e in update.entries) == [("A00000", "Blocked"), ("N00001", "Accepted")]


def test_removals_go_first_when_differences_need_several_messages() -> None:
    """Removals are sent before additions, so the charger's list never grows past its size on the way."""
    known, _ = wanted_entries(book_with(allowed=10), max_entries=None)
    book = TokenBook()
    for number in range(5):
        book.add(f"Other {number}", f"O{number:05d}", "ISO14443", at=T0)
    wanted, _ = wanted_entries(book, max_entries=None)
    plan = plan_updates(charger_version=2, recorded_version=2, known=known, wanted=wanted, per_message=8)
    assert [(len(u.removed), len(u.entries)) for u in plan] == [(8, 0), (2, 5)]
    assert [u.version for u in plan] == [3, 4]


def test_nothing_is_sent_when_nothing_differs() -> None:
    """A charger that holds the recorded version and entries gets no message."""
    wanted, _ = wanted_entries(book_with(allowed=3), max_entries=None)
    assert plan_updates(charger_version=3, recorded_version=3, known=dict(wanted), wanted=wanted, per_message=8) == []


@pytest.mark.parametrize(
    ("charger_version", "recorded_version", "first_version"),
    [(0, 5, 6), (9, 5, 10), (5, None, 6), (0, None, 1)],
)
def test_a_list_changed_elsewhere_is_sent_whole(
    charger_version: int, recorded_version: int | None, first_version: int
) -> None:
    """A charger whose version is not the recorded one gets a full update, one above both versions (never 0)."""
    wanted, _ = wanted_entries(book_with(allowed=2), max_entries=None)
    plan = plan_updates(
        charger_version=charger_version,
        recorded_version=recorded_version,
        known=dict(wanted),
        wanted=wanted,
        per_message=8,
    )
    assert sizes(plan) == [("Full", first_version, 2)]


def test_messages_stay_within_the_chargers_byte_limit() -> None:
    """With BytesPerMessage set, no message's entries plus the frame overhead exceed it."""
    wanted, _ = wanted_entries(book_with(allowed=20), max_entries=None)
    limit = FRAME_OVERHEAD_BYTES + 3 * (item_bytes(next(iter(wanted.values()))) + 1)
    plan = plan_updates(
        charger_version=0, recorded_version=None, known=None, wanted=wanted, per_message=8, max_bytes=limit
    )
    assert [u.size for u in plan] == [3, 3, 3, 3, 3, 3, 2]


def test_the_request_carries_status_group_and_removals() -> None:
    """An entry carries its status and group as idTokenInfo; a removal carries only the idToken."""
    entry = ListEntry(value="A1", kind="ISO14443", status=AuthStatus.ACCEPTED, group="family")
    update = LocalListUpdate(
        update_type=UpdateType.DIFFERENTIAL, version=3, entries=(entry,), removed=(("B2", "KeyCode"),)
    )
    request = send_local_list_request(update)
    assert (request.version_number, request.update_type) == (3, "Differential")
    assert request.local_authorization_list == [
        {
            "id_token": {"id_token": "A1", "type": "ISO14443"},
            "id_token_info": {"status": "Accepted", "group_id_token": {"id_token": "family", "type": "Central"}},
        },
        {"id_token": {"id_token": "B2", "type": "KeyCode"}},
    ]


def schema_errors(message_type: int, action: str, payload: dict[str, Any]) -> list[str]:
    """What the OCPP 2.0.1 schema of a request (2) or an answer (3) finds wrong in ``payload``."""
    return [error.message for error in get_validator(message_type, action, "2.0.1").iter_errors(payload)]


def wire(message: Any) -> dict[str, Any]:
    """A library request or answer as the library puts it on the wire (camelCase, no nulls)."""
    payload: dict[str, Any] = remove_nones(snake_to_camel_case(serialize_as_dict(message)))
    return payload


@pytest.mark.parametrize(
    "update",
    [
        LocalListUpdate(update_type=UpdateType.FULL, version=1),
        LocalListUpdate(
            update_type=UpdateType.FULL,
            version=1,
            entries=(ListEntry(value="A1", kind="ISO14443", status=AuthStatus.ACCEPTED, group="family"),),
        ),
        LocalListUpdate(
            update_type=UpdateType.DIFFERENTIAL,
            version=9,
            entries=(ListEntry(value="B2", kind="eMAID", status=AuthStatus.BLOCKED),),
            removed=(("C3", "KeyCode"),),
        ),
    ],
)
async def test_send_local_list_requests_are_schema_valid(update: LocalListUpdate) -> None:
    """Full, empty and differential updates (with removals) pass the OCPP 2.0.1 SendLocalList schema."""
    assert schema_errors(2, "SendLocalList", wire(send_local_list_request(update))) == []


@pytest.mark.parametrize("status", list(AuthStatus))
@pytest.mark.parametrize("group", [None, "family"])
async def test_id_token_info_answers_are_schema_valid(status: AuthStatus, group: str | None) -> None:
    """Every status the add-on answers, with and without a group, passes the Authorize response schema."""
    info = id_token_info(Verdict(status=status, group=group))
    assert schema_errors(3, "Authorize", {"idTokenInfo": wire(info)}) == []


# --- the charger's rules (the simulator) --------------------------------------------------------------


def item(value: str, status: str | None = "Accepted") -> dict[str, Any]:
    """One snake_case SendLocalList item (without status: a removal)."""
    entry: dict[str, Any] = {"id_token": {"id_token": value, "type": "ISO14443"}}
    if status is not None:
        entry["id_token_info"] = {"status": status}
    return entry


@pytest.mark.parametrize(
    ("enabled", "version", "update_type", "items", "status"),
    [
        (False, 1, "Full", [item("A")], "Failed"),
        (True, 0, "Full", [item("A")], "Failed"),
        (True, 1, "Full", [item(str(n)) for n in range(9)], "Failed"),
        (True, 1, "Full", [item("A"), item("A")], "Failed"),
        (True, 1, "Full", [item("A", None)], "Failed"),
        (True, 2, "Differential", [item("B")], "VersionMismatch"),
        (True, 1, "Differential", [item("B")], "VersionMismatch"),
        (True, 3, "Differential", [item(str(n)) for n in range(8)], "Failed"),
        (True, 3, "Differential", [item("B"), item("A", None)], "Accepted"),
    ],
)
def test_the_simulated_charger_keeps_the_rules(
    enabled: bool, version: int, update_type: str, items: list[dict[str, Any]], status: str
) -> None:
    """Off, version 0, too many items, duplicates, entries without idTokenInfo, old versions, overflow: refused."""
    charger = LocalAuthList(version=2, entries={(f"X{n}", "ISO14443"): {"status": "Accepted"} for n in range(25)})
    charger.entries[("A", "ISO14443")] = {"status": "Accepted"}
    before = (charger.version, dict(charger.entries))
    assert charger.apply(version, update_type, items, enabled=enabled, max_entries=32, per_message=8) == status
    if status != "Accepted":
        assert (charger.version, charger.entries) == before
    else:
        assert (charger.version, charger.lookup("B", "ISO14443"), charger.lookup("A", "ISO14443")) == (
            3,
            "Accepted",
            None,
        )


# --- the sync, against a fake charger ----------------------------------------------------------------


@dataclass
class FakeCharger:
    """An AuthPort over a simulated local list; ``mismatch_once`` answers the first differential VersionMismatch."""

    state: ChargerState
    local: LocalAuthList = field(default_factory=LocalAuthList)
    mismatch_once: bool = False
    error: str | None = None
    sent: list[LocalListUpdate] = field(default_factory=list)

    async def local_list_version(self) -> int:
        if self.error:
            raise ChargerCallError(self.error, "no local list here")
        return self.local.version

    async def send_local_list(self, update: LocalListUpdate) -> Answer:
        self.sent.append(update)
        if self.mismatch_once and update.update_type is UpdateType.DIFFERENTIAL:
            self.mismatch_once = False
            return Answer(status="VersionMismatch")
        request = send_local_list_request(update)
        status = self.local.apply(
            request.version_number,
            request.update_type,
            request.local_authorization_list,
            enabled=True,
            max_entries=32,
            per_message=8,
        )
        return Answer(status=status)

    async def set_variable(self, change: VariableChange) -> Answer:
        return Answer(status="Accepted")


def fake(book: TokenBook, **kwargs: Any) -> tuple[LocalListSync, FakeCharger]:
    """A sync for one charger with a local list of 32 entries, 8 per message."""
    state = ChargerState(charger_id="wb", name="Wallbox", max_current_a=32)
    caps = state.capabilities
    caps.local_list_available = caps.local_list_enabled = True
    caps.local_list_max_entries, caps.local_list_per_message = 32, 8
    hub = StateHub([state], tokens=book)
    charger = FakeCharger(state, **kwargs)
    return LocalListSync(hub, ports=lambda charger_id: charger), charger


async def test_a_sync_sends_the_whole_list_then_only_changes() -> None:
    """The first sync is full (in chunks); after a token is added, the next one is one differential update."""
    book = book_with(allowed=10)
    sync, charger = fake(book)
    first = await sync.sync("wb")
    book.add("New card", "N00001", "ISO14443", at=T0 + timedelta(days=1))
    second = await sync.sync("wb")
    assert (first.outcome, second.outcome) == (Outcome.ACCEPTED, Outcome.ACCEPTED)
    assert sizes(charger.sent) == [("Full", 1, 8), ("Differential", 2, 2), ("Differential", 3, 1)]
    assert (charger.local.version, len(charger.local.entries), book.charger("wb").local_list.status) == (
        3,
        11,
        "in_sync",
    )


async def test_a_version_mismatch_makes_one_full_update() -> None:
    """A differential update answered VersionMismatch is followed by a full update, which succeeds."""
    book = book_with(allowed=2)
    sync, charger = fake(book)
    await sync.sync("wb")
    charger.mismatch_once = True
    book.add("New card", "N00001", "ISO14443", at=T0 + timedelta(days=1))
    result = await sync.sync("wb")
    assert result.outcome is Outcome.ACCEPTED
    assert sizes(charger.sent) == [("Full", 1, 2), ("Differential", 2, 1), ("Full", 2, 3)]


async def test_a_refused_update_is_reported_as_failed() -> None:
    """When the charger answers Failed, the sync says rejected with the charger's answer, never accepted."""
    book = book_with(allowed=40)
    sync, charger = fake(book)
    charger.state.capabilities.local_list_max_entries = None  # the add-on does not know the limit: the charger refuses
    result = await sync.sync("wb")
    assert (result.outcome, book.charger("wb").local_list.status) == (Outcome.REJECTED, "failed")
    assert "Failed" in result.detail
    assert charger.local.version == 4  # the four messages before the one that overflowed were applied


async def test_a_charger_without_local_list_calls_is_not_supported() -> None:
    """A CALLERROR NotImplemented to GetLocalListVersion is not_supported, and the status says so."""
    sync, _ = fake(book_with(allowed=1), error="NotImplemented")
    result = await sync.sync("wb")
    assert (result.outcome, result.detail) == (
        Outcome.NOT_SUPPORTED,
        "the charger answered CALLERROR NotImplemented: no local list here",
    )

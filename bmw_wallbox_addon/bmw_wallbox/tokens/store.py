"""The token list on disk: ``<data-dir>/tokens.json`` (in Home Assistant's backups with the rest of ``/data``).

The file holds the idTokens themselves, so it is written only through
:class:`~bmw_wallbox.jsonfile.JsonFile` (a temporary file created with mode
0600, fsync, rename): readers see the old or the new file, never half of one,
and only the add-on's user can read it. Form (schema 1)::

    {"schema": 1,
     "tokens": [{"ref": "t1a2b3c4d", "name": "Anna's card", "id_token": "04A1B2C3", "type": "ISO14443",
                 "allowed": true, "group": null, "added_at": "2026-11-26T10:00:00+00:00"}],
     "remote_start": "t1a2b3c4d",
     "unknown": [{"ref": "u5e6f7a8b", "id_token": "...", "type": "ISO14443", "charger": "DE*BMW*E1",
                  "first_seen": "...", "last_seen": "...", "attempts": 2, "status": "Invalid"}],
     "chargers": {"DE*BMW*E1": {"policy": "known_only",
                                "local_list": {"version": 4, "entries": [{"id_token": "04A1B2C3",
                                               "type": "ISO14443", "status": "Accepted", "group": null}]}}}}

Edits are written at once (``Save.NOW``); noted unknown tokens and local-list
progress within ``delay_s`` (``Save.SOON``).

Loading salvages what it can (see :mod:`bmw_wallbox.jsonfile`: a copy of a
damaged file is kept, each problem is logged and listed in
:attr:`TokenStore.problems` for the setup page, start-up never fails) and
fails closed:

- a token whose id and type can be read but some other field not (``allowed``
  that is not true or false, a group longer than an idToken, a bad name, ref or
  time) is kept, blocked;
- a token whose id or type cannot be read (or whose id is longer than OCPP's
  36 characters), a token list that cannot be read, or a file that cannot be
  read at all make every charger accept only listed tokens (``known_only``,
  :meth:`TokenBook.fail_closed`): the lost entry may have been a blocked card;
- a charger whose policy cannot be read gets ``known_only``;
- two spellings of one id (letter case) are merged into the first, blocked if
  either was; a duplicate ref gets a new ref.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from bmw_wallbox.jsonfile import DAMAGE, JsonFile, reason
from bmw_wallbox.state import Save, utcnow
from bmw_wallbox.tokenbook import (
    MAX_VALUE_CHARS,
    TOKEN_KINDS,
    AuthPolicy,
    AuthStatus,
    ListEntry,
    LocalListState,
    Token,
    TokenBook,
    UnknownToken,
    check_name,
)
from bmw_wallbox.tokenvalues import new_ref

_LOGGER = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FILE_NAME = "tokens.json"
#: Keys every schema-1 file has; a missing one is damage.
_KEYS = ("tokens", "unknown", "chargers", "remote_start")
_CLOSED = "every charger now accepts only listed tokens (policy known_only) until you check the list"


def _time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("a time is missing")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("a time has no zone")
    return moment


def _text(data: dict[str, Any], key: str, *, longest: int = MAX_VALUE_CHARS) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value or len(value) > longest:
        raise ValueError(f"{key} is missing, of the wrong kind or longer than {longest} characters")
    return value


def _group(value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > MAX_VALUE_CHARS):
        raise ValueError(f"group is of the wrong kind or longer than {MAX_VALUE_CHARS} characters")
    return value or None


def _identity(data: object) -> tuple[dict[str, Any], str, str]:
    """A saved token as an object, its id and type; raises ValueError or TypeError when they cannot be read."""
    if not isinstance(data, dict):
        raise TypeError("a token is not an object")
    kind = data.get("type")
    if kind not in TOKEN_KINDS or kind == "NoAuthorization":
        raise ValueError("the type is not an OCPP idToken type")
    return data, _text(data, "id_token"), str(kind)


def token_from(data: object, *, now: datetime) -> tuple[Token, list[str]]:
    """A token from its stored form, and the fields that were damaged (the token is blocked then).

    Raises ValueError or TypeError when its id or type cannot be read.
    """
    saved, value, kind = _identity(data)
    damaged: list[str] = []

    def field(name: str, parse: Callable[[], Any], fallback: Any) -> Any:
        try:
            return parse()
        except DAMAGE:
            damaged.append(name)
            return fallback

    allowed = saved.get("allowed")
    if not isinstance(allowed, bool):
        damaged.append("allowed")
    token = Token(
        ref=field("ref", lambda: _text(saved, "ref", longest=32), new_ref("t")),
        name=field("name", lambda: check_name(saved.get("name")), f"Damaged {new_ref('')}"),
        value=value,
        kind=kind,
        allowed=allowed is True and not damaged,
        group=field("group", lambda: _group(saved["group"]), None),
        added_at=field("added_at", lambda: _time(saved.get("added_at")), now),
    )
    return (replace(token, allowed=False) if damaged else token), damaged


def unknown_from(data: object) -> UnknownToken:
    """An unknown token from its stored form; raises ValueError or TypeError."""
    if not isinstance(data, dict):
        raise TypeError("an unknown token is not an object")
    attempts = data.get("attempts")
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 0 < attempts < 10**9:
        raise ValueError("attempts is not a count")
    return UnknownToken(
        ref=_text(data, "ref", longest=32),
        value=_text(data, "id_token"),
        kind=_text(data, "type"),
        charger_id=_text(data, "charger", longest=200),
        first_seen=_time(data.get("first_seen")),
        last_seen=_time(data.get("last_seen")),
        attempts=attempts,
        status=AuthStatus(str(data.get("status"))),
    )


def entry_from(data: object) -> ListEntry:
    """A local-list entry from its stored form; raises ValueError or TypeError."""
    if not isinstance(data, dict):
        raise TypeError("a local-list entry is not an object")
    status = data.get("status")
    if status not in {s.value for s in AuthStatus}:
        raise ValueError("status is not an authorization status")
    return ListEntry(
        value=_text(data, "id_token"),
        kind=_text(data, "type"),
        status=AuthStatus(status),
        group=_group(data.get("group")),
    )


def local_list_from(saved: object) -> LocalListState:
    """What a charger's local list holds, as saved (entries only with a version); raises for damage."""
    if saved is None:
        return LocalListState()
    if not isinstance(saved, dict):
        raise TypeError("local_list is not an object")
    version, entries = saved.get("version"), saved.get("entries")
    if version is None:
        return LocalListState()
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version < 2**31:
        raise ValueError("the local list version is not a number")
    if entries is None:
        return LocalListState(version=version)
    if not isinstance(entries, list):
        raise TypeError("the local list entries are not a list")
    parsed = [entry_from(item) for item in entries[:1000]]
    return LocalListState(version=version, entries={entry.key: entry for entry in parsed})


def serialise(book: TokenBook) -> dict[str, Any]:
    """The stored form of the token book."""
    chargers: dict[str, Any] = {}
    for charger_id, auth in book.chargers.items():
        local = auth.local_list
        entries = None if local.entries is None else [_entry_json(e) for e in local.entries.values()]
        chargers[charger_id] = {
            "policy": str(auth.policy),
            "local_list": {"version": local.version, "entries": entries},
        }
    return {
        "schema": SCHEMA_VERSION,
        "tokens": [
            {
                "ref": t.ref,
                "name": t.name,
                "id_token": t.value,
                "type": t.kind,
                "allowed": t.allowed,
                "group": t.group,
                "added_at": t.added_at.isoformat(),
            }
            for t in book.tokens.values()
        ],
        "remote_start": book.remote_start_ref,
        "unknown": [
            {
                "ref": u.ref,
                "id_token": u.value,
                "type": u.kind,
                "charger": u.charger_id,
                "first_seen": u.first_seen.isoformat(),
                "last_seen": u.last_seen.isoformat(),
                "attempts": u.attempts,
                "status": str(u.status),
            }
            for u in book.unknown.values()
        ],
        "chargers": chargers,
    }


def _entry_json(entry: ListEntry) -> dict[str, Any]:
    return {"id_token": entry.value, "type": entry.kind, "status": str(entry.status), "group": entry.group}


class TokenStore:
    """Loads the token book at start and saves it when a commit asks for it (see the module docstring)."""

    def __init__(self, data_dir: Path, book: TokenBook, *, delay_s: float = 1.0) -> None:
        self.path = data_dir / FILE_NAME
        self._book = book
        self._delay_s = delay_s
        self._handle: asyncio.TimerHandle | None = None
        self._unsubscribe: Callable[[], None] | None = None
        #: What could not be loaded, one sentence each.
        self.problems: list[str] = []
        self._file = JsonFile(self.path, schema=SCHEMA_VERSION, problems=self.problems)

    def attach(self) -> None:
        """Save on every commit that asks for it."""
        self._unsubscribe = self._book.subscribe(self._on_commit)

    def detach(self) -> None:
        """Stop listening, and write what is still waiting."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self.save_now()

    def _on_commit(self, save: Save) -> None:
        if save is Save.NOW:
            self.save_now()
        elif save is Save.SOON and self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(self._delay_s, self.save_now)

    def save_now(self) -> None:
        """Write the book at once, durably (not over a file of a newer version)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._file.write(serialise(self._book))

    def load(self) -> None:
        """Restore the book from disk, salvaging what can be read and failing closed; never raises."""
        existed = self.path.exists()
        data = self._file.read(instead=f"starting with an empty token list; {_CLOSED}")
        if data is None:
            if existed:
                self._book.fail_closed()
            return
        missing = [key for key in _KEYS if key not in data]
        if missing:
            self._file.problem(", ".join(missing), "missing", "using an empty value")
        tokens_ok = self._restore_tokens(data["tokens"]) if "tokens" in data else False
        if "unknown" in data:
            self._restore_unknown(data["unknown"])
        remote = data.get("remote_start")
        if remote is not None and not isinstance(remote, str):
            self._file.problem("the token for remote starts", "not a token ref", "the built-in token is used")
        self._book.restore_remote_start(remote)
        chargers = data.get("chargers", {})
        if not isinstance(chargers, dict):
            self._file.problem("the authorization settings", "not an object", _CLOSED)
            chargers, tokens_ok = {}, False
        for charger_id, saved in list(chargers.items())[:100]:
            self._restore_charger(str(charger_id)[:200], saved)
        if not tokens_ok:
            self._book.fail_closed()

    def _restore_tokens(self, items: object) -> bool:
        """Put back the tokens; False when a token (or the list) could not be read."""
        if not isinstance(items, list):
            self._file.problem("the token list", "not a list", _CLOSED)
            return False
        tokens, lost, now = [], 0, utcnow()
        for item in items[:1000]:
            try:
                token, damaged = token_from(item, now=now)
            except DAMAGE:
                lost += 1
                continue
            if damaged:
                self._file.problem(
                    f"the {', '.join(damaged)} of token {token.name!r}", "wrong kind or size", "it is kept, blocked"
                )
            tokens.append(token)
        if lost:
            self._file.problem(
                f"{lost} token(s)",
                "no readable id and type, or an id over 36 characters",
                f"they are left out; {_CLOSED}",
            )
        restored = self._book.restore(tokens, [])
        for kept, dropped in restored.merged:
            self._file.problem(
                f"token {dropped!r}",
                f"it has the same id as {kept!r} in other letter case",
                "merged into the first, blocked if either was",
            )
        if restored.new_refs:
            self._file.problem(f"{restored.new_refs} token ref(s)", "used twice", "those tokens got a new ref")
        if restored.left_out:
            self._file.problem(f"{restored.left_out} token(s)", "the list is full", "they are left out")
        return lost == 0 and restored.left_out == 0

    def _restore_unknown(self, items: object) -> None:
        if not isinstance(items, list):
            self._file.problem("the unknown tokens", "not a list", "starting without them")
            return
        parsed, skipped = [], 0
        for item in items[:1000]:
            try:
                parsed.append(unknown_from(item))
            except DAMAGE:
                skipped += 1
        if skipped:
            self._file.problem(f"{skipped} unknown token(s)", "wrong kind or size", "they are left out")
        self._book.restore([], parsed)
        self._book.expire_unknown(now=utcnow())

    def _restore_charger(self, charger_id: str, saved: object) -> None:
        """Put back one charger's policy (``known_only`` when it cannot be read) and local list."""
        what = f"the authorization settings of charger {charger_id[:64]!r}"
        policy, local = AuthPolicy.KNOWN_ONLY, LocalListState()
        if not isinstance(saved, dict):
            self._file.problem(what, "not an object", "it accepts only listed tokens (known_only)")
        elif not isinstance(saved.get("policy"), str) or saved["policy"] not in {p.value for p in AuthPolicy}:
            self._file.problem(
                f"the policy of charger {charger_id[:64]!r}",
                "not a policy",
                "it accepts only listed tokens (known_only)",
            )
        else:
            policy = AuthPolicy(saved["policy"])
        if isinstance(saved, dict):
            try:
                local = local_list_from(saved.get("local_list"))
            except DAMAGE as err:
                self._file.problem(
                    f"the local list of charger {charger_id[:64]!r}", reason(err), "it is sent again in full"
                )
        self._book.restore_charger(charger_id, policy=policy, local_list=local)

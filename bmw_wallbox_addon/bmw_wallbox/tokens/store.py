"""The token list on disk: ``<data-dir>/tokens.json`` (in Home Assistant's backups with the rest of ``/data``).

The file holds the idTokens themselves, so it is written only through
:func:`~bmw_wallbox.store.write_text_atomic` (a temporary file created with
mode 0600, fsync, rename): readers see the old or the new file, never half of
one, and only the add-on's user can read it. Form (schema 1)::

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
progress within ``delay_s`` (``Save.SOON``). A file that is not JSON is kept as
``tokens.json.corrupt-<time>`` and the add-on starts with an empty list; in a
readable file every part (each token, each charger) is loaded on its own and a
part that cannot be read is skipped. A file written by a newer version of the
add-on is loaded as far as possible and not overwritten. Each problem is logged
once and listed in :attr:`TokenStore.problems` (the panel's setup page shows it).
Start-up never fails because of this file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bmw_wallbox.state import Save, utcnow
from bmw_wallbox.store import write_text_atomic
from bmw_wallbox.tokenbook import (
    TOKEN_KINDS,
    AuthPolicy,
    AuthStatus,
    ListEntry,
    Token,
    TokenBook,
    UnknownToken,
    check_name,
)

_LOGGER = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FILE_NAME = "tokens.json"


def _time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("a time is missing")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("a time has no zone")
    return moment


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} is missing")
    return value


def token_from(data: object) -> Token:
    """A token from its stored form; raises ValueError or TypeError."""
    if not isinstance(data, dict):
        raise TypeError("a token is not an object")
    kind = _text(data, "type")
    if kind not in TOKEN_KINDS:
        raise ValueError(f"unknown token type {kind[:20]!r}")
    group = data.get("group")
    return Token(
        ref=_text(data, "ref"),
        name=check_name(data.get("name")),
        value=_text(data, "id_token"),
        kind=kind,
        allowed=bool(data.get("allowed", True)),
        group=group if isinstance(group, str) and group else None,
        added_at=_time(data.get("added_at")),
    )


def unknown_from(data: object) -> UnknownToken:
    """An unknown token from its stored form; raises ValueError or TypeError."""
    if not isinstance(data, dict):
        raise TypeError("an unknown token is not an object")
    attempts = data.get("attempts")
    return UnknownToken(
        ref=_text(data, "ref"),
        value=_text(data, "id_token"),
        kind=_text(data, "type"),
        charger_id=_text(data, "charger"),
        first_seen=_time(data.get("first_seen")),
        last_seen=_time(data.get("last_seen")),
        attempts=attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else 1,
        status=AuthStatus(str(data.get("status", AuthStatus.INVALID))),
    )


def entry_from(data: object) -> ListEntry:
    """A local-list entry from its stored form; raises ValueError or TypeError."""
    if not isinstance(data, dict):
        raise TypeError("a local-list entry is not an object")
    group = data.get("group")
    return ListEntry(
        value=_text(data, "id_token"),
        kind=_text(data, "type"),
        status=AuthStatus(str(data.get("status"))),
        group=group if isinstance(group, str) and group else None,
    )


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
        self._read_only = False
        self._handle: asyncio.TimerHandle | None = None
        self._unsubscribe: Callable[[], None] | None = None
        #: What could not be loaded, one sentence each.
        self.problems: list[str] = []

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
        if self._read_only:
            return
        try:
            write_text_atomic(self.path, json.dumps(serialise(self._book), indent=1, sort_keys=True))
        except OSError as err:
            _LOGGER.error("Cannot save the token list to %s: %s", self.path, err.strerror)

    def load(self) -> None:
        """Restore the book from disk, salvaging what can be read; never raises."""
        data = self._read()
        if data is None:
            return
        version = data.get("schema")
        if isinstance(version, int) and version > SCHEMA_VERSION:
            self._read_only = True
            self._problem(
                f"{FILE_NAME} was written by a newer version of the add-on (schema {version}); "
                "it is loaded as far as possible and not overwritten"
            )
        self._book.restore(self._each(data.get("tokens"), token_from, "token"), [])
        self._book.restore([], self._each(data.get("unknown"), unknown_from, "unknown token"))
        self._book.expire_unknown(now=utcnow())
        remote = data.get("remote_start")
        self._book.remote_start_ref = remote if isinstance(remote, str) and remote in self._book.tokens else None
        chargers = data.get("chargers")
        for charger_id, saved in (chargers if isinstance(chargers, dict) else {}).items():
            try:
                self._restore_charger(str(charger_id), saved)
            except (TypeError, ValueError) as err:
                self._problem(
                    f"the authorization settings of charger {str(charger_id)[:64]!r} could not be read ({err})"
                )
        if self.problems:
            self._keep_copy()  # the next save leaves out what could not be read

    def _restore_charger(self, charger_id: str, saved: object) -> None:
        if not isinstance(saved, dict):
            raise TypeError("not an object")
        auth = self._book.charger(charger_id)
        auth.policy = AuthPolicy(saved.get("policy", AuthPolicy.ACCEPT_ALL))
        local = saved.get("local_list")
        if isinstance(local, dict):
            version = local.get("version")
            entries = local.get("entries")
            auth.local_list.version = version if isinstance(version, int) and not isinstance(version, bool) else None
            if isinstance(entries, list) and auth.local_list.version is not None:
                parsed = [entry_from(item) for item in entries]
                auth.local_list.entries = {entry.key: entry for entry in parsed}

    def _each(self, items: object, parse: Callable[[object], Any], what: str) -> list[Any]:
        if items is None:
            return []
        if not isinstance(items, list):
            self._problem(f"the {what} list in {FILE_NAME} is not a list; starting without it")
            return []
        parsed = []
        skipped = 0
        for item in items:
            try:
                parsed.append(parse(item))
            except (TypeError, ValueError):
                skipped += 1
        if skipped:
            self._problem(f"{skipped} {what}(s) in {FILE_NAME} could not be read and were left out")
        return parsed

    def _read(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as err:
            self._problem(f"{FILE_NAME} cannot be read ({type(err).__name__}); starting with an empty token list")
            self._keep_copy()
            return None
        if not isinstance(data, dict):
            self._problem(f"{FILE_NAME} does not hold a JSON object; starting with an empty token list")
            self._keep_copy()
            return None
        return data

    def _problem(self, text: str) -> None:
        _LOGGER.warning("Token list problem: %s", text)
        self.problems.append(text)

    def _keep_copy(self) -> None:
        """Keep what could not be read, so the next save does not lose it."""
        target = self.path.with_name(f"{FILE_NAME}.corrupt-{utcnow().strftime('%Y%m%dT%H%M%SZ')}")
        try:
            shutil.copy2(self.path, target)
        except OSError as err:
            _LOGGER.error("Cannot keep a copy of %s: %s", self.path, err.strerror)
            return
        _LOGGER.warning("Kept a copy of %s as %s", FILE_NAME, target.name)

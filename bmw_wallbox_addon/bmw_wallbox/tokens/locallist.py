"""What a charger's local authorization list should hold, and the SendLocalList messages that get it there.

Pure functions, no I/O. The rules, from OCPP 2.0.1 (D01):

- The list holds the allowed tokens as ``Accepted`` (with their group), then,
  while there is room, the blocked ones as ``Blocked`` (so a blocked card is
  refused while the add-on is down, even if the charger's authorization cache
  still knows it). At most ``LocalAuthListCtrlr.Entries`` (its maxLimit)
  entries; tokens that do not fit are counted, in the order they were added.
- When the charger's version (GetLocalListVersion) is the one the add-on
  recorded after its last accepted update, and the add-on knows what that list
  holds, only the differences are sent: differential updates, removals first
  (so the list never outgrows the charger on the way), each with the next
  version. Nothing is sent when nothing differs.
- Otherwise (first sync, a charger reset to version 0, someone else changed
  the list) the whole list is sent: one full update, and when it does not fit
  in one message, differential updates with the rest.
- A message carries at most ``LocalAuthListCtrlr.ItemsPerMessage`` entries,
  and at most ``BytesPerMessage`` bytes where the charger says so. Versions
  only grow: each message has the version after the one before, starting one
  above both the charger's and the recorded version; version 0 is never sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from bmw_wallbox.ports import LocalListUpdate, UpdateType
from bmw_wallbox.tokenbook import AuthStatus, ListEntry, TokenBook

Entries = dict[tuple[str, str], ListEntry]

#: Bytes of a SendLocalList frame besides its entries (message id, action, version, update type).
FRAME_OVERHEAD_BYTES = 160


def wanted_entries(book: TokenBook, *, max_entries: int | None) -> tuple[Entries, int]:
    """The entries the list should hold and how many allowed tokens did not fit (see the module docstring)."""
    ordered = sorted(book.tokens.values(), key=lambda t: (not t.allowed, t.added_at))
    limit = len(ordered) if max_entries is None else max(0, max_entries)
    entries: Entries = {}
    for token in ordered[:limit]:
        status = AuthStatus.ACCEPTED if token.allowed else AuthStatus.BLOCKED
        entry = ListEntry(
            value=token.value, kind=token.kind, status=status, group=token.group if token.allowed else None
        )
        entries[entry.key] = entry
    left_out = sum(1 for token in ordered[limit:] if token.allowed)
    return entries, left_out


def item_bytes(entry: ListEntry | tuple[str, str]) -> int:
    """Bytes one item takes in the SendLocalList frame (an entry, or a removal given as (value, kind))."""
    if isinstance(entry, tuple):
        return len(json.dumps({"idToken": {"idToken": entry[0], "type": entry[1]}}))
    info: dict[str, object] = {"status": str(entry.status)}
    if entry.group:
        info["groupIdToken"] = {"idToken": entry.group, "type": "Central"}
    return len(json.dumps({"idToken": {"idToken": entry.value, "type": entry.kind}, "idTokenInfo": info}))


def _chunks(
    items: list[ListEntry | tuple[str, str]], *, per_message: int | None, max_bytes: int | None
) -> list[list[ListEntry | tuple[str, str]]]:
    """Split items into messages of at most ``per_message`` items and ``max_bytes`` bytes (at least one per message)."""
    chunks: list[list[ListEntry | tuple[str, str]]] = [[]]
    size = FRAME_OVERHEAD_BYTES
    for item in items:
        cost = item_bytes(item) + 1
        full = per_message is not None and len(chunks[-1]) >= max(1, per_message)
        too_big = max_bytes is not None and chunks[-1] and size + cost > max_bytes
        if full or too_big:
            chunks.append([])
            size = FRAME_OVERHEAD_BYTES
        chunks[-1].append(item)
        size += cost
    return chunks


def _update(kind: UpdateType, version: int, items: Iterable[ListEntry | tuple[str, str]]) -> LocalListUpdate:
    chosen = list(items)
    return LocalListUpdate(
        update_type=kind,
        version=version,
        entries=tuple(i for i in chosen if isinstance(i, ListEntry)),
        removed=tuple(i for i in chosen if isinstance(i, tuple)),
    )


def differences(known: Entries, wanted: Entries) -> tuple[list[tuple[str, str]], list[ListEntry]]:
    """What a differential update must remove, and add or change, to turn ``known`` into ``wanted``."""
    removed = [key for key in known if key not in wanted]
    changed = [entry for key, entry in wanted.items() if known.get(key) != entry]
    return removed, changed


def plan_updates(
    *,
    charger_version: int,
    recorded_version: int | None,
    known: Entries | None,
    wanted: Entries,
    per_message: int | None,
    max_bytes: int | None = None,
    force_full: bool = False,
) -> list[LocalListUpdate]:
    """The SendLocalList messages that turn the charger's list into ``wanted``, in order (empty: nothing to do)."""
    differential = not force_full and known is not None and recorded_version == charger_version and charger_version > 0
    if differential:
        assert known is not None
        removed, changed = differences(known, wanted)
        items: list[ListEntry | tuple[str, str]] = [*removed, *changed]
        if not items:
            return []
        chunks = _chunks(items, per_message=per_message, max_bytes=max_bytes)
        return [_update(UpdateType.DIFFERENTIAL, charger_version + 1 + n, chunk) for n, chunk in enumerate(chunks)]
    first = max(charger_version, recorded_version or 0, 0) + 1
    chunks = _chunks(list(wanted.values()), per_message=per_message, max_bytes=max_bytes)
    return [
        _update(UpdateType.FULL if n == 0 else UpdateType.DIFFERENTIAL, first + n, chunk)
        for n, chunk in enumerate(chunks)
    ]


def applied(known: Entries | None, update: LocalListUpdate) -> Entries:
    """What the charger's list holds after it accepted ``update`` (a differential on an unknown list: only its part)."""
    result: Entries = {} if update.update_type is UpdateType.FULL or known is None else dict(known)
    for key in update.removed:
        result.pop(key, None)
    for entry in update.entries:
        result[entry.key] = entry
    return result

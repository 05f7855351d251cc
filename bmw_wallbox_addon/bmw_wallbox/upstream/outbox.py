"""The messages waiting for the upstream, in order; transaction events and meter values kept on disk.

One :class:`Outbox` per forwarded charger, in ``upstream-<id>.json`` of the data
dir (written through :class:`~bmw_wallbox.jsonfile.JsonFile`, so atomically).
Transaction events and meter values are *durable*: they are written to the
file (in a worker thread, so the charger's next frame never waits for the
disk; changes that come meanwhile are written together right after), removed
only when the upstream answered them, and wait while the upstream is away,
also across a restart of the add-on. Other messages
(status, notifications) are sent while the upstream is connected and
forgotten when it goes away: the upstream gets the charger's status again
when it comes back.

At most ``bound`` durable messages wait. Beyond that the oldest meter values go
first, then the oldest ``Updated`` transaction events; ``Started`` and
``Ended`` events are never dropped for newer ones (a new one is dropped
instead). Each dropped message is counted (``dropped``, kept in the file too).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bmw_wallbox.jsonfile import JsonFile

#: Messages kept on disk until the upstream answered them.
DURABLE = frozenset({"TransactionEvent", "MeterValues"})
#: Durable messages kept at most (about 5 hours of 10 s meter values).
MAX_QUEUED = 2000
SCHEMA = 1


def outbox_path(data_dir: Path, charger_id: str) -> Path:
    """The queue file of one charger: its id made safe for a file name, plus a short hash (ids may differ by ``*``)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", charger_id)[:48]
    digest = hashlib.sha256(charger_id.encode("utf-8")).hexdigest()[:8]
    return data_dir / f"upstream-{safe}-{digest}.json"


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One message for the upstream: its number in the queue, the action and its camelCase payload."""

    number: int
    action: str
    payload: dict[str, Any]

    @property
    def durable(self) -> bool:
        """Kept on disk until answered."""
        return self.action in DURABLE

    @property
    def droppable_rank(self) -> int | None:
        """Which to drop first beyond the bound: meter values (0), then Updated events (1); None: never."""
        if self.action == "MeterValues":
            return 0
        if self.payload.get("eventType") == "Updated":
            return 1
        return None


class Outbox:
    """The ordered queue of one charger's messages for the upstream (see the module docstring)."""

    def __init__(
        self, path: Path, *, problems: list[str], bound: int = MAX_QUEUED, on_change: Callable[[], None] = lambda: None
    ) -> None:
        self._file = JsonFile(path, schema=SCHEMA, problems=problems)
        self._bound = bound
        self._entries: list[Entry] = []
        self._next = 0
        self.dropped = 0
        self._on_change = on_change
        self._arrived = asyncio.Event()
        self._dirty = False
        self._saver: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        """Messages waiting for the upstream."""
        return len(self._entries)

    def load(self) -> None:
        """Read the messages kept from before (a damaged file or entry is reported and left out)."""
        data = self._file.read(instead="the messages it kept are not sent to the upstream")
        if data is None:
            return
        dropped = data.get("dropped", 0)
        self.dropped = dropped if isinstance(dropped, int) and not isinstance(dropped, bool) and dropped >= 0 else 0
        raw = data.get("entries")
        entries = raw if isinstance(raw, list) else []
        bad = 0
        for item in entries[: self._bound]:
            if isinstance(item, dict) and item.get("action") in DURABLE and isinstance(item.get("payload"), dict):
                self._entries.append(Entry(number=self._next, action=item["action"], payload=item["payload"]))
                self._next += 1
            else:
                bad += 1
        if bad or not isinstance(raw, list):
            self._file.problem(f"{bad or 'all'} queued messages", "not a message", "they are not sent")
        self._changed(save=False)

    def put(self, action: str, payload: dict[str, Any]) -> None:
        """Queue a message (a durable one is written to the file at once, in a worker thread)."""
        entry = Entry(number=self._next, action=action, payload=payload)
        self._next += 1
        self._entries.append(entry)
        durable = entry.durable
        if durable and sum(1 for e in self._entries if e.durable) > self._bound:
            self._drop_one()
        self._arrived.set()
        self._changed(save=durable)

    def head(self) -> Entry | None:
        """The next message to send, if any."""
        return self._entries[0] if self._entries else None

    async def wait(self) -> Entry:
        """The next message to send, once there is one."""
        while not self._entries:
            self._arrived.clear()
            await self._arrived.wait()
        return self._entries[0]

    def answered(self, entry: Entry, *, dropped: bool = False) -> None:
        """The upstream answered ``entry`` (or it cannot be sent: ``dropped``, counted): it leaves the queue."""
        if entry in self._entries:
            self._entries.remove(entry)
            self.dropped += 1 if dropped else 0
            self._changed(save=entry.durable)

    def link_lost(self) -> None:
        """The upstream went away: forget what is not durable."""
        kept = [e for e in self._entries if e.durable]
        if len(kept) != len(self._entries):
            self._entries = kept
            self._changed(save=False)

    def _drop_one(self) -> None:
        ranked = [(rank, i) for i, e in enumerate(self._entries) if (rank := e.droppable_rank) is not None]
        index = min(ranked)[1] if ranked else len(self._entries) - 1
        del self._entries[index]
        self.dropped += 1

    def _changed(self, *, save: bool) -> None:
        if save:
            self._dirty = True
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # no event loop (a tool or a test): write now
                self._write()
            else:
                if self._saver is None or self._saver.done():
                    self._saver = asyncio.create_task(self._save())
        self._on_change()

    def _write(self) -> None:
        self._dirty = False
        entries = [{"action": e.action, "payload": e.payload} for e in self._entries if e.durable]
        self._file.write({"schema": SCHEMA, "dropped": self.dropped, "entries": entries})

    async def _save(self) -> None:
        """Write the queue in a worker thread, again while it changed meanwhile (one write at a time)."""
        while self._dirty:
            self._dirty = False
            entries = [{"action": e.action, "payload": e.payload} for e in self._entries if e.durable]
            data = {"schema": SCHEMA, "dropped": self.dropped, "entries": entries}
            await asyncio.to_thread(self._file.write, data)

    async def flush(self) -> None:
        """Wait until the file holds the queue as it is now."""
        while self._saver is not None and not self._saver.done():
            await asyncio.shield(self._saver)

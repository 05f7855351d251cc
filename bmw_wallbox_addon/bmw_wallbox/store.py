"""Persistence under the data dir: what a restart must not lose.

Each charger has one JSON file, ``<data-dir>/chargers/<quoted id>.json``
(its form: :mod:`bmw_wallbox.saved`); the ids that tried to connect without
being configured are kept in ``<data-dir>/unknown_chargers.json``. Both are
written and read through :class:`~bmw_wallbox.jsonfile.JsonFile`: atomically,
never with NaN or Infinity.

The store listens to :meth:`StateHub.commit` like any other consumer: a
change committed with ``Save.NOW`` (a transaction starting or ending, a
command's outcome) is written and fsynced before ``commit`` returns; one with
``Save.SOON`` (meter values) is collected for ``delay_s`` and written in a
worker thread, atomically but without fsync: a crash of the add-on keeps it,
a power cut may lose the last few seconds of readings, which the wallbox
reports again anyway. Each write carries a generation number, so an older
background write never replaces a newer one.

Saved: boot info and capabilities, the desired limit, the profile strategy,
the session history, and per EVSE the connector status, the energy register
(with its offset for registers that restart per transaction), the running
transaction and the last session. The store reads the state through
:meth:`ChargerState.saved` and puts it back through :meth:`ChargerState.restore`.

Damaged files never stop the add-on: a file that is not JSON, or JSON of the
wrong shape, is kept as ``<file>.corrupt-<time>`` and every part that can be
read is loaded (each part on its own); a part that holds what the model must
not (a number that is not finite or not plausible, a time without a zone) is
refused here and its default used. A file written by a newer version of the
add-on is loaded as far as it can be and never overwritten. Each problem is
logged once as a warning and listed in :attr:`Store.problems` (the panel's
setup page shows them).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bmw_wallbox.hub import StateHub
from bmw_wallbox.jsonfile import DAMAGE, JsonFile, encode, write_text_atomic
from bmw_wallbox.plainform import plain
from bmw_wallbox.saved import (
    SCHEMA_VERSION,
    SavedCharger,
    SavedEvse,
    aware_time,
    evse_parts,
    sessions_from,
    setpoint_from,
    to_json,
)
from bmw_wallbox.state import BootInfo, Capabilities, ChargerState, Save, utcnow
from bmw_wallbox.unknown_ids import UnknownId

_LOGGER = logging.getLogger(__name__)

__all__ = ["SCHEMA_VERSION", "Store"]

#: Version of ``unknown_chargers.json`` (files without a version are read as this one).
UNKNOWN_SCHEMA_VERSION = 1
DEFAULTS = "using defaults"
#: What a file of schema 2 holds, and each of its EVSEs (a missing one is damage).
TOP_KEYS = (
    "boot",
    "capabilities",
    "setpoint",
    "profile_strategy",
    "installed_profiles",
    "sessions",
    "last_auto_reset_at",
    "evses",
)
EVSE_KEYS = ("connector_status", "register_wh", "offset_wh", "register_read_at", "transaction", "last_session")


def unknown_id_from(key: object, data: object) -> UnknownId:
    """One saved unknown charger id; raises ValueError or TypeError."""
    if not isinstance(data, dict) or not isinstance(key, str):
        raise TypeError("an entry is not an object")
    attempts, address = data.get("attempts"), data.get("remote_address")
    now = utcnow()
    first, last = (
        aware_time(data.get("first_seen"), "first_seen", now=now),
        aware_time(data.get("last_seen"), "last_seen", now=now),
    )
    if last is None or isinstance(attempts, bool) or not isinstance(attempts, int) or not 0 < attempts < 10**9:
        raise ValueError("an entry needs last_seen and a count of attempts")
    return UnknownId(
        charger_id=key,
        attempts=attempts,
        first_seen=min(first or last, last),
        last_seen=last,
        remote_address=address[:64] if isinstance(address, str) else None,
    )


class Store:
    """Loads charger state and the unknown charger ids at start and saves them when a commit asks for it."""

    def __init__(self, data_dir: Path, hub: StateHub, *, delay_s: float = 1.0) -> None:
        self._dir = data_dir / "chargers"
        self._hub = hub
        self._delay_s = delay_s
        self._dirty: set[str] = set()
        self._flush_handle: asyncio.TimerHandle | None = None
        #: Generation of each charger's latest serialised state, and of the one on disk (under ``_lock``).
        self._generation: dict[str, int] = {}
        self._written: dict[str, int] = {}
        self._lock = threading.Lock()
        self._writer: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None
        self._read_only: set[str] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        #: What could not be loaded, one sentence each (for the log and the panel's setup page).
        self.problems: list[str] = []
        self._unknown = JsonFile(
            data_dir / "unknown_chargers.json", schema=UNKNOWN_SCHEMA_VERSION, problems=self.problems
        )

    def path_for(self, charger_id: str) -> Path:
        """The file that holds this charger's state."""
        return self._dir / f"{quote(charger_id, safe='')}.json"

    def attach(self) -> None:
        """Save on every commit that asks for it (charger states and the unknown ids)."""
        self._unsubscribe = [
            self._hub.subscribe(self._on_commit),
            self._hub.unknown_ids.subscribe(self._on_unknown_commit),
        ]

    def detach(self) -> None:
        """Stop listening to commits."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    def _on_commit(self, charger_id: str, save: Save) -> None:
        if save is Save.NOW:
            self.save_now(charger_id)
        elif save is Save.SOON:
            self.save_soon(charger_id)

    def _on_unknown_commit(self, save: Save) -> None:
        if save is not Save.NO:
            self.save_unknown()

    # --- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """Restore every configured charger's state and the unknown ids from disk, salvaging what can be read."""
        for charger in self._hub.chargers.values():
            file = JsonFile(self.path_for(charger.charger_id), schema=SCHEMA_VERSION, problems=self.problems)
            data = file.read(instead="starting without it")
            if data is None:
                continue
            if file.read_only:
                self._read_only.add(charger.charger_id)
            charger.restore(self._parse(charger, file, data))
        saved = self._unknown.read(instead="starting with an empty list of unknown charger ids")
        if saved is not None:
            entries: list[UnknownId] = []
            skipped = 0
            for key, item in saved.items():
                try:
                    entries.append(unknown_id_from(key, item))
                except DAMAGE:
                    skipped += 1
            if skipped:
                self._unknown.problem(
                    f"{skipped} unknown charger id(s)", "wrong kind or no time zone", "they are left out"
                )
            self._hub.unknown_ids.restore(entries, now=utcnow())

    def _parse(self, charger: ChargerState, file: JsonFile, data: dict[str, Any]) -> SavedCharger:
        """Every part of a charger's file that can be read, each on its own (see :mod:`bmw_wallbox.saved`)."""
        saved, now = SavedCharger(), utcnow()

        def profiles() -> None:
            strategy, installed = data.get("profile_strategy"), data.get("installed_profiles", [])
            if not (strategy is None or isinstance(strategy, str)) or not isinstance(installed, list):
                raise TypeError("profile_strategy or installed_profiles is of the wrong kind")
            if len(installed) > 16 or not all(isinstance(item, str) and len(item) <= 64 for item in installed):
                raise TypeError("installed_profiles holds something other than profile names")
            saved.profile_strategy = strategy[:64] if strategy else None
            saved.installed_profiles = list(installed)

        def sessions() -> None:
            saved.sessions, skipped = sessions_from(data.get("sessions"))
            if skipped:
                file.problem(f"{skipped} session(s)", "wrong kind or implausible values", "they are left out")

        def last_reset() -> None:
            saved.last_auto_reset_at = aware_time(data.get("last_auto_reset_at"), "last_auto_reset_at", now=now)

        def setpoint() -> None:
            saved.setpoint = setpoint_from(data.get("setpoint"), charger.max_current_a)

        parts: list[tuple[str, Callable[[], None]]] = [
            ("the boot info", lambda: setattr(saved, "boot", plain(BootInfo, data.get("boot", {})))),
            (
                "the capabilities",
                lambda: setattr(saved, "capabilities", plain(Capabilities, data.get("capabilities", {}))),
            ),
            ("the setpoint", setpoint),
            ("the profiles", profiles),
            ("the sessions", sessions),
            ("the last automatic reset", last_reset),
        ]
        self._report_missing(file, data, TOP_KEYS, "")
        evses = data.get("evses") or {}
        if not isinstance(evses, dict):
            file.problem("the EVSEs", "evses is not an object", DEFAULTS)
            evses = {}
        for key, evse_data in list(evses.items())[:16]:
            self._evse_parts(file, saved, key, evse_data, parts, now=now)
        for what, restore in parts:
            file.part(what, restore, instead=DEFAULTS)
        return saved

    @staticmethod
    def _report_missing(file: JsonFile, data: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
        """Report the keys a file of schema 2 always has but this one lacks (older forms lack some)."""
        if file.schema_seen >= SCHEMA_VERSION:
            missing = [key for key in keys if key not in data]
            if missing:
                file.problem(f"{', '.join(missing)}{where}", "missing", DEFAULTS)

    @staticmethod
    def _evse_parts(
        file: JsonFile,
        saved: SavedCharger,
        key: str,
        data: object,
        parts: list[tuple[str, Callable[[], None]]],
        *,
        now: datetime,
    ) -> None:
        """Add the parts of one saved EVSE to ``parts`` (an EVSE that is no object is reported at once)."""
        shown = key[:16]
        evse_id = ChargerState.tracked_id(int(key)) if key.isdigit() and len(key) < 4 else None
        if evse_id is None or not isinstance(data, dict):
            file.problem(f"EVSE {shown!r}", "it is not an EVSE number with an object", DEFAULTS)
            return
        Store._report_missing(file, data, EVSE_KEYS, f" of EVSE {evse_id}")
        evse = SavedEvse(evse_id=evse_id)
        saved.evses.append(evse)
        parts.extend((f"the {what} of EVSE {evse_id}", restore) for what, restore in evse_parts(evse, data, now=now))

    # --- saving ----------------------------------------------------------------------------

    def serialise(self, charger: ChargerState) -> dict[str, Any]:
        """The stored form of a charger's state (see :mod:`bmw_wallbox.saved`)."""
        return to_json(charger.saved(), charger.charger_id)

    def _serialised(self, charger_id: str) -> tuple[int, str] | None:
        """This charger's state as the JSON text to write, with its generation.

        Encoded on the event loop's thread: the state must not change while it is read.
        """
        charger = self._hub.chargers.get(charger_id)
        if charger is None or charger_id in self._read_only:
            return None
        try:
            text = encode(self.serialise(charger))
        except ValueError as err:  # never write NaN or Infinity; the model should not hold them
            _LOGGER.error("Not saving the state of %s: %s", charger_id, err)
            return None
        generation = self._generation[charger_id] = self._generation.get(charger_id, 0) + 1
        return generation, text

    def _write(self, charger_id: str, generation: int, text: str, *, durable: bool = True) -> None:
        """Write one state unless a newer one is on disk already (any thread)."""
        with self._lock:
            if self._written.get(charger_id, 0) > generation:
                return
            try:
                write_text_atomic(self.path_for(charger_id), text, durable=durable)
            except OSError as err:
                _LOGGER.error("Cannot save the state of %s to %s: %s", charger_id, self._dir, err)
                return
            self._written[charger_id] = generation

    def _write_batch(self, batch: list[tuple[str, int, str]]) -> None:
        for charger_id, generation, text in batch:
            self._write(charger_id, generation, text, durable=False)

    def save_now(self, charger_id: str) -> None:
        """Write this charger's state at once and durably (transaction start/end, a command, shutdown)."""
        self._dirty.discard(charger_id)
        serialised = self._serialised(charger_id)
        if serialised is not None:
            self._write(charger_id, *serialised)

    def save_soon(self, charger_id: str) -> None:
        """Mark a charger dirty; it is written within ``delay_s`` (in the background)."""
        self._dirty.add(charger_id)
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(self._delay_s, self._flush_in_background)

    def _flush_in_background(self) -> None:
        """Serialise every dirty charger now and hand the writing to the worker thread."""
        self._flush_handle = None
        if self._pending is not None and not self._pending.done():
            # The last batch is still being written: collect more and try again later.
            self._flush_handle = asyncio.get_running_loop().call_later(self._delay_s, self._flush_in_background)
            return
        batch = []
        for charger_id in sorted(self._dirty):
            serialised = self._serialised(charger_id)
            if serialised is not None:
                batch.append((charger_id, *serialised))
        self._dirty.clear()
        if batch:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
            self._pending = self._writer.submit(self._write_batch, batch)

    def save_unknown(self) -> None:
        """Write the ids that tried to connect without being configured (as :meth:`UnknownIds.commit` asks)."""
        self._unknown.write({entry.charger_id: entry.to_json() for entry in self._hub.unknown_ids.entries()})

    def flush(self) -> None:
        """Write every dirty charger now and wait for background writes (at shutdown)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        for charger_id in sorted(self._dirty):
            self.save_now(charger_id)
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
            self._pending = None

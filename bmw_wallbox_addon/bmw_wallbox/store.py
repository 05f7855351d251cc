"""Persistence under the data dir: what a restart must not lose.

Each charger has one JSON file, ``<data-dir>/chargers/<quoted id>.json``,
written atomically (temporary file, fsync, rename), so a crash leaves either
the old or the new content, never half of one.

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
transaction and the last session.

Damaged files never stop the add-on: a file that is not JSON, or JSON of the
wrong shape, is kept as ``<file>.corrupt-<time>`` and every part that can be
read is loaded (each part on its own); a file written by a newer version of
the add-on is loaded as far as it can be and never overwritten. Each problem
is logged once as a warning and listed in :attr:`Store.problems` (the panel's
setup page shows them).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bmw_wallbox import unknown_ids
from bmw_wallbox.state import (
    BootInfo,
    Capabilities,
    ChargerState,
    ConnectorStatus,
    Save,
    SessionRecord,
    Setpoint,
    Source,
    StateHub,
    Transaction,
    utcnow,
)

_LOGGER = logging.getLogger(__name__)

#: Version of the stored form: 2 keeps the register with its offset, the connector status and sessions in Wh.
SCHEMA_VERSION = 2


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _raise(error: Exception) -> None:
    raise error


def write_json_atomic(path: Path, data: object) -> None:
    """Write ``data`` as JSON to ``path`` so that readers see the old or the new file, never a torn one."""
    write_text_atomic(path, _encode(data))


def _encode(data: object) -> str:
    return json.dumps(data, indent=1, sort_keys=True)


def write_text_atomic(path: Path, text: str, *, durable: bool = True) -> None:
    """Write ``text`` to ``path`` atomically (temporary file, rename); ``durable`` adds the fsyncs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if not durable:
        return
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _dataclass_from(cls: type[Any], data: object) -> Any:
    """A dataclass of plain fields from its stored form; a value of the wrong kind raises TypeError."""
    if not isinstance(data, dict):
        raise TypeError(f"expected an object, found {type(data).__name__}")
    default = cls()
    values: dict[str, Any] = {}
    for item in fields(cls):
        if item.name not in data:
            continue
        value, expected = data[item.name], getattr(default, item.name)
        if isinstance(expected, (list, dict)):
            ok = isinstance(value, type(expected))
        else:
            ok = value is None or isinstance(value, (str, int, float, bool))
        if not ok:
            raise TypeError(f"{item.name} is {type(value).__name__}")
        values[item.name] = value
    return cls(**values)


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class Store:
    """Loads charger state at start and saves it when a commit asks for it (see the module docstring)."""

    def __init__(self, data_dir: Path, hub: StateHub, *, delay_s: float = 1.0) -> None:
        self._dir = data_dir / "chargers"
        self._unknown_path = data_dir / "unknown_chargers.json"
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
        self._unsubscribe: Callable[[], None] | None = None
        #: What could not be loaded, one sentence each (for the log and the panel's setup page).
        self.problems: list[str] = []

    def path_for(self, charger_id: str) -> Path:
        """The file that holds this charger's state."""
        return self._dir / f"{quote(charger_id, safe='')}.json"

    def attach(self) -> None:
        """Save on every commit that asks for it."""
        self._unsubscribe = self._hub.subscribe(self._on_commit)

    def detach(self) -> None:
        """Stop listening to commits."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_commit(self, charger_id: str, save: Save) -> None:
        if save is Save.NOW:
            self.save_now(charger_id)
        elif save is Save.SOON:
            self.save_soon(charger_id)

    # --- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """Restore every configured charger's state from disk, salvaging what can be read."""
        for charger in self._hub.chargers.values():
            path = self.path_for(charger.charger_id)
            data = self._read(path)
            if data is None:
                continue
            version = data.get("schema")
            if isinstance(version, int) and version > SCHEMA_VERSION:
                self._read_only.add(charger.charger_id)
                self._problem(
                    f"{path.name} was written by a newer version of the app (schema {version}); "
                    "it is loaded as far as possible and not overwritten: install the newer version again"
                )
            if not self._restore(charger, data):
                self._keep_copy(path)
        unknown = self._read(self._unknown_path)
        if unknown:
            self._hub.unknown_ids.update(unknown_ids.loaded(unknown, now=utcnow()))

    def _read(self, path: Path) -> dict[str, Any] | None:
        """A JSON object from ``path``; a missing file gives None, a damaged one is kept aside and gives None."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as err:
            self._problem(f"{path.name} cannot be read ({type(err).__name__}); starting without it")
            self._keep_copy(path)
            return None
        if not isinstance(data, dict):
            self._problem(f"{path.name} does not hold a JSON object; starting without it")
            self._keep_copy(path)
            return None
        return data

    def _problem(self, text: str) -> None:
        _LOGGER.warning("State file problem: %s", text)
        self.problems.append(text)

    def _keep_copy(self, path: Path) -> None:
        """Keep what could not be read as ``<file>.corrupt-<time>``, so nothing is lost by the next save."""
        target = path.with_name(f"{path.name}.corrupt-{utcnow().strftime('%Y%m%dT%H%M%SZ')}")
        try:
            shutil.copy2(path, target)
        except OSError as err:
            _LOGGER.error("Cannot keep a copy of %s: %s", path, err)
            return
        _LOGGER.warning("Kept a copy of %s as %s", path.name, target.name)

    def _restore(self, charger: ChargerState, data: dict[str, Any]) -> bool:
        """Load every part that can be read; False when some part could not be."""
        parts: list[tuple[str, Callable[[], None]]] = [
            ("boot", lambda: setattr(charger, "boot", _dataclass_from(BootInfo, data.get("boot", {})))),
            (
                "capabilities",
                lambda: setattr(charger, "capabilities", _dataclass_from(Capabilities, data.get("capabilities", {}))),
            ),
            ("setpoint", lambda: self._restore_setpoint(charger, data.get("setpoint"))),
            ("profiles", lambda: self._restore_profiles(charger, data)),
            ("sessions", lambda: self._restore_sessions(charger, data.get("sessions"))),
            (
                "last automatic reset",
                lambda: setattr(charger, "last_auto_reset_at", _time(data.get("last_auto_reset_at"))),
            ),
        ]
        evses = data.get("evses") or {}
        if isinstance(evses, dict):
            for key, evse_data in evses.items():
                parts.append((f"evse {key}", functools.partial(self._restore_evse, charger, key, evse_data)))
        else:
            parts.append(("evses", lambda: _raise(TypeError("evses is not an object"))))
        whole = True
        for name, load in parts:
            try:
                load()
            except (TypeError, ValueError, KeyError, AttributeError) as err:
                whole = False
                self._problem(f"the {name} of charger {charger.charger_id!r} could not be read ({err}); using defaults")
        return whole

    @staticmethod
    def _restore_setpoint(charger: ChargerState, setpoint: object) -> None:
        if setpoint is None:
            return
        if not isinstance(setpoint, dict) or _number(setpoint.get("limit_a")) is None:
            raise ValueError("setpoint needs limit_a")
        limit = min(float(setpoint["limit_a"]), float(charger.max_current_a))
        charger.desired = Setpoint(limit_a=limit, paused=bool(setpoint.get("paused", False)))

    @staticmethod
    def _restore_profiles(charger: ChargerState, data: dict[str, Any]) -> None:
        strategy = data.get("profile_strategy")
        charger.profile_strategy = strategy if isinstance(strategy, str) else None
        installed = data.get("installed_profiles")
        charger.installed_profiles = [str(p) for p in installed] if isinstance(installed, list) else []

    @staticmethod
    def _restore_sessions(charger: ChargerState, sessions: object) -> None:
        if sessions is None:
            return
        if not isinstance(sessions, list):
            raise TypeError("sessions is not a list")
        records = []
        for item in sessions:
            if isinstance(item, dict):
                try:
                    records.append(SessionRecord.from_json(item))
                except ValueError:
                    continue
        charger.sessions = records

    @staticmethod
    def _restore_evse(charger: ChargerState, key: str, data: object) -> None:
        if not isinstance(data, dict):
            raise TypeError("an EVSE is not an object")
        evse = charger.evse(ChargerState.tracked_id(int(key)))
        meter = evse.meter
        # Schema 1 kept only the register, as "energy_wh".
        register = _number(data.get("register_wh", data.get("energy_wh")))
        meter.register_wh = register
        meter.offset_wh = _number(data.get("offset_wh")) or 0.0
        meter.register_read_at = _time(data.get("register_read_at"))
        meter.register_seen_at = _time(data.get("register_seen_at"))
        status = data.get("connector_status")
        if status in {s.value for s in ConnectorStatus}:
            evse.connector_status = ConnectorStatus(status)
            evse.status_source = Source.RESTORED
        tx = data.get("transaction")
        evse.transaction = Transaction.from_json(tx) if isinstance(tx, dict) else None
        last = data.get("last_session")
        evse.last_session = SessionRecord.from_json(last) if isinstance(last, dict) else None

    # --- saving ----------------------------------------------------------------------------

    def serialise(self, charger: ChargerState) -> dict[str, Any]:
        """The stored form of a charger's state."""
        return {
            "schema": SCHEMA_VERSION,
            "id": charger.charger_id,
            "boot": asdict(charger.boot),
            "capabilities": asdict(charger.capabilities),
            "setpoint": asdict(charger.desired),
            "profile_strategy": charger.profile_strategy,
            "installed_profiles": charger.installed_profiles,
            "sessions": [record.to_store() for record in charger.sessions],
            "last_auto_reset_at": charger.last_auto_reset_at.isoformat() if charger.last_auto_reset_at else None,
            "evses": {
                str(evse.evse_id): {
                    "connector_status": evse.connector_status,
                    "register_wh": evse.meter.register_wh,
                    "offset_wh": evse.meter.offset_wh,
                    "register_read_at": _iso(evse.meter.register_read_at),
                    "register_seen_at": _iso(evse.meter.register_seen_at),
                    "transaction": evse.transaction.to_json() if evse.transaction else None,
                    "last_session": evse.last_session.to_store() if evse.last_session else None,
                }
                for evse in charger.evses.values()
            },
        }

    def _serialised(self, charger_id: str) -> tuple[int, str] | None:
        """This charger's state as the JSON text to write, with its generation.

        Encoded on the event loop's thread: the state must not change while it is read.
        """
        charger = self._hub.chargers.get(charger_id)
        if charger is None or charger_id in self._read_only:
            return None
        generation = self._generation[charger_id] = self._generation.get(charger_id, 0) + 1
        return generation, _encode(self.serialise(charger))

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
        """Write the ids that tried to connect without being configured."""
        try:
            write_json_atomic(self._unknown_path, self._hub.unknown_ids)
        except OSError as err:
            _LOGGER.error("Cannot save %s: %s", self._unknown_path, err)

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

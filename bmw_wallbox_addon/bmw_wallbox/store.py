"""Persistence under the data dir: what a restart must not lose.

Each charger has one JSON file, ``<data-dir>/chargers/<quoted id>.json``,
written atomically (temporary file, fsync, rename), so a crash leaves either
the old or the new content, never half of one.

Two ways to save: :meth:`Store.save_now` writes and fsyncs before it returns
(a transaction starting or ending, a new limit, is on disk before anyone gets
an answer); :meth:`Store.save_soon` (meter values) collects changes for
``delay_s`` and writes them in a worker thread, atomically but without
fsync: a crash of the add-on keeps them, a power cut may lose the last few
seconds of readings, which the wallbox reports again anyway. So hundreds of
chargers' meter values neither hold up the event loop nor queue the disk in
front of the writes that must be durable. Each write carries a generation
number, so an older background write never replaces a newer one. Saved: the lifetime energy
register, the running transaction, boot info and capabilities, and any extra
sections other parts register (the charging setpoint, for example).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bmw_wallbox import unknown_ids
from bmw_wallbox.state import BootInfo, Capabilities, ChargerState, Setpoint, StateHub, Transaction, utcnow

_LOGGER = logging.getLogger(__name__)

SCHEMA_VERSION = 1


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


def read_json(path: Path) -> dict[str, Any] | None:
    """Read a JSON object; a missing file gives None, a corrupt one is logged and gives None."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        _LOGGER.error("Ignoring unreadable state file %s: %s", path, err)
        return None
    return data if isinstance(data, dict) else None


def _dataclass_from(cls: type[Any], data: object) -> Any:
    if not isinstance(data, dict):
        return cls()
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


class Store:
    """Loads charger state at start and saves it when it changes (at most once per ``delay_s``)."""

    def __init__(self, data_dir: Path, hub: StateHub, *, delay_s: float = 1.0) -> None:
        self._dir = data_dir / "chargers"
        self._unknown_path = data_dir / "unknown_chargers.json"
        self._hub = hub
        self._delay_s = delay_s
        self._dirty: set[str] = set()
        self._flush_handle: asyncio.TimerHandle | None = None
        self.extra: dict[str, dict[str, Any]] = {}
        #: Generation of each charger's latest serialised state, and of the one on disk (under ``_lock``).
        self._generation: dict[str, int] = {}
        self._written: dict[str, int] = {}
        self._lock = threading.Lock()
        self._writer: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None

    def path_for(self, charger_id: str) -> Path:
        """The file that holds this charger's state."""
        return self._dir / f"{quote(charger_id, safe='')}.json"

    def load(self) -> None:
        """Restore every configured charger's state from disk."""
        for charger in self._hub.chargers.values():
            data = read_json(self.path_for(charger.charger_id))
            if data is None:
                continue
            self._restore(charger, data)
        unknown = read_json(self._unknown_path)
        if unknown:
            self._hub.unknown_ids.update(unknown_ids.loaded(unknown, now=utcnow()))

    def _restore(self, charger: ChargerState, data: dict[str, Any]) -> None:
        charger.boot = _dataclass_from(BootInfo, data.get("boot"))
        charger.capabilities = _dataclass_from(Capabilities, data.get("capabilities"))
        for key, evse_data in (data.get("evses") or {}).items():
            evse = charger.evse(int(key))
            energy = evse_data.get("energy_wh")
            if isinstance(energy, (int, float)):
                evse.meter.energy_wh = float(energy)
            tx = evse_data.get("transaction")
            if isinstance(tx, dict):
                try:
                    evse.transaction = Transaction.from_json(tx)
                except (KeyError, ValueError, TypeError) as err:
                    _LOGGER.error("Ignoring unreadable transaction of %s: %s", charger.charger_id, err)
            evse.last_session = evse_data.get("last_session")
        setpoint = data.get("setpoint")
        if isinstance(setpoint, dict) and isinstance(setpoint.get("limit_a"), (int, float)):
            limit = min(float(setpoint["limit_a"]), float(charger.max_current_a))
            charger.setpoint = Setpoint(limit_a=limit, paused=bool(setpoint.get("paused", False)))
        strategy = data.get("profile_strategy")
        charger.profile_strategy = strategy if isinstance(strategy, str) else None
        installed = data.get("installed_profiles")
        charger.installed_profiles = [str(p) for p in installed] if isinstance(installed, list) else []
        sessions = data.get("sessions")
        charger.sessions = [s for s in sessions if isinstance(s, dict)] if isinstance(sessions, list) else []
        reset_at = data.get("last_auto_reset_at")
        if isinstance(reset_at, str):
            charger.last_auto_reset_at = datetime.fromisoformat(reset_at)
        self.extra[charger.charger_id] = {k: v for k, v in (data.get("extra") or {}).items()}

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
            "sessions": charger.sessions,
            "last_auto_reset_at": charger.last_auto_reset_at.isoformat() if charger.last_auto_reset_at else None,
            "evses": {
                str(evse.evse_id): {
                    "energy_wh": evse.meter.energy_wh,
                    "transaction": evse.transaction.to_json() if evse.transaction else None,
                    "last_session": evse.last_session,
                }
                for evse in charger.evses.values()
            },
            "extra": self.extra.get(charger.charger_id, {}),
        }

    def _serialised(self, charger_id: str) -> tuple[int, str] | None:
        """This charger's state as the JSON text to write, with its generation.

        Encoded on the event loop's thread: the state must not change while it is read.
        """
        charger = self._hub.chargers.get(charger_id)
        if charger is None:
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
        """Write this charger's state at once (transaction start/end, shutdown)."""
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

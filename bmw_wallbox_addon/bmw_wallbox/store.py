"""Persistence under the data dir: what a restart must not lose.

Each charger has one JSON file, ``<data-dir>/chargers/<quoted id>.json``,
written atomically (temporary file, fsync, rename), so a crash leaves either
the old or the new content, never half of one. Saved: the lifetime energy
register, the running transaction, boot info and capabilities, and any extra
sections other parts register (the charging setpoint, for example).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bmw_wallbox.state import BootInfo, Capabilities, ChargerState, Setpoint, StateHub, Transaction

_LOGGER = logging.getLogger(__name__)

SCHEMA_VERSION = 1


def write_json_atomic(path: Path, data: object) -> None:
    """Write ``data`` as JSON to ``path`` so that readers see the old or the new file, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
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
            self._hub.unknown_ids.update({k: v for k, v in unknown.items() if isinstance(v, dict)})

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

    def save_now(self, charger_id: str) -> None:
        """Write this charger's state at once (transaction start/end, shutdown)."""
        self._dirty.discard(charger_id)
        charger = self._hub.chargers.get(charger_id)
        if charger is None:
            return
        try:
            write_json_atomic(self.path_for(charger_id), self.serialise(charger))
        except OSError as err:
            _LOGGER.error("Cannot save the state of %s to %s: %s", charger_id, self._dir, err)

    def save_soon(self, charger_id: str) -> None:
        """Mark a charger dirty; it is written within ``delay_s``."""
        self._dirty.add(charger_id)
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(self._delay_s, self.flush)

    def save_unknown(self) -> None:
        """Write the ids that tried to connect without being configured."""
        try:
            write_json_atomic(self._unknown_path, self._hub.unknown_ids)
        except OSError as err:
            _LOGGER.error("Cannot save %s: %s", self._unknown_path, err)

    def flush(self) -> None:
        """Write every dirty charger now."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        for charger_id in sorted(self._dirty):
            self.save_now(charger_id)

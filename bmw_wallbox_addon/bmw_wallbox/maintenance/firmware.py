"""The firmware files uploaded in the panel (``<data dir>/maintenance/firmware``), served to chargers.

At most ``MAX_FIRMWARE_FILES`` are kept; uploading one more removes the
oldest. Names are kept as uploaded when they are safe (:func:`.files.safe_name`),
else refused. The SHA-256 of each file is computed once per size and mtime.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bmw_wallbox.maintenance.files import MAX_FILE_BYTES, file_sha256, receive, safe_name

#: Firmware files kept at most.
MAX_FIRMWARE_FILES = 3


class FirmwareFiles:
    """The firmware folder."""

    def __init__(self, folder: Path, *, cap: int = MAX_FILE_BYTES) -> None:
        self.folder = folder
        self.cap = cap
        self._sha: dict[tuple[str, int, int], str] = {}
        self._newest: tuple[str | None] | None = None

    def path(self, name: str) -> Path | None:
        """The file with this name, None when there is none (or the name is not one we keep)."""
        safe = safe_name(name)
        if safe is None or safe != name:
            return None
        path = self.folder / safe
        return path if path.is_file() else None

    def _files(self) -> list[Path]:
        try:
            return sorted(
                (p for p in self.folder.iterdir() if p.is_file() and safe_name(p.name) == p.name),
                key=lambda p: p.stat().st_mtime,
            )
        except FileNotFoundError:
            return []

    def newest(self) -> str | None:
        """The name of the newest file (None without one); read from disk once, then kept as :meth:`add` changes it."""
        if self._newest is None:
            files = self._files()
            self._newest = (files[-1].name if files else None,)
        return self._newest[0]

    def listing(self) -> list[dict[str, Any]]:
        """``name``, ``size``, ``sha256`` and ``uploaded_at`` of each file, newest first."""
        items = []
        for path in reversed(self._files()):
            stat = path.stat()
            key = (path.name, stat.st_size, stat.st_mtime_ns)
            if key not in self._sha:
                self._sha[key] = file_sha256(path)
            items.append(
                {
                    "name": path.name,
                    "size": stat.st_size,
                    "sha256": self._sha[key],
                    "uploaded_at": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(),
                }
            )
        return items

    async def add(self, name: str, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        """Store an uploaded file (replacing one of the same name); raises TooLargeError past the cap."""
        received = await receive(chunks, self.folder / name, cap=self.cap, progress=lambda size: None)
        for old in self._files()[:-MAX_FIRMWARE_FILES]:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
        self._newest = None
        stat = (self.folder / name).stat()
        self._sha[(name, stat.st_size, stat.st_mtime_ns)] = received.sha256
        return {"name": name, "size": received.size, "sha256": received.sha256}

"""Files of the maintenance folder: receiving one with a size cap, and the names and folders they get.

Everything lives under ``<data dir>/maintenance``: ``logs/<charger id, percent-encoded>/<log id>.log``
(with ``logs.json``, the list of that charger's logs) and ``firmware/<name>``. A
file is received into a hidden ``.part`` file next to its final place and
renamed once complete; past the cap, or when the sender stops, the part file
is deleted, so nothing partial stays on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

#: Largest file accepted, in bytes (a charger's log or a firmware image).
MAX_FILE_BYTES = 50 * 1024 * 1024
#: Bytes read and written at a time.
CHUNK_BYTES = 64 * 1024
#: A file name we keep: letters, digits, ``.``, ``_``, ``-``, not starting with a dot, at most 100 characters.
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


class TooLargeError(Exception):
    """The file is larger than the cap (nothing of it was kept)."""


@dataclass(frozen=True)
class Received:
    """A file received whole: its size in bytes and its SHA-256 (hex)."""

    size: int
    sha256: str


def safe_name(name: str | None) -> str | None:
    """``name``'s last path part if it is a name we keep (see ``_SAFE_NAME``), else None."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base if _SAFE_NAME.fullmatch(base) else None


def shown_name(name: str | None) -> str | None:
    """A name from a charger or a browser, cut to a name we keep (unsafe characters as ``_``), or None."""
    if not name:
        return None
    base = re.sub(r"[^A-Za-z0-9._-]", "_", name.replace("\\", "/").rsplit("/", 1)[-1]).lstrip(".")[:100]
    return base or None


def charger_folder(root: Path, charger_id: str) -> Path:
    """The folder of one charger's files under ``root`` (the id percent-encoded: one path part, never ``..``)."""
    return root / quote(charger_id, safe="").replace(".", "%2E")


async def receive(
    chunks: AsyncIterator[bytes], final: Path, *, cap: int = MAX_FILE_BYTES, progress: Callable[[int], None]
) -> Received:
    """Write ``chunks`` to ``final`` (replacing it) through a part file; ``progress(bytes so far)`` after each.

    Raises :class:`TooLargeError` as soon as more than ``cap`` bytes came; then,
    as on any other error or cancellation, the part file is deleted.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(f".{final.name}.part")
    digest = hashlib.sha256()
    size = 0
    try:
        with part.open("wb") as handle:
            async for chunk in chunks:
                size += len(chunk)
                if size > cap:
                    raise TooLargeError(f"larger than {cap} bytes")
                handle.write(chunk)
                digest.update(chunk)
                progress(size)
        os.replace(part, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
    return Received(size=size, sha256=digest.hexdigest())


def file_sha256(path: Path) -> str:
    """The SHA-256 (hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()

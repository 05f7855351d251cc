"""One way to keep a JSON file in the data dir: atomic writes, salvaging reads, one wording for problems.

Every file the add-on keeps (each charger's state, the token list, the unknown
charger ids) goes through a :class:`JsonFile`:

- Writing (:func:`write_text_atomic`, :meth:`JsonFile.write`): a temporary file
  in the same folder (created with mode 0600, so only the add-on's user can
  read it), fsync, rename over the old one, fsync of the folder. Readers see the
  old or the new file, never half of one. :func:`encode` refuses NaN and
  Infinity (``ValueError``): no file is ever written with them.
- Reading (:meth:`JsonFile.read`): the JSON object in the file. A missing file
  gives None; a file that cannot be read, is not JSON or holds no object is
  reported, kept as ``<name>.corrupt-<time>`` and gives None. A ``schema``
  newer than this version is reported, the file is loaded as far as possible
  and never overwritten (:attr:`JsonFile.read_only`).
- Salvaging (:meth:`JsonFile.part`): each part of a file is restored on its
  own; a part that cannot be read is reported, the rest still loads, and the
  file is kept aside once (the next save leaves that part out).

Each problem is logged once as a warning and appended to the ``problems`` list
the caller gives (the panel's setup page shows it), always in the form
``<file>: <what> could not be read (<why>); <what happens instead>``.
Loading never raises because of a file's content.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_LOGGER = logging.getLogger(__name__)

#: What restoring a damaged part may raise (anything else is a bug, not damage).
DAMAGE = (TypeError, ValueError, KeyError, AttributeError, ArithmeticError, RecursionError)


def encode(data: object) -> str:
    """``data`` as the JSON text of a file; raises ValueError for NaN or Infinity."""
    return json.dumps(data, indent=1, sort_keys=True, allow_nan=False)


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


def reason(err: BaseException) -> str:
    """A short reason for a problem: the error's message, or its kind when it has none."""
    text = str(err).strip()
    return text[:120] if text else type(err).__name__


class JsonFile:
    """One JSON file of the data dir with its schema version (see the module docstring)."""

    def __init__(self, path: Path, *, schema: int, problems: list[str]) -> None:
        self.path = path
        self.schema = schema
        self.problems = problems
        #: True once the file turned out to be of a newer schema: it is never written then.
        self.read_only = False
        #: The ``schema`` the file said it has (0: none, or not a number).
        self.schema_seen = 0
        self._kept = False

    @property
    def name(self) -> str:
        """The file's name, as problems name it."""
        return self.path.name

    def problem(self, what: str, why: str, instead: str, *, keep: bool = True) -> None:
        """Report ``<file>: <what> could not be read (<why>); <instead>``; ``keep`` keeps a copy of the file."""
        text = f"{self.name}: {what} could not be read ({why}); {instead}"
        _LOGGER.warning("Data file problem: %s", text)
        self.problems.append(text)
        if keep:
            self.keep_copy()

    def read(self, *, instead: str) -> dict[str, Any] | None:
        """The object in the file (None: missing or damaged; ``instead`` says what the add-on does then)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as err:
            self.problem("the file", type(err).__name__, instead)
            return None
        if not isinstance(data, dict):
            self.problem("the file", f"it holds {type(data).__name__}, not an object", instead)
            return None
        version = data.get("schema")
        if isinstance(version, int) and not isinstance(version, bool):
            self.schema_seen = version
        if self.schema_seen > self.schema:
            self.read_only = True
            self.problem(
                "every part",
                f"it was written by a newer version of the app, schema {min(self.schema_seen, 10**6)}",
                "it is loaded as far as possible and not overwritten: install the newer version again",
                keep=False,
            )
        return data

    def part(self, what: str, restore: Callable[[], None], *, instead: str) -> bool:
        """Run ``restore`` for one part; damage is reported (and the file kept aside); False then."""
        try:
            restore()
        except DAMAGE as err:
            self.problem(what, reason(err), instead)
            return False
        return True

    def write(self, data: object, *, durable: bool = True) -> bool:
        """Write ``data`` atomically unless the file is of a newer version; False when it was not written."""
        if self.read_only:
            return False
        try:
            write_text_atomic(self.path, encode(data), durable=durable)
        except (OSError, ValueError) as err:
            _LOGGER.error("Cannot save %s: %s", self.path, reason(err))
            return False
        return True

    def keep_copy(self) -> None:
        """Keep the file as it is as ``<name>.corrupt-<time>`` (once), so nothing is lost by the next save."""
        if self._kept or not self.path.exists():
            return
        self._kept = True
        target = self.path.with_name(f"{self.name}.corrupt-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}")
        try:
            shutil.copy2(self.path, target)
        except OSError as err:
            _LOGGER.error("Cannot keep a copy of %s: %s", self.path, reason(err))
            return
        _LOGGER.warning("Kept a copy of %s as %s", self.name, target.name)

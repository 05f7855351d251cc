"""The add-on's own recent log lines, for the panel's live tail.

Following the Supervisor's log stream needs a permission the add-on does not
ask for, so the add-on keeps its last records itself: :class:`LogBuffer` is a
:class:`logging.Handler` with a ring buffer. The code never logs secrets; the
buffer masks anything that looks like one anyway (with
:func:`bmw_wallbox.logsafe.mask_text`: ``password=...``, Basic and Bearer
credentials, tokens, and every secret value it was told about), before the
line is stored.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bmw_wallbox.logsafe import MASK as MASK
from bmw_wallbox.logsafe import mask_text as mask_text

#: Longest message kept (with its traceback), so one huge record cannot hold much memory.
MAX_MESSAGE_CHARS = 4000

#: Level names the panel filters by, lowest first.
LEVELS: dict[str, int] = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}

LogListener = Callable[["LogLine"], None]


@dataclass(frozen=True, kw_only=True)
class LogLine:
    """One kept log record: a sequence number, when, how severe, which logger, and the masked text."""

    seq: int
    at: datetime
    level: str
    levelno: int
    logger: str
    message: str

    def to_json(self) -> dict[str, Any]:
        """The JSON form the panel shows."""
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "level": self.level,
            "logger": self.logger,
            "message": self.message,
        }


class LogBuffer(logging.Handler):
    """A logging handler that keeps the last ``size`` records (default 1000), masked, newest last.

    Attach it with :meth:`attach` (to the root logger by default, so it sees
    what the add-on log shows) and detach it with :meth:`detach`. Listeners
    are called with each new line from the thread that logged it.
    """

    def __init__(self, *, size: int = 1000, secrets: Iterable[str] = ()) -> None:
        super().__init__(level=logging.NOTSET)
        self._lines: deque[LogLine] = deque(maxlen=size)
        self._secrets = tuple(s for s in secrets if s)
        self._listeners: list[LogListener] = []
        self._seq = 0
        self._guard = threading.local()
        self._logger: logging.Logger | None = None

    def set_secrets(self, secrets: Iterable[str]) -> None:
        """Mask these values from now on (instead of the ones given before), e.g. when the token list changed."""
        self._secrets = tuple(s for s in secrets if s)

    def attach(self, logger: logging.Logger | None = None) -> None:
        """Start collecting the records that reach ``logger`` (the root logger by default)."""
        self._logger = logger or logging.getLogger()
        self._logger.addHandler(self)

    def detach(self) -> None:
        """Stop collecting (the kept lines stay readable)."""
        if self._logger is not None:
            self._logger.removeHandler(self)
            self._logger = None

    def subscribe(self, listener: LogListener) -> Callable[[], None]:
        """Call ``listener(line)`` for every new line; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, record: logging.LogRecord) -> None:
        """Keep one record, masked; a listener that logs does not recurse."""
        if getattr(self._guard, "busy", False):
            return
        self._guard.busy = True
        try:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text = f"{text}\n{logging.Formatter().formatException(record.exc_info)}"
            self._seq += 1
            line = LogLine(
                seq=self._seq,
                at=datetime.fromtimestamp(record.created, UTC),
                level=record.levelname,
                levelno=record.levelno,
                logger=record.name,
                message=mask_text(text, self._secrets)[:MAX_MESSAGE_CHARS],
            )
            self._lines.append(line)
            for listener in list(self._listeners):
                listener(line)
        except Exception:
            self.handleError(record)
        finally:
            self._guard.busy = False

    def lines(self, *, min_level: int = logging.NOTSET, limit: int | None = None) -> list[LogLine]:
        """The kept lines at ``min_level`` or above, newest first, at most ``limit``."""
        found: list[LogLine] = []
        if limit is not None and limit <= 0:
            return found
        for line in reversed(self._lines):
            if line.levelno >= min_level:
                found.append(line)
                if limit is not None and len(found) >= limit:
                    break
        return found


def level_number(name: str | None) -> int:
    """The logging level for a filter name (``DEBUG`` .. ``CRITICAL``, any case); unknown or empty is NOTSET."""
    return LEVELS.get((name or "").upper(), logging.NOTSET)

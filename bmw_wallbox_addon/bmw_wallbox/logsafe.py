"""Log lines a peer cannot forge and that never carry a secret.

Values from the network (charging station ids, message ids, action names,
vendor strings) go through :func:`shown` before they are logged: control,
format and separator characters are escaped the way ``repr`` escapes them and
the text is cut at a limit, so a peer can neither start a new log line, nor
drive the terminal that shows the log, nor fill it with one value.

:class:`LogSafety` is the net under that, installed on every handler of the
root logger (the add-on log on stderr and the panel's buffer alike): it
rewrites each record's message, whichever library logged it, with secrets
masked (:func:`mask_text`: known secret values, ``Authorization`` headers,
idTokens, passwords, and the values of secret device-model variables such as
``BasicAuthPassword``) and any remaining control character escaped. The
websockets library logs handshake headers and frames at DEBUG and the OCPP
library logs raw frames; both pass through it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable

from websockets.frames import Frame, Opcode

from bmw_wallbox.masking import MASK, SECRET_VARIABLES, mask_secrets

__all__ = ["MASK", "MAX_MESSAGE_CHARS", "LogSafety", "escape", "mask_text", "shown"]

#: Characters of a network value shown in a log line by default.
DEFAULT_LIMIT = 80
#: Characters of a WebSocket frame's payload shown in a websockets DEBUG line.
FRAME_LIMIT = 200
#: Longest message a log record keeps (a library may log a whole request line or frame).
MAX_MESSAGE_CHARS = 4000

_CREDENTIAL_NAMES = (
    r"(?:password|passwd|pwd|secret|token|access_token|api[_-]?key|id_token|idToken|authorization|IdentityKey)"
)
#: A value after a key: a double- or single-quoted string (to the end of the text if it was cut before its closing
#: quote), or a bare word (not an object or list).
_VALUE = r"""("(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|[^\s"',;{}\[\]&]+)"""
_VARIABLE_VALUE_KEYS = r"(?:value|attributeValue|attribute_value|actualValue|actual_value)"
_SECRET_VARIABLE_NAMES = "|".join(sorted(SECRET_VARIABLES))


def _keep_quotes(match: re.Match[str]) -> str:
    value = match.group(2)
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group(1)}{quote}{MASK}{quote}"


_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # Authorization: Basic abc== / Bearer abc
    (re.compile(r"\b(Basic|Bearer)\s+[A-Za-z0-9._~+/=-]{4,}", re.IGNORECASE), rf"\1 {MASK}"),
    # password=abc, "token": "abc", 'id_token': 'abc', "idToken":"a b"
    (re.compile(rf"""({_CREDENTIAL_NAMES}["']?\s*[:=]\s*){_VALUE}""", re.IGNORECASE), _keep_quotes),
    # https://user:secret@host
    (re.compile(r"(://[^\s:/@]+:)[^\s@/]+@"), rf"\1{MASK}@"),
    # {"variable": {"name": "BasicAuthPassword"}, "variableAttribute": [{"value": "..."}]} in any text form,
    # up to the next component (the next device-model entry)
    (
        re.compile(
            rf"""((?:{_SECRET_VARIABLE_NAMES})(?:(?!component)[^\n]){{0,400}}?{_VARIABLE_VALUE_KEYS}["']?\s*[:=]\s*)"""
            rf"{_VALUE}",
            re.IGNORECASE,
        ),
        _keep_quotes,
    ),
)
_JSON = json.JSONDecoder()
#: Places in one text where an embedded JSON document is looked for (each try reads up to the text's end).
_MAX_JSON_TRIES = 3


def escape(text: str) -> str:
    """``text`` with each character that is not printable escaped as ``repr`` does (``\\n``, ``\\x1b``)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def shown(value: object, *, limit: int = DEFAULT_LIMIT) -> str:
    """How a value from the network appears in a log line: escaped (see :func:`escape`), cut at ``limit`` chars.

    A cut value ends in ``...``; a value of control characters cannot grow
    past the limit by being escaped.
    """
    text = value if isinstance(value, str) else str(value)
    cut = len(text) > limit
    text = escape(text[:limit])
    if len(text) > limit:
        text, cut = text[:limit], True
    return f"{text}..." if cut else text


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secret values and anything that looks like a credential replaced by ``***``."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, MASK)
    if any(name in text for name in SECRET_VARIABLES):
        text = _mask_embedded_json(text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _mask_embedded_json(text: str) -> str:
    """Mask secret variables in a JSON document inside ``text`` (a logged frame), wherever their keys stand."""
    start = 0
    for _ in range(_MAX_JSON_TRIES):
        found = [i for i in (text.find("[", start), text.find("{", start)) if i >= 0]
        if not found:
            break
        begin = min(found)
        try:
            decoded, end = _JSON.raw_decode(text, begin)
        except (ValueError, RecursionError):
            start = begin + 1
            continue
        masked = json.dumps(mask_secrets(decoded), separators=(",", ":"), ensure_ascii=False)
        return text[:begin] + masked + text[end:]
    return text


class LogSafety(logging.Filter):
    """Masks secrets in, and escapes control characters of, every record a handler it sits on emits.

    The message is formatted once, masked and escaped, and stored back with
    no arguments; a traceback is formatted and masked too. Install it on the
    root logger's handlers with :meth:`install` (and take it off with
    :meth:`uninstall`).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)
        self._handlers: list[logging.Handler] = []

    def set_secrets(self, secrets: Iterable[str]) -> None:
        """Mask these values from now on (instead of the ones given before), e.g. when the token list changed."""
        self._secrets = tuple(s for s in secrets if s)

    def install(self, logger: logging.Logger | None = None) -> None:
        """Add this filter to every handler of ``logger`` (the root logger by default)."""
        for handler in (logger or logging.getLogger()).handlers:
            if self not in handler.filters:
                handler.addFilter(self)
                self._handlers.append(handler)

    def uninstall(self) -> None:
        """Remove this filter from the handlers :meth:`install` added it to."""
        for handler in self._handlers:
            handler.removeFilter(self)
        self._handlers = []

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place (once, however many handlers see it); always let it through."""
        if getattr(record, "_log_safety", False):
            return True
        if isinstance(record.args, tuple) and any(isinstance(arg, Frame) for arg in record.args):
            record.args = tuple(self._frame(arg) if isinstance(arg, Frame) else arg for arg in record.args)
        try:
            message = record.getMessage()[: 4 * MAX_MESSAGE_CHARS]  # bounds the masking work; cut again below
        except Exception:  # a bad format string: the handler reports it as logging always does
            return True
        record.msg = shown(mask_text(message, self._secrets), limit=MAX_MESSAGE_CHARS)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text, self._secrets)
        record._log_safety = True
        return True

    def _frame(self, frame: Frame) -> Frame | str:
        """A websockets data frame as its DEBUG line shows it, masked before it is cut (a cut could hide a key)."""
        if frame.opcode not in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            return frame
        data = bytes(frame.data)
        text = mask_text(data.decode("utf-8", "replace"), self._secrets)
        return f"{frame.opcode.name} {shown(text, limit=FRAME_LIMIT)} [{len(data)} bytes]"

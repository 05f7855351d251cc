"""The values of the token list and the rule that decides a presented token's status.

Part of the state model (imports nothing of ours but :mod:`bmw_wallbox.records`,
does no I/O); :mod:`bmw_wallbox.tokenbook` holds them and re-exports them.

An idToken value is a secret: it is kept in the book and in the data dir, sent
to the charger in a local list, and nowhere else. Views show :func:`mask` of it.
idTokens are compared without regard to letter case (OCPP 2.0.1: an idToken is
case-insensitive), see :func:`same_id`.

Authorization (:func:`decide`), the same for Authorize and TransactionEvent:

==========================================  ==============  ==============
Token presented                             ``accept_all``  ``known_only``
==========================================  ==============  ==============
in the list, allowed                        Accepted        Accepted
in the list, blocked                        Blocked         Blocked
the remote-start token (see below)          Accepted        Accepted
not in the list                             Accepted        Invalid
no identifier (``NoAuthorization``, empty)  Accepted        Unknown
==========================================  ==============  ==============

The remote-start token is the listed token chosen for remote starts (while it
is allowed), else the option ``id_token`` or the built-in ``HomeAssistant``
(type ``Central``), which counts as known and allowed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bmw_wallbox.records import NO_TOKEN, UNKNOWN_TOKEN, TokenUse

#: ``IdTokenEnumType`` of OCPP 2.0.1: the kinds of token a charger may present.
TOKEN_KINDS = ("ISO14443", "ISO15693", "eMAID", "KeyCode", "Local", "MacAddress", "Central", "NoAuthorization")
#: Longest idToken (``IdTokenType.idToken`` of OCPP 2.0.1), name and group.
MAX_VALUE_CHARS = 36
MAX_NAME_CHARS = 40
#: Tokens kept in the list at most, and unknown tokens remembered (the most recent), for at most ``UNKNOWN_MAX_AGE``.
MAX_TOKENS = 200
MAX_UNKNOWN = 20
UNKNOWN_MAX_AGE = timedelta(days=30)
#: Names a token cannot have: they stand for sessions without a (known) token.
RESERVED_NAMES = frozenset({NO_TOKEN, UNKNOWN_TOKEN})
#: Name of the built-in remote-start token in history and entities.
REMOTE_START_NAME = "Home Assistant"


class AuthPolicy(StrEnum):
    """Which tokens a charger's Authorize and TransactionEvent answers accept (see the module docstring)."""

    ACCEPT_ALL = "accept_all"
    KNOWN_ONLY = "known_only"


class AuthStatus(StrEnum):
    """The ``AuthorizationStatusEnumType`` values this add-on answers."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    INVALID = "Invalid"
    UNKNOWN = "Unknown"


class TokenError(ValueError):
    """A token edit that cannot be made; ``code`` is ``invalid``, ``duplicate``, ``not_found`` or ``full``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def mask(value: str) -> str:
    """The end of an idToken that may be shown: ``…`` and its last four characters, fewer for a short one."""
    shown = min(4, max(0, len(value) - 4))
    return "…" + (value[-shown:] if shown else "")


def new_ref(prefix: str) -> str:
    """A new random reference (``t`` for tokens, ``u`` for unknown tokens): never derived from the value."""
    return prefix + secrets.token_hex(4)


def same_id(first: str, second: str) -> bool:
    """Whether two idTokens are the same: compared without regard to letter case (OCPP 2.0.1)."""
    return first.casefold() == second.casefold()


@dataclass(frozen=True, kw_only=True)
class Presented:
    """An idToken as a charger presented it (or as a remote start sends it): value and ``IdTokenEnumType``."""

    value: str
    kind: str

    @property
    def anonymous(self) -> bool:
        """True when it identifies nobody (``NoAuthorization``, or an empty value)."""
        return self.kind == "NoAuthorization" or not self.value


@dataclass(frozen=True, kw_only=True)
class Token:
    """One named token of the list; ``ref`` is its id in the API (random, never derived from the value)."""

    ref: str
    name: str
    value: str
    kind: str
    allowed: bool = True
    group: str | None = None
    added_at: datetime

    @property
    def use(self) -> TokenUse:
        """How a session of this token is recorded."""
        return TokenUse(ref=self.ref, name=self.name, masked=mask(self.value))

    def matches(self, presented: Presented) -> bool:
        """True when ``presented`` is this token: the same value (in any letter case) and kind."""
        return self.kind == presented.kind and same_id(self.value, presented.value)


@dataclass(frozen=True, kw_only=True)
class UnknownToken:
    """A token a charger presented that is not in the list, with what it was told."""

    ref: str
    value: str
    kind: str
    charger_id: str
    first_seen: datetime
    last_seen: datetime
    attempts: int
    status: AuthStatus


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What a presented token gets: the status, the group to send, and whom the session belongs to (None: no token)."""

    status: AuthStatus
    group: str | None = None
    use: TokenUse | None = None
    listed: bool = False


@dataclass(frozen=True, kw_only=True)
class ListEntry:
    """One entry of a charger's local authorization list: the token and the status the charger keeps for it."""

    value: str
    kind: str
    status: AuthStatus
    group: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """The token it is for: (value, kind)."""
        return (self.value, self.kind)


@dataclass(kw_only=True)
class LocalListState:
    """What one charger's local list holds, as far as the add-on knows, and how the last update went.

    ``version`` and ``entries`` are what the charger accepted last (None: not
    known, so the next update is a full one). ``status`` is one of ``unknown``,
    ``unsupported``, ``disabled``, ``pending``, ``updating``, ``in_sync`` and
    ``failed``; ``detail`` says why in a sentence; ``left_out`` counts tokens
    that did not fit in the charger's list.
    """

    version: int | None = None
    entries: dict[tuple[str, str], ListEntry] | None = None
    status: str = "unknown"
    detail: str = ""
    at: datetime | None = None
    left_out: int = 0


@dataclass(kw_only=True)
class ChargerAuth:
    """One charger's authorization settings and local-list state."""

    policy: AuthPolicy = AuthPolicy.ACCEPT_ALL
    local_list: LocalListState = field(default_factory=LocalListState)


def decide(policy: AuthPolicy, presented: Presented, token: Token | None, *, remote_start: bool) -> Verdict:
    """The status of a presented token under ``policy`` (the table in the module docstring)."""
    if token is not None:
        status = AuthStatus.ACCEPTED if token.allowed else AuthStatus.BLOCKED
        return Verdict(status=status, group=token.group if token.allowed else None, use=token.use, listed=True)
    if remote_start:
        return Verdict(status=AuthStatus.ACCEPTED, use=TokenUse(name=REMOTE_START_NAME), listed=True)
    if presented.anonymous:
        return Verdict(status=AuthStatus.ACCEPTED if policy is AuthPolicy.ACCEPT_ALL else AuthStatus.UNKNOWN)
    status = AuthStatus.ACCEPTED if policy is AuthPolicy.ACCEPT_ALL else AuthStatus.INVALID
    return Verdict(status=status, use=TokenUse(masked=mask(presented.value)))


def check_token(name: object, value: object, kind: object, *, exact: bool = False) -> tuple[str, str, str]:
    """A new token's name (trimmed), value and kind; raises :class:`TokenError` (``invalid``) naming what is wrong.

    A typed value is trimmed; an ``exact`` one (a card as a charger presented it) is kept as it is.
    """
    checked_name = check_name(name)
    if isinstance(value, str) and not exact:
        value = value.strip()
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_VALUE_CHARS:
        raise TokenError("invalid", f"the token id must be 1 to {MAX_VALUE_CHARS} characters")
    if kind not in TOKEN_KINDS or kind == "NoAuthorization":
        raise TokenError("invalid", f"the type must be one of {', '.join(TOKEN_KINDS[:-1])}")
    return checked_name, value, str(kind)


def check_name(name: object) -> str:
    """A token name, trimmed; raises :class:`TokenError` (``invalid``) for an empty, long or reserved one."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME_CHARS:
        raise TokenError("invalid", f"the name must be 1 to {MAX_NAME_CHARS} characters")
    if name.strip().lower() in RESERVED_NAMES:
        raise TokenError("invalid", f"{name.strip()!r} stands for sessions without a known token; choose another name")
    if not name.strip().isprintable():
        raise TokenError("invalid", "the name must be printable text")
    return name.strip()

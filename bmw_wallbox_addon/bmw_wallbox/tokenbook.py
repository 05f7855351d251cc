"""The token list: named idTokens, the authorization policy per charger, and the rules that decide a token's status.

Part of the state model (imports nothing of ours but :mod:`bmw_wallbox.records`,
does no I/O). One :class:`TokenBook` is held by the state hub as ``hub.tokens``.
Writers (the OCPP handlers noting an unknown token, the token service editing
the list or recording a local-list update) change it through its methods and
then call :meth:`TokenBook.commit` once; listeners (the token store, the
panel, the local-list sync) are told.

An idToken value is a secret: it is kept here and in the data dir, sent to the
charger in a local list, and nowhere else. Views show :func:`mask` of it.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from bmw_wallbox.records import NO_TOKEN, UNKNOWN_TOKEN, Save, TokenUse

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


def _new_ref(prefix: str) -> str:
    return prefix + secrets.token_hex(4)


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
        """True when ``presented`` is this token (same value and kind)."""
        return (self.value, self.kind) == (presented.value, presented.kind)


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


def check_token(name: object, value: object, kind: object) -> tuple[str, str, str]:
    """A new token's name, value and kind, trimmed; raises :class:`TokenError` (``invalid``) naming what is wrong."""
    checked_name = check_name(name)
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_VALUE_CHARS:
        raise TokenError("invalid", f"the token id must be 1 to {MAX_VALUE_CHARS} characters")
    if kind not in TOKEN_KINDS or kind == "NoAuthorization":
        raise TokenError("invalid", f"the type must be one of {', '.join(TOKEN_KINDS[:-1])}")
    return checked_name, value.strip(), str(kind)


def check_name(name: object) -> str:
    """A token name, trimmed; raises :class:`TokenError` (``invalid``) for an empty, long or reserved one."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME_CHARS:
        raise TokenError("invalid", f"the name must be 1 to {MAX_NAME_CHARS} characters")
    if name.strip().lower() in RESERVED_NAMES:
        raise TokenError("invalid", f"{name.strip()!r} stands for sessions without a known token; choose another name")
    if not name.strip().isprintable():
        raise TokenError("invalid", "the name must be printable text")
    return name.strip()


Listener = Callable[[Save], None]


class TokenBook:
    """The tokens, the unknown tokens seen lately, and each charger's policy and local-list state."""

    def __init__(self, *, remote_start_default: Presented | None = None) -> None:
        self.tokens: dict[str, Token] = {}
        self.unknown: dict[str, UnknownToken] = {}
        self.chargers: dict[str, ChargerAuth] = {}
        #: The listed token remote starts carry (None: :attr:`remote_start_default`).
        self.remote_start_ref: str | None = None
        #: The option ``id_token`` or the built-in token, known and allowed without being listed.
        self.remote_start_default = remote_start_default
        self._listeners: list[Listener] = []

    # --- listeners -------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(save)`` after every commit; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def commit(self, save: Save = Save.NOW) -> None:
        """Announce a change, and how durable it must be (edits: ``NOW``; noted tokens and sync status: ``SOON``)."""
        for listener in list(self._listeners):
            listener(save)

    # --- reading ---------------------------------------------------------------------------

    def find(self, presented: Presented) -> Token | None:
        """The listed token with this value and kind."""
        return next((t for t in self.tokens.values() if t.matches(presented)), None)

    def charger(self, charger_id: str) -> ChargerAuth:
        """A charger's settings, created with the defaults on first mention."""
        return self.chargers.setdefault(charger_id, ChargerAuth())

    def authorize(self, charger_id: str, presented: Presented) -> Verdict:
        """The verdict for a token one charger presented (no change to the book)."""
        remote = self.remote_start_default is not None and presented == self.remote_start_default
        return decide(self.charger(charger_id).policy, presented, self.find(presented), remote_start=remote)

    def remote_start_token(self) -> Token | None:
        """The listed token chosen for remote starts, while it is allowed."""
        token = self.tokens.get(self.remote_start_ref or "")
        return token if token is not None and token.allowed else None

    def secret_values(self) -> list[str]:
        """Every idToken value the book holds (for masking in logs and the trace)."""
        return [t.value for t in self.tokens.values()] + [u.value for u in self.unknown.values()]

    # --- what chargers report ----------------------------------------------------------------

    def note_unknown(self, charger_id: str, presented: Presented, verdict: Verdict, *, at: datetime) -> bool:
        """Remember a presented token that is not listed (anonymous ones are not); True when it is new.

        Entries older than ``UNKNOWN_MAX_AGE`` are dropped, and past ``MAX_UNKNOWN`` the least recently seen.
        """
        if verdict.listed or presented.anonymous or len(presented.value) > MAX_VALUE_CHARS:
            return False
        self.expire_unknown(now=at)
        old = next((u for u in self.unknown.values() if (u.value, u.kind) == (presented.value, presented.kind)), None)
        entry = UnknownToken(
            ref=old.ref if old else _new_ref("u"),
            value=presented.value,
            kind=presented.kind,
            charger_id=charger_id,
            first_seen=old.first_seen if old else at,
            last_seen=at,
            attempts=(old.attempts if old else 0) + 1,
            status=verdict.status,
        )
        self.unknown.pop(entry.ref, None)
        self.unknown[entry.ref] = entry
        while len(self.unknown) > MAX_UNKNOWN:
            del self.unknown[min(self.unknown, key=lambda ref: self.unknown[ref].last_seen)]
        return old is None

    def expire_unknown(self, *, now: datetime) -> None:
        """Drop unknown tokens not seen for ``UNKNOWN_MAX_AGE``."""
        for ref in [r for r, u in self.unknown.items() if now - u.last_seen > UNKNOWN_MAX_AGE]:
            del self.unknown[ref]

    # --- editing -----------------------------------------------------------------------------

    def add(
        self, name: object, value: object, kind: object, *, at: datetime, allowed: bool = True, group: str | None = None
    ) -> Token:
        """Add a token (checked with :func:`check_token`); raises :class:`TokenError`."""
        name, value, kind = check_token(name, value, kind)
        presented = Presented(value=value, kind=kind)
        if self.find(presented) is not None:
            raise TokenError("duplicate", "this token is in the list already")
        self._name_free(name)
        if len(self.tokens) >= MAX_TOKENS:
            raise TokenError("full", f"the list holds at most {MAX_TOKENS} tokens")
        token = Token(ref=_new_ref("t"), name=name, value=value, kind=kind, allowed=allowed, group=group, added_at=at)
        self.tokens[token.ref] = token
        for ref in [r for r, u in self.unknown.items() if (u.value, u.kind) == (value, kind)]:
            del self.unknown[ref]
        return token

    def add_unknown(self, unknown_ref: str, name: object, *, at: datetime, allowed: bool = True) -> Token:
        """Add an unknown token seen lately under ``name``; raises :class:`TokenError`."""
        seen = self.unknown.get(unknown_ref)
        if seen is None:
            raise TokenError("not_found", "no unknown token with this id was seen lately")
        return self.add(name, seen.value, seen.kind, at=at, allowed=allowed)

    def update(
        self,
        ref: str,
        *,
        name: object = None,
        allowed: bool | None = None,
        group: str | bool | None = False,
        remote_start: bool | None = None,
    ) -> Token:
        """Rename, allow or block, regroup (``group`` False: unchanged), or choose for remote starts; returns the token.

        Raises :class:`TokenError`.
        """
        token = self._get(ref)
        if name is not None:
            checked = check_name(name)
            if checked != token.name:
                self._name_free(checked)
            token = replace(token, name=checked)
        if allowed is not None:
            token = replace(token, allowed=bool(allowed))
        if group is not False:
            token = replace(token, group=group if isinstance(group, str) and group else None)
        self.tokens[ref] = token
        if remote_start is not None:
            if remote_start:
                self.remote_start_ref = ref
            elif self.remote_start_ref == ref:
                self.remote_start_ref = None
        return token

    def delete(self, ref: str) -> Token:
        """Remove a token from the list; raises :class:`TokenError` (``not_found``)."""
        token = self._get(ref)
        del self.tokens[ref]
        if self.remote_start_ref == ref:
            self.remote_start_ref = None
        return token

    def dismiss_unknown(self, ref: str) -> None:
        """Forget an unknown token; raises :class:`TokenError` (``not_found``)."""
        if self.unknown.pop(ref, None) is None:
            raise TokenError("not_found", "no unknown token with this id was seen lately")

    def set_policy(self, charger_id: str, policy: object) -> AuthPolicy:
        """Set a charger's policy; raises :class:`TokenError` (``invalid``) for an unknown one."""
        if policy not in {p.value for p in AuthPolicy}:
            raise TokenError("invalid", f"policy must be one of {', '.join(p.value for p in AuthPolicy)}")
        self.charger(charger_id).policy = AuthPolicy(str(policy))
        return self.charger(charger_id).policy

    def restore(self, tokens: Iterable[Token], unknown: Iterable[UnknownToken]) -> None:
        """Put back the tokens and unknown tokens read from the data dir (duplicates of value and kind dropped)."""
        for token in tokens:
            if self.find(Presented(value=token.value, kind=token.kind)) is None and len(self.tokens) < MAX_TOKENS:
                self.tokens[token.ref] = token
        for seen in sorted(unknown, key=lambda u: u.last_seen)[-MAX_UNKNOWN:]:
            self.unknown[seen.ref] = seen

    def _get(self, ref: str) -> Token:
        token = self.tokens.get(ref)
        if token is None:
            raise TokenError("not_found", "no token with this id is in the list")
        return token

    def _name_free(self, name: str) -> None:
        if any(t.name.lower() == name.lower() for t in self.tokens.values()):
            raise TokenError("duplicate", f"a token named {name!r} is in the list already")

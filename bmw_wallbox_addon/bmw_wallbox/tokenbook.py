"""The token list: named idTokens, the unknown tokens seen lately, and each charger's authorization settings.

Part of the state model (imports nothing of ours but the records and
:mod:`bmw_wallbox.tokenvalues`, whose names it re-exports; does no I/O). One
:class:`TokenBook` is held by the state hub as ``hub.tokens``. Writers (the
OCPP handlers noting an unknown token, the token service editing the list or
recording a local-list update, the token store restoring it) change it through
its methods and then call :meth:`TokenBook.commit` once; listeners (the token
store, the panel, the local-list sync) are told.

A token is found by its value, without regard to letter case, and its kind:
the list never holds two spellings of one idToken. See
:mod:`bmw_wallbox.tokenvalues` for the authorization table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from bmw_wallbox.records import Save
from bmw_wallbox.tokenvalues import (
    MAX_NAME_CHARS,
    MAX_TOKENS,
    MAX_UNKNOWN,
    MAX_VALUE_CHARS,
    REMOTE_START_NAME,
    RESERVED_NAMES,
    TOKEN_KINDS,
    UNKNOWN_MAX_AGE,
    AuthPolicy,
    AuthStatus,
    ChargerAuth,
    ListEntry,
    LocalListState,
    Presented,
    Token,
    TokenError,
    UnknownToken,
    Verdict,
    check_name,
    check_token,
    decide,
    mask,
    new_ref,
    same_id,
)

__all__ = [
    "MAX_NAME_CHARS",
    "MAX_TOKENS",
    "MAX_UNKNOWN",
    "MAX_VALUE_CHARS",
    "REMOTE_START_NAME",
    "RESERVED_NAMES",
    "TOKEN_KINDS",
    "UNKNOWN_MAX_AGE",
    "AuthPolicy",
    "AuthStatus",
    "ChargerAuth",
    "ListEntry",
    "LocalListState",
    "Presented",
    "Token",
    "TokenBook",
    "TokenError",
    "UnknownToken",
    "Verdict",
    "check_name",
    "check_token",
    "decide",
    "mask",
]

Listener = Callable[[Save], None]


@dataclass(kw_only=True)
class Restored:
    """What :meth:`TokenBook.restore` had to mend: merged spellings (kept name, dropped name), new refs, left out."""

    merged: list[tuple[str, str]] = field(default_factory=list)
    new_refs: int = 0
    left_out: int = 0


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
        #: The policy of a charger not mentioned yet (``known_only`` after :meth:`fail_closed`).
        self.default_policy = AuthPolicy.ACCEPT_ALL
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
        return self.chargers.setdefault(charger_id, ChargerAuth(policy=self.default_policy))

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
        old = next(
            (u for u in self.unknown.values() if u.kind == presented.kind and same_id(u.value, presented.value)), None
        )
        entry = UnknownToken(
            ref=old.ref if old else new_ref("u"),
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
        self,
        name: object,
        value: object,
        kind: object,
        *,
        at: datetime,
        allowed: bool = True,
        group: str | None = None,
        exact: bool = False,
    ) -> Token:
        """Add a token (checked with :func:`check_token`); raises :class:`TokenError`.

        A token whose id is listed already, in any letter case, is refused (``duplicate``).
        """
        name, value, kind = check_token(name, value, kind, exact=exact)
        presented = Presented(value=value, kind=kind)
        if self.find(presented) is not None:
            raise TokenError("duplicate", "this token is in the list already (ids do not depend on letter case)")
        self._name_free(name)
        if len(self.tokens) >= MAX_TOKENS:
            raise TokenError("full", f"the list holds at most {MAX_TOKENS} tokens")
        token = Token(ref=new_ref("t"), name=name, value=value, kind=kind, allowed=allowed, group=group, added_at=at)
        self.tokens[token.ref] = token
        for ref in [r for r, u in self.unknown.items() if u.kind == kind and same_id(u.value, value)]:
            del self.unknown[ref]
        return token

    def add_unknown(self, unknown_ref: str, name: object, *, at: datetime, allowed: bool = True) -> Token:
        """Add an unknown token seen lately under ``name``; raises :class:`TokenError`."""
        seen = self.unknown.get(unknown_ref)
        if seen is None:
            raise TokenError("not_found", "no unknown token with this id was seen lately")
        return self.add(name, seen.value, seen.kind, at=at, allowed=allowed, exact=True)

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
        if not isinstance(policy, str) or policy not in {p.value for p in AuthPolicy}:
            raise TokenError("invalid", f"policy must be one of {', '.join(p.value for p in AuthPolicy)}")
        self.charger(charger_id).policy = AuthPolicy(str(policy))
        return self.charger(charger_id).policy

    # --- restoring what the token store saved ------------------------------------------------

    def restore(self, tokens: Iterable[Token], unknown: Iterable[UnknownToken]) -> Restored:
        """Put back the tokens and unknown tokens read from the data dir; returns what had to be mended.

        A token whose ref is taken gets a new ref; one whose id and kind are
        listed already (in any letter case) is merged into the first, which is
        blocked if either was; past ``MAX_TOKENS`` the rest is left out.
        """
        restored = Restored()
        for token in tokens:
            first = self.find(Presented(value=token.value, kind=token.kind))
            if first is not None:
                restored.merged.append((first.name, token.name))
                self.tokens[first.ref] = replace(first, allowed=first.allowed and token.allowed)
            elif len(self.tokens) >= MAX_TOKENS:
                restored.left_out += 1
            else:
                if token.ref in self.tokens:
                    token, restored.new_refs = replace(token, ref=new_ref("t")), restored.new_refs + 1
                self.tokens[token.ref] = token
        for seen in sorted(unknown, key=lambda u: u.last_seen)[-MAX_UNKNOWN:]:
            self.unknown[seen.ref] = seen
        return restored

    def restore_charger(self, charger_id: str, *, policy: AuthPolicy, local_list: LocalListState) -> None:
        """Put back one charger's saved policy and what its local list holds."""
        self.chargers[charger_id] = ChargerAuth(policy=policy, local_list=local_list)

    def restore_remote_start(self, ref: object) -> None:
        """Put back the token chosen for remote starts (ignored unless it is listed)."""
        self.remote_start_ref = ref if isinstance(ref, str) and ref in self.tokens else None

    def fail_closed(self) -> None:
        """Part of the saved list could not be read: every charger accepts only listed, allowed tokens.

        A token that could not be read may have been blocked, so no charger
        accepts unknown tokens until the user sets its policy again.
        """
        self.default_policy = AuthPolicy.KNOWN_ONLY
        for auth in self.chargers.values():
            auth.policy = AuthPolicy.KNOWN_ONLY

    def _get(self, ref: str) -> Token:
        token = self.tokens.get(ref)
        if token is None:
            raise TokenError("not_found", "no token with this id is in the list")
        return token

    def _name_free(self, name: str) -> None:
        if any(t.name.lower() == name.lower() for t in self.tokens.values()):
            raise TokenError("duplicate", f"a token named {name!r} is in the list already")

"""One-time URLs for a charger's uploads and downloads: the decisions, without I/O.

A link is a random token (``secrets.token_urlsafe``, 32 characters) bound to
one charger, one kind (upload or download) and one target (a log id or a
firmware file name). :meth:`Links.check` refuses it when it is unknown, for
another charger or kind, expired, in use, or used up; the transfer server
answers each refusal with its HTTP status. A link is used up by
:meth:`Links.used` (a whole upload stored, a whole file sent) and is then
forgotten after its expiry like any other.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

#: Random bytes of a token (its URL-safe text is 4/3 as long).
TOKEN_BYTES = 24
#: Links kept at most; issuing one more forgets the oldest.
MAX_LINKS = 64


class Kind(StrEnum):
    """What a link lets a charger do."""

    UPLOAD = "upload"
    DOWNLOAD = "download"


@dataclass(frozen=True)
class Refusal:
    """Why a link cannot be used, and the HTTP status that says so."""

    status: int
    reason: str


UNKNOWN = Refusal(404, "unknown link")
FOREIGN = Refusal(404, "unknown link")  # the same answer: a link of another charger is not revealed
EXPIRED = Refusal(410, "link expired")
USED = Refusal(410, "link already used")
BUSY = Refusal(409, "link in use by another transfer")


@dataclass(kw_only=True)
class Link:
    """One issued link."""

    token: str
    kind: Kind
    charger_id: str
    target: str
    expires_at: float
    busy: bool = False
    used: bool = False


class Links:
    """The links issued and not yet forgotten; ``clock`` gives monotonic seconds."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._links: dict[str, Link] = {}

    def issue(self, kind: Kind, charger_id: str, target: str, *, ttl_s: float) -> Link:
        """A new link, valid for ``ttl_s`` seconds."""
        self._forget_expired()
        while len(self._links) >= MAX_LINKS:
            del self._links[next(iter(self._links))]
        link = Link(
            token=secrets.token_urlsafe(TOKEN_BYTES),
            kind=kind,
            charger_id=charger_id,
            target=target,
            expires_at=self._clock() + ttl_s,
        )
        self._links[link.token] = link
        return link

    def check(self, token: str, kind: Kind, charger_id: str) -> Link | Refusal:
        """The link if this charger may use it for ``kind`` now, else why not."""
        link = self._links.get(token)
        if link is None or link.kind is not kind:
            return UNKNOWN
        if link.charger_id != charger_id:
            return FOREIGN
        if link.used:
            return USED
        if self._clock() >= link.expires_at:
            return EXPIRED
        if link.busy:
            return BUSY
        return link

    def begin(self, link: Link) -> None:
        """A transfer over ``link`` started (a second one at the same time is refused)."""
        link.busy = True

    def end(self, link: Link, *, complete: bool) -> None:
        """The transfer ended; ``complete`` uses the link up (an interrupted one may be tried again)."""
        link.busy = False
        link.used = link.used or complete

    def tokens(self) -> list[str]:
        """Every token still remembered (secrets to mask, e.g. in the support bundle's trace)."""
        return list(self._links)

    def revoke(self, charger_id: str, target: str) -> None:
        """Use up every link of this charger to ``target`` (its file was deleted, or a new one replaces it)."""
        for link in self._links.values():
            if link.charger_id == charger_id and link.target == target:
                link.used = True

    def _forget_expired(self) -> None:
        now = self._clock()
        for token in [t for t, link in self._links.items() if now >= link.expires_at and not link.busy]:
            del self._links[token]

"""What the JSON API and the panel show of tokens: the list (masked), each charger's authorization, energy per token.

No view ever holds an idToken: tokens are shown by name and :func:`~bmw_wallbox.tokenbook.mask`
(``…1234``), and referred to by their random ``ref``.

Energy per token (:func:`energy_by_token`) counts each session in the month it
started, in the time zone the caller names (an IANA name such as
``Europe/Berlin``; UTC when none is given or the name is not known), under its
token's name, ``unknown`` (a token not in the list) or ``no token``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bmw_wallbox.hub import StateHub
from bmw_wallbox.state import ChargerState, SessionRecord, kwh, token_label
from bmw_wallbox.tokenbook import REMOTE_START_NAME, Token, TokenBook, UnknownToken, mask

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def token_view(token: Token, book: TokenBook) -> dict[str, Any]:
    """One listed token, masked."""
    return {
        "ref": token.ref,
        "name": token.name,
        "masked": mask(token.value),
        "type": token.kind,
        "allowed": token.allowed,
        "group": token.group,
        "remote_start": book.remote_start_ref == token.ref,
        "added_at": token.added_at.isoformat(),
    }


def unknown_view(seen: UnknownToken) -> dict[str, Any]:
    """One token a charger presented that is not in the list, masked, with what it was told."""
    return {
        "ref": seen.ref,
        "masked": mask(seen.value),
        "type": seen.kind,
        "charger": seen.charger_id,
        "first_seen": seen.first_seen.isoformat(),
        "last_seen": seen.last_seen.isoformat(),
        "attempts": seen.attempts,
        "status": str(seen.status),
    }


def authorization_view(state: ChargerState, book: TokenBook) -> dict[str, Any]:
    """One charger's policy, whether it asks before charging, and its local list."""
    caps = state.capabilities
    auth = book.charger(state.charger_id)
    local = auth.local_list
    return {
        "charger": state.charger_id,
        "name": state.name,
        "connected": state.connected,
        "policy": str(auth.policy),
        "charger_asks": caps.auth_enabled,
        "charger_asks_writable": caps.auth_writable,
        "local_list": {
            "supported": caps.local_list_available,
            "enabled": caps.local_list_enabled,
            "writable": caps.local_list_writable,
            "max_entries": caps.local_list_max_entries,
            "per_message": caps.local_list_per_message,
            "status": local.status,
            "detail": local.detail,
            "at": _iso(local.at),
            "version": local.version,
            "entries": None if local.entries is None else len(local.entries),
            "left_out": local.left_out,
        },
    }


def tokens_view(hub: StateHub) -> dict[str, Any]:
    """The whole token picture: the list, the unknown tokens (newest first), each charger's authorization."""
    book = hub.tokens
    remote = book.remote_start_token()
    return {
        "tokens": [token_view(t, book) for t in sorted(book.tokens.values(), key=lambda t: t.name.lower())],
        "unknown": [unknown_view(u) for u in sorted(book.unknown.values(), key=lambda u: u.last_seen, reverse=True)],
        "chargers": [authorization_view(state, book) for state in hub.chargers.values()],
        "remote_start": remote.name if remote is not None else REMOTE_START_NAME,
    }


def time_zone(name: str | None) -> tzinfo:
    """The named IANA time zone; UTC when none is given or it is not known here."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def valid_month(text: str | None) -> bool:
    """True for a month written ``YYYY-MM``."""
    return text is not None and _MONTH.match(text) is not None


def session_month(record: SessionRecord, zone: tzinfo) -> str:
    """``YYYY-MM`` of the session's start in ``zone``."""
    return record.started_at.astimezone(zone).strftime("%Y-%m")


def energy_by_token(
    chargers: Iterable[ChargerState], *, zone: tzinfo = UTC, month: str | None = None
) -> list[dict[str, Any]]:
    """Energy per month and token over the kept sessions of ``chargers``, newest month first, most energy first.

    Each row: ``month``, ``token`` (the name, ``unknown`` or ``no token``),
    ``sessions``, ``energy_wh`` (rounded to 1 Wh), ``energy_kwh`` and
    ``unmetered`` (sessions whose energy the charger did not report; they
    count as 0 Wh). Only ``month`` when given.
    """
    totals: dict[tuple[str, str], list[float]] = {}
    for state in chargers:
        for record in state.sessions:
            at = session_month(record, zone)
            if month is not None and at != month:
                continue
            row = totals.setdefault((at, token_label(record.token)), [0, 0.0, 0])
            row[0] += 1
            row[1] += record.energy_wh or 0.0
            row[2] += record.energy_wh is None
    rows = [
        {
            "month": at,
            "token": token,
            "sessions": int(count),
            "energy_wh": round(energy),
            "energy_kwh": kwh(energy),
            "unmetered": int(unmetered),
        }
        for (at, token), (count, energy, unmetered) in totals.items()
    ]
    rows.sort(key=lambda r: (r["month"], r["energy_wh"]), reverse=True)
    return rows

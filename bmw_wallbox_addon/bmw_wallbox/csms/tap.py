"""The hook a forwarded charger's connection calls (implemented by :class:`bmw_wallbox.upstream.link.UpstreamLink`)."""

from __future__ import annotations

from typing import Any, Protocol

from bmw_wallbox.tokenvalues import Verdict


class UpstreamTap(Protocol):
    """Where a connection hands what the charger sends, and asks about cards, when it is forwarded upstream."""

    def copy(self, action: str, payload: dict[str, Any]) -> None:
        """A CALL the charger sent (camelCase payload, after the schema check), once the charger got its answer."""

    async def authorize(self, id_token: dict[str, Any], verdict: Verdict) -> Verdict:
        """The verdict on a presented card, given the local one (may ask the upstream, bounded in time)."""

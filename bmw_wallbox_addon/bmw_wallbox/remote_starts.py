"""The remote starts the add-on sent lately, so the transactions they begin carry the token sent with them.

Part of the state model (no I/O). A charger may report a remotely started
transaction without an ``idToken`` (only ``transactionInfo.remoteStartId``),
or name the transaction in its answer before the TransactionEvent arrives: a
:class:`RemoteStart` links either to the token the RequestStartTransaction
carried. At most :data:`MAX_REMOTE_STARTS` are kept per charger (the oldest
goes first); they are not saved (a restart forgets starts not yet reported).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bmw_wallbox.records import TokenUse

#: Remote starts remembered per charger.
MAX_REMOTE_STARTS = 16


@dataclass(frozen=True, kw_only=True)
class RemoteStart:
    """One accepted RequestStartTransaction: its ``remoteStartId``, EVSE, token and the transaction id answered."""

    remote_start_id: int
    evse_id: int
    token: TokenUse | None
    transaction_id: str | None = None


@dataclass(kw_only=True)
class RemoteStarts:
    """The latest remote starts of one charger (see the module docstring)."""

    items: list[RemoteStart] = field(default_factory=list)

    def sent(self, start: RemoteStart) -> None:
        """Remember an accepted remote start (the newest first; the oldest beyond the bound is dropped)."""
        self.items.insert(0, start)
        del self.items[MAX_REMOTE_STARTS:]

    def match(self, *, remote_start_id: int | None, transaction_id: str) -> RemoteStart | None:
        """The remote start a transaction belongs to: by its ``remoteStartId``, else by the transaction id answered."""
        if remote_start_id is not None:
            found = next((s for s in self.items if s.remote_start_id == remote_start_id), None)
            if found is not None:
                return found
        return next((s for s in self.items if s.transaction_id == transaction_id), None)

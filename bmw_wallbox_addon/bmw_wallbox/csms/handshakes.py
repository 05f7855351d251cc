"""Caps on connections that have not finished the WebSocket upgrade.

asyncio allocates about 300 KiB of TLS buffers for every connection the moment
it is accepted, long before the handshake timeout can close an idle one, so a
peer holding many idle connections could take hundreds of megabytes. The
:class:`HandshakeGate` counts connections from accept until their WebSocket
upgrade completes (or they close), and a connection beyond
``MAX_PENDING_PER_ADDRESS`` pending from its address, or ``MAX_PENDING`` in
all, is closed at once (a TCP reset), before TLS or HTTP costs anything.

Accept is the only moment that knows the peer's address before asyncio
allocates those buffers, so the counting sits in the listening socket itself:
:func:`listening_sockets` makes :class:`GatedListener` sockets whose
``accept()`` asks the gate; the server hands them to ``websockets.serve`` and
tells the gate when a connection completes its upgrade.
"""

from __future__ import annotations

import socket
import struct
from collections import Counter
from collections.abc import Callable
from typing import Any

#: Connections from one address that may be in their TLS or HTTP handshake at once.
MAX_PENDING_PER_ADDRESS = 8
#: Connections from all addresses that may be in their handshake at once.
MAX_PENDING = 64
#: Connections refused in one call of ``accept()`` before the event loop gets a turn again.
_MAX_REFUSED_PER_ACCEPT = 100

#: A connection's key: the peer's address and port, as ``accept()`` and the transport's ``peername`` give them.
PeerKey = tuple[str, int]
#: Called with the address and the reason when a connection is refused.
RefusalListener = Callable[[str, str], None]


def peer_key(address: Any) -> PeerKey | None:
    """The key of a ``peername`` or ``accept()`` address (IPv4 or IPv6 tuple), or None."""
    if isinstance(address, tuple) and len(address) >= 2:
        return str(address[0]), int(address[1])
    return None


class _Ticket:
    """One admitted connection's place in the gate, given back once."""

    __slots__ = ("_gate", "key", "released")

    def __init__(self, gate: HandshakeGate, key: PeerKey) -> None:
        self._gate = gate
        self.key = key
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._gate._drop(self)


class HandshakeGate:
    """Counts pending handshakes per address and in total; decides at accept time (no I/O)."""

    def __init__(
        self,
        *,
        per_address: int = MAX_PENDING_PER_ADDRESS,
        total: int = MAX_PENDING,
        on_refused: RefusalListener | None = None,
    ) -> None:
        self.per_address = per_address
        self.total = total
        self._on_refused = on_refused
        self._pending: dict[PeerKey, _Ticket] = {}
        self._per_address: Counter[str] = Counter()

    @property
    def pending(self) -> int:
        """Connections admitted whose upgrade has not completed."""
        return len(self._pending)

    def admit(self, key: PeerKey) -> _Ticket | None:
        """A ticket for a new connection from ``key``, or None (and the listener told why) when it must be refused."""
        address = key[0]
        if self._per_address[address] >= self.per_address:
            reason = f"{self.per_address} handshakes from this address are pending"
        elif len(self._pending) >= self.total:
            reason = f"{self.total} handshakes are pending"
        else:
            ticket = self._pending[key] = _Ticket(self, key)
            self._per_address[address] += 1
            return ticket
        if self._on_refused is not None:
            self._on_refused(address, reason)
        return None

    def upgraded(self, key: PeerKey | None) -> None:
        """The connection from ``key`` completed its WebSocket upgrade: it no longer counts."""
        ticket = self._pending.get(key) if key is not None else None
        if ticket is not None:
            ticket.release()

    def _drop(self, ticket: _Ticket) -> None:
        if self._pending.get(ticket.key) is ticket:
            del self._pending[ticket.key]
            address = ticket.key[0]
            self._per_address[address] -= 1
            if self._per_address[address] <= 0:
                del self._per_address[address]


class _Connection(socket.socket):
    """An accepted socket that gives its gate ticket back when it is closed (whatever closed it)."""

    def __init__(self, family: int, type: int, proto: int, fileno: int, ticket: _Ticket) -> None:
        super().__init__(family, type, proto, fileno)
        self._ticket = ticket

    def close(self) -> None:
        self._ticket.release()
        super().close()


class GatedListener(socket.socket):
    """A listening socket whose ``accept()`` closes at once the connections its gate refuses."""

    def __init__(self, family: int, type: int, proto: int, *, gate: HandshakeGate) -> None:
        super().__init__(family, type, proto)
        self.gate = gate

    def accept(self) -> tuple[socket.socket, Any]:
        """The next admitted connection; refused ones are reset on the way (``BlockingIOError`` when none is left)."""
        for _ in range(_MAX_REFUSED_PER_ACCEPT):
            fd, address = self._accept()  # type: ignore[attr-defined]
            key = peer_key(address)
            ticket = self.gate.admit(key) if key is not None else None
            if ticket is not None:
                return _Connection(self.family, self.type, self.proto, fd, ticket), address
            refused = socket.socket(self.family, self.type, self.proto, fd)
            refused.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            refused.close()
        raise BlockingIOError  # asyncio treats it as "nothing to accept now" and comes back next turn


def listening_sockets(host: str | None, port: int, gate: HandshakeGate) -> list[GatedListener]:
    """Bound (not yet listening) sockets for ``host`` (None: every address) and ``port``, as asyncio would make them.

    With port 0 every socket gets the port the first one was given. Raises
    :class:`OSError` when an address cannot be bound.
    """
    infos = socket.getaddrinfo(host, port, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[GatedListener] = []
    seen: set[tuple[int, str]] = set()
    bound_port = port
    try:
        for family, type_, proto, _, address in infos:
            if (family, str(address[0])) in seen:
                continue
            seen.add((family, str(address[0])))
            try:
                sock = GatedListener(family, type_, proto, gate=gate)
            except OSError:  # a family this host lacks (no IPv6)
                continue
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address[0], bound_port, *address[2:]))
            bound_port = bound_port or int(sock.getsockname()[1])
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets

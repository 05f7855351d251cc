"""What the add-on knows about a charger's upkeep: its uploaded logs, a firmware update, its connection health.

Part of the state model (imports nothing of ours, does no I/O): one
:class:`Upkeep` per charger, at :attr:`bmw_wallbox.state.ChargerState.upkeep`.
The OCPP handlers record LogStatusNotification and FirmwareStatusNotification,
the OCPP server the connections and round trips, the maintenance service the
logs it asked for and received; readers only read. Writers commit the charger
through the hub as for any other change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

#: Logs kept per charger; asking for one more drops the oldest (and its file).
MAX_LOGS = 10
#: Connection openings remembered (enough for the 24-hour count of a charger that reconnects every 15 min).
MAX_CONNECTS = 100
#: The window of :attr:`Upkeep.reconnects_24h`.
RECONNECT_WINDOW = timedelta(hours=24)
#: Firmware statuses after which a new update may be asked for (the last one ended, well or badly).
FIRMWARE_DONE = frozenset(
    {
        "Installed",
        "DownloadFailed",
        "InstallationFailed",
        "InstallVerificationFailed",
        "InvalidSignature",
        "Rejected",
        "Idle",
        "NotSent",
    }
)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass(kw_only=True)
class LogEntry:
    """One log asked for with GetLog: its id, what was asked, what arrived and the charger's last status.

    ``name`` is the file name the charger gave (in its GetLog answer, else in its upload), shown as
    ``<type>-<id>.log`` while it gave none.
    """

    log_id: str
    request_id: int
    log_type: str
    requested_at: datetime
    name: str | None = None
    size: int | None = None
    received_at: datetime | None = None
    status: str = "Requested"
    bytes_received: int = 0

    def to_json(self) -> dict[str, Any]:
        """The form of ``GET /api/chargers/{id}/logs`` (and of the stored index)."""
        return {
            "id": self.log_id,
            "request_id": self.request_id,
            "type": self.log_type,
            "requested_at": _iso(self.requested_at),
            "name": self.name or f"{self.log_type}-{self.log_id}.log",
            "size": self.size,
            "received_at": _iso(self.received_at),
            "status": self.status,
            "bytes_received": self.bytes_received,
        }


@dataclass(kw_only=True)
class FirmwareUpdate:
    """The last UpdateFirmware: the file's name, the request id and the last status (ours or the charger's)."""

    name: str
    request_id: int
    status: str
    updated_at: datetime
    installed_from: str | None = None
    """The firmware version the charger reported before the update (the next boot's version confirms it)."""

    @property
    def done(self) -> bool:
        """Whether it ended (installed or failed): a new update may be asked for."""
        return self.status in FIRMWARE_DONE

    def to_json(self) -> dict[str, Any]:
        """The ``firmware_update`` of the snapshot."""
        return {"name": self.name, "status": self.status, "updated_at": _iso(self.updated_at)}


@dataclass(kw_only=True)
class Upkeep:
    """One charger's logs, firmware update and connection health."""

    logs: list[LogEntry] = field(default_factory=list)
    firmware_update: FirmwareUpdate | None = None
    rtt_ms: float | None = None
    connects: list[datetime] = field(default_factory=list)

    def log_requested(self, entry: LogEntry) -> list[LogEntry]:
        """A new log was asked for (newest first); returns the entries dropped past ``MAX_LOGS``."""
        self.logs.insert(0, entry)
        dropped = self.logs[MAX_LOGS:]
        del self.logs[MAX_LOGS:]
        return dropped

    def log(self, log_id: str) -> LogEntry | None:
        """The entry with this id."""
        return next((e for e in self.logs if e.log_id == log_id), None)

    def log_status(self, request_id: int | None, status: str) -> LogEntry | None:
        """LogStatusNotification: the status of the log with this request id (the newest when none is given)."""
        entry = next((e for e in self.logs if request_id is None or e.request_id == request_id), None)
        if entry is not None:
            entry.status = status
        return entry

    def firmware_status(self, request_id: int | None, status: str, *, at: datetime) -> bool:
        """FirmwareStatusNotification for the update we asked for; True when it was ours (or names none)."""
        update = self.firmware_update
        if update is None or (request_id is not None and request_id != update.request_id):
            return False
        update.status, update.updated_at = status, at
        return True

    def connected(self, at: datetime) -> None:
        """A connection opened at ``at``."""
        self.connects.append(at)
        del self.connects[:-MAX_CONNECTS]
        self.rtt_ms = None

    def reconnects_24h(self, now: datetime) -> int:
        """Connections opened in the 24 hours before ``now`` after the first one this run of the add-on saw."""
        return sum(1 for at in self.connects[1:] if now - at <= RECONNECT_WINDOW)

    def health(self, *, connected: bool, boot_reason: str | None, now: datetime) -> dict[str, Any]:
        """The health fields of the snapshot (the round trip only while connected).

        The connection's uptime is the snapshot's ``connected_since`` (a time, so
        the snapshot changes only when the state does).
        """
        return {
            "rtt_ms": self.rtt_ms if connected else None,
            "reconnects_24h": self.reconnects_24h(now),
            "boot_reason": boot_reason,
        }

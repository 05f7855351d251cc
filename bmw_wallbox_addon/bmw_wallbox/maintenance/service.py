"""GetLog and UpdateFirmware: ask a charger, hand it a one-time URL, keep what it uploads.

Each request answers with a :class:`Reply` (HTTP status and JSON body) the
panel's API sends as is:

======  =====================================================================
Status  When
======  =====================================================================
200     the charger accepted (the log or update is under way)
404     unknown charger, or unknown firmware file
409     a firmware update is under way (one that ended, well or badly, does not block)
422     the request is not understood (log type, times, name)
501     the charger does not implement the call
502     the charger refused
503     the charger is not connected
504     the charger did not answer in time
======  =====================================================================

The log list of each charger is kept in the state
(:attr:`bmw_wallbox.upkeep.Upkeep.logs`) and saved with the files in
``logs.json`` (see :mod:`.files`); the firmware files are in :mod:`.firmware`.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bmw_wallbox.errors import ChargerCallError, ChargerNotConnectedError, ChargerTimeoutError
from bmw_wallbox.hub import StateHub
from bmw_wallbox.jsonfile import encode, write_text_atomic
from bmw_wallbox.logsafe import shown
from bmw_wallbox.maintenance.files import charger_folder, receive, shown_name
from bmw_wallbox.maintenance.firmware import FirmwareFiles
from bmw_wallbox.maintenance.links import Kind, Link, Links
from bmw_wallbox.maintenance.port import MaintenancePort, TransferAnswer
from bmw_wallbox.maintenance.transfer import TransferServer
from bmw_wallbox.state import ChargerState, Save, utcnow
from bmw_wallbox.upkeep import MAX_LOGS, FirmwareUpdate, LogEntry

_LOGGER = logging.getLogger(__name__)

#: Log types of GetLog (OCPP 2.0.1 ``LogEnumType``).
LOG_TYPES = ("DiagnosticsLog", "SecurityLog")
#: Seconds an upload or download URL stays valid (a charger may wait or retry before it transfers).
LINK_TTL_S = 3600.0
#: Seconds between two commits while an upload arrives (its progress in the panel).
PROGRESS_INTERVAL_S = 0.5
#: The name of each charger's log list.
INDEX_NAME = "logs.json"


@dataclass(frozen=True)
class Reply:
    """An answer of the maintenance API: HTTP status and JSON body."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)


def _error(status: int, error: str, detail: str) -> Reply:
    return Reply(status, {"error": error, "detail": detail})


def parse_time(value: object, what: str) -> datetime | None:
    """An optional ISO 8601 time with its zone; raises ValueError naming ``what``."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} must be an ISO 8601 time such as 2026-01-31T12:00:00Z") from None
    if moment.tzinfo is None:
        raise ValueError(f"{what} needs a time zone (Z or +01:00)")
    return moment


def entry_from(item: object) -> LogEntry | None:
    """A log entry of ``logs.json``, or None when it is not one."""
    if not isinstance(item, dict):
        return None
    try:
        log_id, request_id, log_type = str(item["id"]), item["request_id"], str(item["type"])
        if not (len(log_id) == 12 and log_id.isalnum() and isinstance(request_id, int) and log_type in LOG_TYPES):
            return None
        received = parse_time(item.get("received_at"), "received_at")
        size = item.get("size")
        return LogEntry(
            log_id=log_id,
            request_id=request_id,
            log_type=log_type,
            requested_at=parse_time(item.get("requested_at"), "requested_at") or utcnow(),
            name=shown_name(item.get("name")),
            size=size if isinstance(size, int) and size >= 0 and received else None,
            received_at=received,
            status=str(item.get("status", "Unknown"))[:40],
            bytes_received=size if isinstance(size, int) and size >= 0 and received else 0,
        )
    except (KeyError, ValueError, TypeError):
        return None


class Maintenance:
    """The maintenance service: logs and firmware of every configured charger (see the module docstring)."""

    def __init__(
        self,
        hub: StateHub,
        *,
        data_dir: Path,
        ports: Callable[[str], MaintenancePort | None],
        links: Links | None = None,
        link_ttl_s: float = LINK_TTL_S,
    ) -> None:
        self._hub = hub
        self._root = data_dir / "maintenance"
        self._ports = ports
        self.links = links or Links()
        #: The server of the one-time URLs (the composition root starts and stops it).
        self.transfer = TransferServer(self.links, self)
        self.link_ttl_s = link_ttl_s
        self.firmware = FirmwareFiles(self._root / "firmware")
        self._request_ids = itertools.count(secrets.randbelow(1_000_000) + 1)
        self._saved: dict[str, tuple[tuple[object, ...], ...]] = {}

    def charger(self, charger_id: str) -> ChargerState | None:
        """A configured charger's state."""
        return self._hub.chargers.get(charger_id)

    # --- logs --------------------------------------------------------------------------

    def _folder(self, charger_id: str) -> Path:
        return charger_folder(self._root / "logs", charger_id)

    def log_path(self, charger_id: str, log_id: str) -> Path | None:
        """The file of a received log, None when there is none."""
        state = self._hub.chargers.get(charger_id)
        entry = state.upkeep.log(log_id) if state is not None else None
        if entry is None or entry.received_at is None:
            return None
        path = self._folder(charger_id) / f"{entry.log_id}.log"
        return path if path.is_file() else None

    def load(self) -> None:
        """Read each charger's log list (entries whose file is gone are dropped); a bad list is logged and ignored."""
        for charger_id, state in self._hub.chargers.items():
            path = self._folder(charger_id) / INDEX_NAME
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                continue
            except (OSError, ValueError, RecursionError) as err:
                _LOGGER.warning("[%s] The list of charger logs %s cannot be read (%s)", charger_id, path, err)
                continue
            entries = [e for e in map(entry_from, raw if isinstance(raw, list) else []) if e is not None]
            state.upkeep.logs = [e for e in entries if e.received_at is None or self._on_disk(charger_id, e)][:MAX_LOGS]

    def _on_disk(self, charger_id: str, entry: LogEntry) -> bool:
        """Whether a received entry's file is on disk."""
        return (self._folder(charger_id) / f"{entry.log_id}.log").is_file()

    def attach(self) -> None:
        """Save a charger's log list whenever a commit changed it (a status, a file received, a log dropped)."""
        self._hub.subscribe(lambda charger_id, save: self._save_index(charger_id))

    def _save_index(self, charger_id: str) -> None:
        logs = self._hub.chargers[charger_id].upkeep.logs
        key = tuple((e.log_id, e.status, e.size, e.name) for e in logs)
        if self._saved.get(charger_id, ()) == key:
            return
        self._saved[charger_id] = key
        entries = [e.to_json() for e in logs]
        try:
            write_text_atomic(self._folder(charger_id) / INDEX_NAME, encode(entries))
        except OSError as err:
            _LOGGER.warning("[%s] The list of charger logs cannot be saved (%s)", charger_id, err.strerror)

    async def request_log(self, charger_id: str, body: object) -> Reply:
        """GetLog with a new upload URL; ``body`` is ``{"type": ..., "oldest": ISO?, "latest": ISO?}``."""
        state = self._hub.chargers.get(charger_id)
        if state is None:
            return _error(404, "unknown_charger", "no charger with this id is configured")
        if not isinstance(body, dict) or body.get("type", "DiagnosticsLog") not in LOG_TYPES:
            return _error(422, "invalid", f"type must be one of {', '.join(LOG_TYPES)}")
        try:
            oldest, latest = parse_time(body.get("oldest"), "oldest"), parse_time(body.get("latest"), "latest")
        except ValueError as err:
            return _error(422, "invalid", str(err))
        port = self._ports(charger_id)
        if port is None:
            return _error(503, "not_connected", "the charger is not connected")
        request_id = next(self._request_ids)
        entry = LogEntry(
            log_id=secrets.token_hex(6),
            request_id=request_id,
            log_type=str(body.get("type", "DiagnosticsLog")),
            requested_at=utcnow(),
        )
        for dropped in state.upkeep.log_requested(entry):
            self.links.revoke(charger_id, dropped.log_id)
            (self._folder(charger_id) / f"{dropped.log_id}.log").unlink(missing_ok=True)
        link = self.links.issue(Kind.UPLOAD, charger_id, entry.log_id, ttl_s=self.link_ttl_s)
        url = self._url(charger_id, port, link)
        self._changed(charger_id)
        reply = await self._ask(
            charger_id,
            "GetLog",
            port.get_log(log_type=entry.log_type, request_id=request_id, url=url, oldest=oldest, latest=latest),
        )
        if isinstance(reply, Reply):
            entry.status = "NotSent"
            self.links.revoke(charger_id, entry.log_id)
        else:
            entry.name = shown_name(reply.filename) or entry.name  # the name the charger gave wins
            if entry.status == "Requested":
                entry.status = reply.status
            if reply.status not in ("Accepted", "AcceptedCanceled"):
                self.links.revoke(charger_id, entry.log_id)
        self._changed(charger_id)
        if isinstance(reply, Reply):
            return reply
        status = 200 if reply.status in ("Accepted", "AcceptedCanceled") else 502
        return Reply(status, {"status": reply.status, "log": entry.to_json()})

    def _url(self, charger_id: str, port: MaintenancePort, link: Link) -> str:
        return f"{self.transfer.base_url(port.host or 'localhost')}/transfer/{quote(charger_id, safe='')}/{link.token}"

    async def _ask(self, charger_id: str, action: str, call: Awaitable[TransferAnswer]) -> TransferAnswer | Reply:
        """Await a charger call; the error reply when it fails."""
        try:
            answer = await call
        except ChargerTimeoutError:
            return _error(504, "timeout", f"the charger did not answer {action} in time")
        except ChargerNotConnectedError:
            return _error(503, "not_connected", "the charger disconnected")
        except ChargerCallError as err:
            status = 501 if err.code in ("NotImplemented", "NotSupported") else 502
            return _error(status, "not_supported" if status == 501 else "rejected", f"{action}: {err.code}")
        _LOGGER.info("[%s] %s: %s", charger_id, action, shown(answer.status))
        return answer

    def _changed(self, charger_id: str, save: Save = Save.NO) -> None:
        self._hub.commit(charger_id, save)

    # --- the transfer server's side (Transfers) --------------------------------------------

    async def upload(self, link: Link, chunks: AsyncIterator[bytes], *, name: str | None) -> int:
        """Store a log upload; its progress shows in the charger's log entry (LookupError: the log was dropped)."""
        state = self._hub.chargers[link.charger_id]
        entry = state.upkeep.log(link.target)
        if entry is None:
            raise LookupError("the log was dropped")
        clock = time.monotonic
        last = [clock()]

        def progress(size: int) -> None:
            entry.bytes_received = size
            if clock() - last[0] >= PROGRESS_INTERVAL_S:
                last[0] = clock()
                self._hub.commit(link.charger_id)

        try:
            final = self._folder(link.charger_id) / f"{entry.log_id}.log"
            received = await receive(chunks, final, cap=self.transfer.cap, progress=progress)
        except BaseException:
            entry.bytes_received = 0
            self._hub.commit(link.charger_id)
            raise
        entry.size, entry.bytes_received, entry.received_at = received.size, received.size, utcnow()
        entry.name = entry.name or shown_name(name)
        self._changed(link.charger_id, Save.SOON)
        return received.size

    def download_path(self, link: Link) -> Path | None:
        """The firmware file a download link serves."""
        return self.firmware.path(link.target)

    def downloaded(self, link: Link) -> None:
        """The charger fetched the whole firmware file."""
        _LOGGER.info("[%s] The charger fetched firmware %s", link.charger_id, link.target)

    # --- firmware ------------------------------------------------------------------------

    async def update_firmware(self, charger_id: str, body: object) -> Reply:
        """UpdateFirmware with a new download URL; ``body`` is ``{"name": ..., "install_at": ISO?}``."""
        state = self._hub.chargers.get(charger_id)
        if state is None:
            return _error(404, "unknown_charger", "no charger with this id is configured")
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or self.firmware.path(name) is None:
            return _error(404, "unknown_firmware", "upload the firmware file first (POST /api/firmware)")
        try:
            install_at = parse_time(body.get("install_at"), "install_at") if isinstance(body, dict) else None
        except ValueError as err:
            return _error(422, "invalid", str(err))
        current = state.upkeep.firmware_update
        if current is not None and not current.done:
            return _error(409, "busy", f"an update is under way ({current.name}: {current.status})")
        port = self._ports(charger_id)
        if port is None:
            return _error(503, "not_connected", "the charger is not connected")
        request_id = next(self._request_ids)
        now = utcnow()
        self.links.revoke(charger_id, name)
        link = self.links.issue(Kind.DOWNLOAD, charger_id, name, ttl_s=self.link_ttl_s)
        update = FirmwareUpdate(
            name=name, request_id=request_id, status="Requested", updated_at=now, installed_from=state.boot.firmware
        )
        state.upkeep.firmware_update = update
        self._hub.commit(charger_id)
        url = self._url(charger_id, port, link)
        reply = await self._ask(
            charger_id,
            "UpdateFirmware",
            port.update_firmware(request_id=request_id, url=url, retrieve_at=now, install_at=install_at),
        )
        accepted = not isinstance(reply, Reply) and reply.status in ("Accepted", "AcceptedCanceled")
        if not accepted:
            self.links.revoke(charger_id, name)
        if update.status == "Requested":
            update.status = reply.status if not isinstance(reply, Reply) else "NotSent"
            if not accepted and update.status not in ("NotSent",):
                update.status = "Rejected"
            update.updated_at = utcnow()
        self._hub.commit(charger_id, Save.SOON)
        if isinstance(reply, Reply):
            return reply
        return Reply(200 if accepted else 502, {"status": reply.status, "firmware_update": update.to_json()})

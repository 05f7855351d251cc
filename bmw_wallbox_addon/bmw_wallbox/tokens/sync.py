"""Keeps each charger's local authorization list equal to the token list, so cards work while the add-on is down.

When: after every connect, once the charger's device model was read; and
whenever the entries the list should hold change (a token added, blocked,
regrouped or deleted). One sync runs per charger at a time; a change during a
sync runs it again afterwards. A failed sync is tried again when the list
changes, the charger reconnects, or a user asks (``sync``), never in a loop.

How: GetLocalListVersion, then the messages :func:`~.locallist.plan_updates`
plans (full or differential, in chunks). After each message the charger
accepted, the book records the version and what the list now holds, so a sync
cut short leaves an accurate record and the next one continues from there. A
``VersionMismatch`` to a differential update (someone else changed the list)
makes one full update. Afterwards GetLocalListVersion again: a charger that
reports another version than it accepted is reported as failed.

Only chargers whose device model has ``LocalAuthListCtrlr`` with ``Enabled``
true (or not reported) are synced; the others get the status ``unsupported``
or ``disabled`` and nothing is sent. Each sync ends in an honest
:class:`~bmw_wallbox.results.CommandResult` (command ``local_list``; a failed
call is worded by :func:`~bmw_wallbox.results.from_error`); details never quote
an idToken (charger error texts are masked).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bmw_wallbox.errors import ChargerNotConnectedError
from bmw_wallbox.hub import StateHub
from bmw_wallbox.logsafe import mask_text
from bmw_wallbox.ports import AuthPort
from bmw_wallbox.results import CALL_ERRORS, CommandResult, Outcome, from_error
from bmw_wallbox.state import Save, utcnow
from bmw_wallbox.tokenbook import LocalListState
from bmw_wallbox.tokens.locallist import Entries, applied, plan_updates, wanted_entries

_LOGGER = logging.getLogger(__name__)

COMMAND = "local_list"

PortLookup = Callable[[str], AuthPort | None]


class LocalListSync:
    """Sends the token list to chargers' local lists (see the module docstring)."""

    def __init__(self, hub: StateHub, *, ports: PortLookup) -> None:
        self._hub = hub
        self._book = hub.tokens
        self._ports = ports
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        #: What the list should hold when a sync of this charger last failed: no retry until it changes.
        self._failed_for: dict[str, Entries] = {}
        #: True while this object commits its own progress (not a change of the list).
        self._own_commit = False
        self._unsubscribe: Callable[[], None] | None = None

    def attach(self) -> None:
        """Follow the token list (call inside the running loop)."""
        self._unsubscribe = self._book.subscribe(self._on_book)

    async def close(self) -> None:
        """Stop following the list and cancel running syncs."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- triggers ------------------------------------------------------------------------------

    async def on_connected(self, port: AuthPort) -> CommandResult:
        """Bring a charger's list up to date right after it connected (its capabilities are known)."""
        charger_id = port.state.charger_id
        self._failed_for.pop(charger_id, None)
        return await self.sync(charger_id)

    def _on_book(self, save: Save) -> None:
        if self._own_commit:
            return
        for charger_id in self._hub.chargers:
            lock = self._locks.get(charger_id)
            if lock is not None and lock.locked():
                self._again.add(charger_id)  # looked at again when the running sync ends
            elif self._wants_sync(charger_id):
                self.schedule(charger_id)

    def _wants_sync(self, charger_id: str) -> bool:
        port = self._ports(charger_id)
        if port is None or self._skip_reason(port) is not None:
            return False
        local = self._book.charger(charger_id).local_list
        wanted, _ = wanted_entries(self._book, max_entries=port.state.capabilities.local_list_max_entries)
        if self._failed_for.get(charger_id) == wanted:
            return False
        return local.version is None or local.entries != wanted

    def schedule(self, charger_id: str) -> None:
        """Sync this charger in the background; if one runs already, once more after it."""
        task = self._tasks.get(charger_id)
        if task is not None and not task.done():
            self._again.add(charger_id)
            return
        self._tasks[charger_id] = asyncio.create_task(self._background(charger_id), name=f"local list {charger_id}")

    async def _background(self, charger_id: str) -> None:
        while True:
            await self.sync(charger_id)
            if charger_id not in self._again:
                return

    # --- one sync ------------------------------------------------------------------------------

    async def sync(self, charger_id: str, *, force_full: bool = False) -> CommandResult:
        """Bring one charger's list up to date now and return the honest outcome."""
        lock = self._locks.setdefault(charger_id, asyncio.Lock())
        async with lock:
            self._again.discard(charger_id)
            result = await self._sync(charger_id, force_full=force_full)
        log = _LOGGER.warning if result.outcome in (Outcome.REJECTED, Outcome.TIMEOUT) else _LOGGER.info
        log("[%s] Local list %s: %s", charger_id, result.outcome, result.detail)
        if charger_id in self._again and asyncio.current_task() is not self._tasks.get(charger_id):
            self.schedule(charger_id)  # the list changed while this sync ran
        return result

    async def _sync(self, charger_id: str, *, force_full: bool) -> CommandResult:
        local = self._book.charger(charger_id).local_list
        port = self._ports(charger_id)
        if port is None:
            return self._done(
                local, "pending", Outcome.NOT_CONNECTED, "the charger is not connected; it is updated when it connects"
            )
        skip = self._skip_reason(port)
        if skip is not None:
            status, outcome, detail = skip
            return self._done(local, status, outcome, detail)
        caps = port.state.capabilities
        wanted, left_out = wanted_entries(self._book, max_entries=caps.local_list_max_entries)
        local.left_out = left_out
        self._set(local, "updating", "sending the token list to the charger")
        try:
            return await self._send(port, local, wanted, force_full=force_full)
        except ChargerNotConnectedError:
            return self._done(local, "pending", Outcome.NOT_CONNECTED, "the connection closed during the update")
        except CALL_ERRORS as err:
            failed = from_error(COMMAND, err, mask=self._masked)
            if failed.outcome is Outcome.NOT_SUPPORTED:
                return self._done(local, "unsupported", failed.outcome, failed.detail)
            return self._failure(charger_id, local, wanted, failed.outcome, failed.detail)

    async def _send(self, port: AuthPort, local: LocalListState, wanted: Entries, *, force_full: bool) -> CommandResult:
        charger_id = port.state.charger_id
        caps = port.state.capabilities
        full_tried = force_full
        version = await port.local_list_version()
        sent = 0
        while True:
            plan = plan_updates(
                charger_version=version,
                recorded_version=local.version,
                known=local.entries,
                wanted=wanted,
                per_message=caps.local_list_per_message,
                max_bytes=caps.local_list_max_bytes,
                force_full=full_tried,
            )
            mismatch = False
            for update in plan:
                answer = await port.send_local_list(update)
                sent += 1
                if answer.accepted:
                    local.version, local.entries = update.version, applied(local.entries, update)
                    self._commit()
                    continue
                if answer.status == "VersionMismatch" and not full_tried:
                    mismatch = True
                    break
                what = f"{update.update_type} update to version {update.version} ({update.size} items)"
                reason = self._masked(answer.describe())
                return self._failure(
                    charger_id, local, wanted, Outcome.REJECTED, f"the charger answered {reason} to a {what}"
                )
            if not mismatch:
                break
            full_tried = True
            local.version = local.entries = None
            version = await port.local_list_version()
        if sent:
            reported = await port.local_list_version()
            if reported != local.version:
                detail = f"the charger accepted version {local.version} but reports version {reported}"
                local.version = local.entries = None
                return self._failure(charger_id, local, wanted, Outcome.REJECTED, detail)
        self._failed_for.pop(charger_id, None)
        return self._done(local, "in_sync", Outcome.ACCEPTED, self._summary(local, sent))

    # --- bookkeeping ---------------------------------------------------------------------------

    @staticmethod
    def _skip_reason(port: AuthPort) -> tuple[str, Outcome, str] | None:
        caps = port.state.capabilities
        if caps.local_list_available is None or caps.local_list_available is False:
            reported = caps.reported_at is not None
            detail = (
                "the charger has no local list (LocalAuthListCtrlr)"
                if reported
                else "the charger's device model is not known yet"
            )
            return "unsupported", Outcome.NOT_SUPPORTED, detail
        if caps.local_list_enabled is False:
            return (
                "disabled",
                Outcome.NOT_APPLICABLE,
                "the charger's local list is switched off (LocalAuthListCtrlr.Enabled is false)",
            )
        return None

    @staticmethod
    def _summary(local: LocalListState, sent: int) -> str:
        held = len(local.entries or {})
        text = f"version {local.version}, {held} token{'s' if held != 1 else ''}"
        text += f"; {sent} message{'s' if sent != 1 else ''} sent" if sent else "; nothing to send"
        if local.left_out:
            text += f"; {local.left_out} allowed token(s) did not fit in the charger's list"
        return text

    def _masked(self, text: str) -> str:
        return mask_text(text, self._book.secret_values())

    def _failure(
        self, charger_id: str, local: LocalListState, wanted: Entries, outcome: Outcome, detail: str
    ) -> CommandResult:
        self._failed_for[charger_id] = wanted
        return self._done(local, "failed", outcome, detail)

    def _set(self, local: LocalListState, status: str, detail: str) -> None:
        local.status, local.detail, local.at = status, detail, utcnow()
        self._commit()

    def _commit(self) -> None:
        self._own_commit = True
        try:
            self._book.commit(Save.SOON)
        finally:
            self._own_commit = False

    def _done(self, local: LocalListState, status: str, outcome: Outcome, detail: str) -> CommandResult:
        self._set(local, status, detail)
        return CommandResult(command=COMMAND, outcome=outcome, detail=detail)

"""The token service: every way to change the token list and a charger's authorization settings.

The JSON API (and through it the panel) calls these methods. List edits are
checked by :class:`~bmw_wallbox.tokenbook.TokenBook` (a refused edit raises
:class:`~bmw_wallbox.tokenbook.TokenError`), committed durably, and reach the
chargers' local lists through :class:`~bmw_wallbox.tokens.sync.LocalListSync`,
which follows the book. A rename also renames the token in every charger's
running transaction and session history.

Charger commands (switching whether the charger asks before charging,
``AuthCtrlr.Enabled``, and whether it keeps a local list,
``LocalAuthListCtrlr.Enabled``; a full local-list push; the ClearCache after a
block) run through the one command table, the
:data:`~bmw_wallbox.results.CommandRunner` the composition root hands in: they
go before background calls, have its one deadline, and their outcome is
recorded as the charger's last command and announced like every other
command's. The switches answer with an honest
:class:`~bmw_wallbox.results.CommandResult` (a failed call is worded by
:func:`~bmw_wallbox.results.from_error`):

============================================  =================
The charger answered                          Outcome
============================================  =================
Accepted                                      accepted
RebootRequired                                accepted, with a warning: it takes effect after a reboot
Rejected                                      rejected
UnknownComponent, UnknownVariable,            not_supported
NotSupportedAttributeType, or CALLERROR
NotImplemented / NotSupported
any other CALLERROR                           rejected
nothing within the deadline                   timeout
============================================  =================

Blocking or deleting an allowed token clears the authorization cache
(ClearCache) of every connected charger whose ``AuthCacheCtrlr.Enabled`` is
true or not reported, in the background, so a cached card cannot charge
offline; a charger that answers Rejected or CALLERROR NotImplemented has no
cache to clear (outcome ``not_supported``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from bmw_wallbox.hub import StateHub
from bmw_wallbox.logsafe import mask_text
from bmw_wallbox.ports import AuthPort, VariableChange
from bmw_wallbox.results import CALL_ERRORS, CommandResult, CommandRunner, Outcome, from_error
from bmw_wallbox.state import Save, utcnow
from bmw_wallbox.tokenbook import AuthPolicy, Token, TokenError
from bmw_wallbox.tokens.sync import LocalListSync

_LOGGER = logging.getLogger(__name__)

#: The two settings a user may switch, by the name the API uses: (component, variable).
SETTINGS: dict[str, tuple[str, str]] = {
    "charger_authorization": ("AuthCtrlr", "Enabled"),
    "local_list": ("LocalAuthListCtrlr", "Enabled"),
}
_NOT_SUPPORTED = frozenset({"UnknownComponent", "UnknownVariable", "NotSupportedAttributeType"})
#: The command name of the full local-list push and of the cache clear after a block.
SEND_LIST = "local_list"
CLEAR_CACHE = "clear_cache"

PortLookup = Callable[[str], AuthPort | None]


class TokenService:
    """Edits the token list and switches authorization settings on chargers (see the module docstring)."""

    def __init__(
        self,
        hub: StateHub,
        *,
        sync: LocalListSync,
        ports: PortLookup,
        commands: CommandRunner,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.hub = hub
        self.book = hub.tokens
        self.sync = sync
        self._ports = ports
        self._commands = commands
        self._clock = clock
        self._clearing: set[asyncio.Task[CommandResult]] = set()

    # --- the list ------------------------------------------------------------------------------

    def add(self, name: object, value: object, kind: object, *, allowed: bool = True) -> Token:
        """Add a token; raises :class:`TokenError`."""
        token = self.book.add(name, value, kind, at=self._clock(), allowed=allowed)
        _LOGGER.info("Token %r added (%s, %s)", token.name, token.kind, "allowed" if token.allowed else "blocked")
        self.book.commit(Save.NOW)
        return token

    def add_unknown(self, unknown_ref: str, name: object, *, allowed: bool = True) -> Token:
        """Add a token a charger presented lately under ``name``; raises :class:`TokenError`."""
        token = self.book.add_unknown(unknown_ref, name, at=self._clock(), allowed=allowed)
        _LOGGER.info("Token %r added from a card presented at a charger", token.name)
        self.book.commit(Save.NOW)
        return token

    def update(
        self,
        ref: str,
        *,
        name: object = None,
        allowed: bool | None = None,
        group: str | bool | None = False,
        remote_start: bool | None = None,
    ) -> Token:
        """Rename, allow, block, regroup or choose for remote starts; raises :class:`TokenError`."""
        before = self.book.tokens.get(ref)
        token = self.book.update(ref, name=name, allowed=allowed, group=group, remote_start=remote_start)
        if before is not None and before.name != token.name:
            _LOGGER.info("Token %r renamed to %r", before.name, token.name)
            for charger_id, state in self.hub.chargers.items():
                if state.token_renamed(ref, token.name):
                    self.hub.commit(charger_id, Save.SOON)
        if before is not None and before.allowed != token.allowed:
            _LOGGER.info("Token %r %s", token.name, "allowed" if token.allowed else "blocked")
        self.book.commit(Save.NOW)
        if before is not None and before.allowed and not token.allowed:
            self._clear_caches()
        return token

    def delete(self, ref: str) -> Token:
        """Remove a token (its sessions keep its name); raises :class:`TokenError`."""
        token = self.book.delete(ref)
        _LOGGER.info("Token %r deleted", token.name)
        self.book.commit(Save.NOW)
        if token.allowed:
            self._clear_caches()
        return token

    def dismiss_unknown(self, ref: str) -> None:
        """Forget a token a charger presented; raises :class:`TokenError`."""
        self.book.dismiss_unknown(ref)
        self.book.commit(Save.NOW)

    def set_policy(self, charger_id: str, policy: object) -> AuthPolicy:
        """Set which tokens a charger accepts; raises :class:`TokenError` (``not_found``, ``invalid``)."""
        if charger_id not in self.hub.chargers:
            raise TokenError("not_found", f"no charger with id {charger_id!r} is configured")
        chosen = self.book.set_policy(charger_id, policy)
        _LOGGER.info("[%s] Authorization policy: %s", charger_id, chosen)
        self.book.commit(Save.NOW)
        return chosen

    # --- the charger -----------------------------------------------------------------------------

    async def switch(self, charger_id: str, setting: str, enabled: bool) -> CommandResult:
        """Switch ``charger_authorization`` or ``local_list`` on or off on the charger (SetVariables)."""
        command = f"{setting}_{'on' if enabled else 'off'}"
        return await self._commands(command, charger_id, lambda: self._switch(charger_id, setting, enabled, command))

    async def send_list(self, charger_id: str) -> CommandResult:
        """Send the whole list to the charger again now (a full update) and return the outcome."""
        return await self._commands(SEND_LIST, charger_id, lambda: self.sync.sync(charger_id, force_full=True))

    async def clear_cache(self, charger_id: str) -> CommandResult:
        """ClearCache on one charger (see the module docstring) and return the outcome."""
        return await self._commands(CLEAR_CACHE, charger_id, lambda: self._clear_cache(charger_id))

    async def close(self) -> None:
        """Cancel cache clears still running."""
        tasks = list(self._clearing)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _clear_caches(self) -> None:
        """A token lost its right to charge: clear every connected charger's cache that may hold it."""
        for charger_id, state in self.hub.chargers.items():
            if self._ports(charger_id) is None or state.capabilities.variables.get("AuthCacheCtrlr.Enabled") == "false":
                continue
            task = asyncio.get_running_loop().create_task(
                self.clear_cache(charger_id), name=f"clear cache {charger_id}"
            )
            self._clearing.add(task)
            task.add_done_callback(self._clearing.discard)

    async def _clear_cache(self, charger_id: str) -> CommandResult:
        port = self._ports(charger_id)
        if port is None:
            return CommandResult(
                command=CLEAR_CACHE, outcome=Outcome.NOT_CONNECTED, detail="the charger is not connected"
            )
        try:
            answer = await port.clear_cache()
        except CALL_ERRORS as err:
            return from_error(CLEAR_CACHE, err, mask=self._masked)
        if answer.accepted:
            return CommandResult(
                command=CLEAR_CACHE, outcome=Outcome.ACCEPTED, detail="the authorization cache is cleared"
            )
        detail = f"the charger answered {self._masked(answer.describe())}: it keeps no authorization cache to clear"
        return CommandResult(command=CLEAR_CACHE, outcome=Outcome.NOT_SUPPORTED, detail=detail)

    async def _switch(self, charger_id: str, setting: str, enabled: bool, command: str) -> CommandResult:
        component, variable = SETTINGS[setting]
        state = self.hub.chargers[charger_id]
        port = self._ports(charger_id)
        if port is None:
            return CommandResult(command=command, outcome=Outcome.NOT_CONNECTED, detail="the charger is not connected")
        caps = state.capabilities
        writable = caps.auth_writable if setting == "charger_authorization" else caps.local_list_writable
        if writable is False:
            detail = f"{component}.{variable} is read-only on this charger"
            return CommandResult(command=command, outcome=Outcome.NOT_SUPPORTED, detail=detail)
        change = VariableChange(component=component, variable=variable, value="true" if enabled else "false")
        result = await self._set_variable(port, change, command)
        if result.ok:
            state.setting_changed(component, variable, change.value)  # committed with the command's outcome
            if setting == "local_list" and enabled:
                self.sync.schedule(charger_id)
        return result

    def _masked(self, text: str) -> str:
        return mask_text(text, self.book.secret_values())

    async def _set_variable(self, port: AuthPort, change: VariableChange, command: str) -> CommandResult:
        name = f"{change.component}.{change.variable}"
        try:
            answer = await port.set_variable(change)
        except CALL_ERRORS as err:
            return from_error(command, err, mask=self._masked)
        said = answer.describe()
        if answer.status == "Accepted":
            return CommandResult(command=command, outcome=Outcome.ACCEPTED, detail=f"{name} is now {change.value}")
        if answer.status == "RebootRequired":
            warning = "it takes effect after the charger reboots"
            detail = f"{name} is set to {change.value}; {warning}"
            return CommandResult(command=command, outcome=Outcome.ACCEPTED, detail=detail, warning=warning)
        if answer.status in _NOT_SUPPORTED:
            return CommandResult(command=command, outcome=Outcome.NOT_SUPPORTED, detail=f"the charger answered {said}")
        return CommandResult(command=command, outcome=Outcome.REJECTED, detail=f"the charger refused ({said})")

"""The charger ports: what the controller and the token service may ask of a connected charger, in our own types.

The controller (through :class:`ChargerPort`) and the token service (through
:class:`AuthPort`) decide; a port (implemented in :mod:`bmw_wallbox.csms.port`
over the OCPP connection, and by small fakes in the tests) turns each request
into OCPP and the answer back into the types below. This module is neutral
ground: it imports only the state model and the token book's entry type, so
neither side imports the other. Failures are raised as
:class:`~bmw_wallbox.errors.ChargerTimeoutError`,
:class:`~bmw_wallbox.errors.ChargerCallError` (a CALLERROR, with its code) and
:class:`~bmw_wallbox.errors.ChargerNotConnectedError`.

One call is in flight per charger at a time. Calls made while
:data:`USER_COMMAND` is true (a command a person or an automation is waiting
for) go before background calls that are still waiting for their turn.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bmw_wallbox.state import ChargerState
from bmw_wallbox.tokenbook import ListEntry

#: True while the current task runs a user command: its charger calls jump the queue.
USER_COMMAND: ContextVar[bool] = ContextVar("user_command", default=False)


class Strategy(StrEnum):
    """A way to put a limit on the charger (see :mod:`bmw_wallbox.controller.profiles`)."""

    TX_DEFAULT = "tx_default"
    TX_PROFILE = "tx_profile"
    STATION_MAX = "station_max"


class RateUnit(StrEnum):
    """The unit of a charging-profile limit."""

    AMPS = "A"
    WATTS = "W"


@dataclass(frozen=True, kw_only=True)
class LimitProfile:
    """One charging profile with a single Absolute period of ``limit`` (in ``unit``) from now on.

    ``evse_id`` 0 means the whole station; ``transaction_id`` binds a TxProfile.
    """

    strategy: Strategy
    profile_id: int
    stack_level: int
    evse_id: int
    limit: float
    unit: RateUnit = RateUnit.AMPS
    transaction_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Answer:
    """A status answer: ``status`` as the charger said it, plus its optional reason."""

    status: str
    reason_code: str | None = None
    additional_info: str | None = None

    @property
    def accepted(self) -> bool:
        """True when the charger said Accepted."""
        return self.status == "Accepted"

    def describe(self) -> str:
        """``Rejected: InvalidProfile: text`` (what the charger said, for people)."""
        return ": ".join(p for p in (self.status, self.reason_code, self.additional_info) if p)


@dataclass(frozen=True, kw_only=True)
class StartAnswer(Answer):
    """The answer to a remote start; ``transaction_id`` when the charger named one already."""

    transaction_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class TransactionStatus:
    """GetTransactionStatus: whether it still runs (None: the charger did not say) and messages are queued."""

    ongoing: bool | None
    messages_in_queue: bool


@dataclass(frozen=True, kw_only=True)
class IdToken:
    """The token a remote start carries: its value and OCPP ``IdTokenEnumType`` (``Central``, ...)."""

    value: str
    kind: str


class ChargerPort(Protocol):
    """A connected charger, as the controller sees it."""

    @property
    def state(self) -> ChargerState:
        """The charger's state (read it; record results through its methods)."""

    async def set_limit(self, profile: LimitProfile) -> Answer:
        """SetChargingProfile."""

    async def composite_limit(self, *, evse_id: int, duration_s: int) -> float | None:
        """The limit in A in force now (GetCompositeSchedule); None when the charger cannot say."""

    async def transaction_status(self, transaction_id: str) -> TransactionStatus:
        """GetTransactionStatus for one transaction."""

    async def request_start(self, *, evse_id: int, remote_start_id: int, id_token: IdToken) -> StartAnswer:
        """RequestStartTransaction."""

    async def request_stop(self, transaction_id: str) -> Answer:
        """RequestStopTransaction."""

    async def reset(self) -> Answer:
        """Reset(Immediate)."""


class UpdateType(StrEnum):
    """``UpdateEnumType`` of SendLocalList."""

    FULL = "Full"
    DIFFERENTIAL = "Differential"


@dataclass(frozen=True, kw_only=True)
class LocalListUpdate:
    """One SendLocalList: its type, the version the list has once it is applied, what to add or change, what to remove.

    A full update replaces the list with ``entries`` (``removed`` is empty); a
    differential one adds or changes ``entries`` and removes the ``removed``
    tokens, given as (value, kind).
    """

    update_type: UpdateType
    version: int
    entries: tuple[ListEntry, ...] = ()
    removed: tuple[tuple[str, str], ...] = ()

    @property
    def size(self) -> int:
        """Items in the message."""
        return len(self.entries) + len(self.removed)


@dataclass(frozen=True, kw_only=True)
class VariableChange:
    """One device-model variable to set (SetVariables, attribute Actual)."""

    component: str
    variable: str
    value: str


class AuthPort(Protocol):
    """A connected charger, as the token service sees it (local list and authorization settings)."""

    @property
    def state(self) -> ChargerState:
        """The charger's state (read it; record results through its methods)."""

    async def local_list_version(self) -> int:
        """GetLocalListVersion: the version of the charger's local list (0: none)."""

    async def send_local_list(self, update: LocalListUpdate) -> Answer:
        """SendLocalList; the status is ``Accepted``, ``Failed`` or ``VersionMismatch``."""

    async def set_variable(self, change: VariableChange) -> Answer:
        """SetVariables for one variable; the status is the ``SetVariableStatusEnumType`` the charger answered."""

    async def clear_cache(self) -> Answer:
        """ClearCache: the charger forgets the authorization cache; the status is ``Accepted`` or ``Rejected``."""

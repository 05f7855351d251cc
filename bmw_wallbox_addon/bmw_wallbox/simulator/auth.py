"""Authorization in the simulated wallbox: the local authorization list and a card tapped at the reader.

The device model's ``LocalAuthListCtrlr`` (the Delta's: off by default, 32
entries at most, 8 per SendLocalList message) with the rules of OCPP 2.0.1
D01/D02, as a charger applies them:

- SendLocalList while the list is switched off, with version 0, with more
  items than ``ItemsPerMessage``, with the same token twice, or that would
  hold more than ``Entries`` (its maxLimit) tokens: ``Failed``, nothing changes;
- a full update replaces the list (every entry needs its ``idTokenInfo``);
- a differential update needs a version above the current one
  (``VersionMismatch`` otherwise): entries with ``idTokenInfo`` are added or
  changed, entries without are removed;
- GetLocalListVersion answers the version (0: no list, or switched off).

A card tapped (:func:`present`): with ``LocalPreAuthorize`` a token the list
accepts is accepted at once; else, online, the charger asks the CSMS
(Authorize); offline, with ``LocalAuthorizeOffline``, the list decides, and a
token the list does not hold is refused. An accepted token authorizes the
transaction (:meth:`~.evse.Evse.authorize`). What the CSMS answers to the
TransactionEvent that carries the token is not acted on (no
``StopTxOnInvalidId``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bmw_wallbox.simulator._lib import call, call_result, enums, on
from bmw_wallbox.simulator.device_model import DeviceModel, Variable

if TYPE_CHECKING:
    from bmw_wallbox.simulator.station import Station

_LOGGER = logging.getLogger(__name__)
_Status = enums.SendLocalListStatusEnumType
_RW = enums.MutabilityEnumType.read_write
_RO = enums.MutabilityEnumType.read_only

#: The Delta's local list: at most 32 tokens, 8 per SendLocalList message.
MAX_ENTRIES = 32
ITEMS_PER_MESSAGE = 8
BYTES_PER_MESSAGE = 4096
_COMPONENT = "LocalAuthListCtrlr"


@dataclass(eq=False)
class LocalAuthList:
    """The charger's local authorization list: its version and, per (value, kind), the ``idTokenInfo`` kept."""

    version: int = 0
    entries: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def lookup(self, value: str, kind: str) -> str | None:
        """The status the list keeps for a token, or None when it holds no entry for it."""
        info = self.entries.get((value, kind))
        return None if info is None else str(info.get("status"))

    def apply(
        self,
        version: int,
        update_type: str,
        items: list[dict[str, Any]] | None,
        *,
        enabled: bool,
        max_entries: int,
        per_message: int,
    ) -> str:
        """Apply one SendLocalList (snake_case items); return its status (see the module docstring)."""
        items = items or []
        keys = [(i["id_token"]["id_token"], i["id_token"]["type"]) for i in items]
        if not enabled or version <= 0 or len(items) > per_message or len(set(keys)) != len(keys):
            return str(_Status.failed)
        if update_type == enums.UpdateEnumType.full:
            if any(i.get("id_token_info") is None for i in items) or len(items) > max_entries:
                return str(_Status.failed)
            self.entries = {key: item["id_token_info"] for key, item in zip(keys, items, strict=True)}
        else:
            if version <= self.version:
                return str(_Status.version_mismatch)
            after = dict(self.entries)
            for key, item in zip(keys, items, strict=True):
                if item.get("id_token_info") is None:
                    after.pop(key, None)
                else:
                    after[key] = item["id_token_info"]
            if len(after) > max_entries:
                return str(_Status.failed)
            self.entries = after
        self.version = version
        return str(_Status.accepted)


def local_list_variables(local_list: LocalAuthList, *, enabled: bool = False) -> list[Variable]:
    """The ``LocalAuthListCtrlr`` variables (``Entries`` reads the list's size; its maxLimit is the most it holds)."""
    integer, boolean = enums.DataEnumType.integer, enums.DataEnumType.boolean
    return [
        Variable(component=_COMPONENT, name="Available", value="true", data_type=boolean),
        Variable(
            component=_COMPONENT,
            name="Enabled",
            value="true" if enabled else "false",
            mutability=_RW,
            data_type=boolean,
        ),
        Variable(
            component=_COMPONENT,
            name="Entries",
            data_type=integer,
            max_limit=MAX_ENTRIES,
            source=lambda: str(len(local_list.entries)),
        ),
        Variable(component=_COMPONENT, name="ItemsPerMessage", value=str(ITEMS_PER_MESSAGE), data_type=integer),
        Variable(component=_COMPONENT, name="BytesPerMessage", value=str(BYTES_PER_MESSAGE), data_type=integer),
    ]


def list_enabled(model: DeviceModel) -> bool:
    """True when the charger has a local list and it is switched on."""
    try:
        return model.value(_COMPONENT, "Enabled") == "true"
    except KeyError:
        return False


def _flag(model: DeviceModel, name: str) -> bool:
    try:
        return model.value("AuthCtrlr", name) == "true"
    except KeyError:
        return False


class LocalListHandlers:
    """The charge point's SendLocalList and GetLocalListVersion handlers (mixed into the simulator's charge point).

    Needs ``self._station`` (a :class:`~.station.Station`) and ``self._log``.
    """

    _station: Station
    _log: Any

    @on(enums.Action.send_local_list)
    def on_send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Apply the update with the charger's rules."""
        model = self._station.variables
        status = self._station.local_list.apply(
            version_number,
            update_type,
            local_authorization_list,
            enabled=list_enabled(model),
            max_entries=MAX_ENTRIES,
            per_message=int(model.value(_COMPONENT, "ItemsPerMessage")),
        )
        size = len(local_authorization_list or [])
        self._log.info("SendLocalList %s version %s (%d items) -> %s", update_type, version_number, size, status)
        return call_result.SendLocalList(status=status)

    @on(enums.Action.get_local_list_version)
    def on_get_local_list_version(self, **kwargs: Any) -> Any:
        """The list's version; 0 while it is switched off."""
        enabled = list_enabled(self._station.variables)
        return call_result.GetLocalListVersion(version_number=self._station.local_list.version if enabled else 0)


async def present(station: Station, value: str, kind: str) -> str:
    """A card tapped at the reader: decide (see the module docstring), authorize the session if accepted.

    Returns the status the token got; returns once what it caused was answered (at once while offline).
    """
    model: DeviceModel = station.variables
    id_token = {"id_token": value, "type": kind}
    local = station.local_list.lookup(value, kind) if list_enabled(model) else None
    if local == "Accepted" and _flag(model, "LocalPreAuthorize"):
        status, source = local, "local list"
    elif station.online:
        (answered,) = station.post([call.Authorize(id_token=id_token)])
        result = await answered
        status = str((result.id_token_info or {}).get("status")) if result is not None else "NoAnswer"
        source = "CSMS"
    elif _flag(model, "LocalAuthorizeOffline") and local is not None:
        status, source = local, "local list (offline)"
    else:
        status, source = "Invalid", "offline, not in the local list"
    station.log.info("Token presented (%s): %s", source, status)
    station.presented.append((kind, status, source))
    if status == "Accepted":
        waiting = (evse for evse in station.evses if evse.plugged and evse.transaction is None)
        station.post(next(waiting, station.evse).authorize(id_token))
        await station.drain()
    return status

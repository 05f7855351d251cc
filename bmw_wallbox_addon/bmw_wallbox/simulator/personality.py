"""Charger personalities: which OCPP 2.0.1 behaviours the simulated charging station shows.

A :class:`Personality` is a frozen set of behaviour flags plus the identity the
charger announces. Its field defaults describe a plain charger that follows the
specification; each preset changes one thing, so tests can check the CSMS
against chargers that are not the Delta:

- :data:`DELTA` (the simulator's default): the BMW/Delta wallbox, firmware quirks on.
- :data:`PER_TX_REGISTER`: ``Energy.Active.Import.Register`` counts per transaction, from 0.
- :data:`NO_SMART_CHARGING`: the smart-charging calls get CALLERROR NotImplemented.
- :data:`SILENT_RECONNECT`: after a network drop it reconnects and says nothing.
- :data:`LOSES_TRANSACTION`: a crash forgets the running transaction and its queue.
- :data:`DUAL_EVSE`: two EVSEs, each with its own meter, under one station maximum.

:func:`combine` merges presets where that makes sense, e.g.
``combine(PER_TX_REGISTER, NO_SMART_CHARGING)``.

The Delta's quirks are the firmware behaviour reported from the field:
SetChargingProfile with stackLevel > 0 Rejected; a profile id reused for another
purpose Rejected; a TxProfile during SuspendedEV/SuspendedEVSE Accepted but
dropped; after one rejected TxProfile all later ones of that transaction
Rejected; after SuspendedEVSE an installed TxProfile cannot be cleared (Unknown)
or replaced; an Accepted RequestStartTransaction delivers 0 W until a profile
with a limit > 0 arrives; after a RequestStopTransaction remote starts are
Rejected until unplug or reboot; the non-phased Current.Import total freezes at
the first limit change; NotifyEVChargingNeeds at plug-in. Every personality
(quirks or not): TriggerMessage Boot/StatusNotification Rejected,
StopTxOnEVSideDisconnect read-only, TxUpdatedInterval 0 by default, the real
unit's device model (with Connector and EVSE AvailabilityState; without
SmartChargingCtrlr for NO_SMART_CHARGING); all but LOSES_TRANSACTION start a
new transaction after a reboot with the car plugged in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any

from bmw_wallbox.simulator._lib import enums

_Action = enums.Action

#: The CSMS calls of the optional smart-charging functional block (K).
SMART_CHARGING_ACTIONS = frozenset(
    {
        _Action.set_charging_profile,
        _Action.clear_charging_profile,
        _Action.get_charging_profiles,
        _Action.get_composite_schedule,
    }
)

#: The most EVSEs a simulated station has.
MAX_EVSES = 4

#: The CSMS calls of the local authorization list (functional block D).
LOCAL_LIST_ACTIONS = frozenset({_Action.send_local_list, _Action.get_local_list_version})


@dataclass(frozen=True, kw_only=True)
class Personality:
    """How the simulated charger behaves on the wire; the defaults are a plain, spec-following charger.

    - ``quirks``: the Delta firmware quirks (see ``WallboxSimulator``); they need
      ``smart_charging``, since a quirky remote start waits for a charging profile.
    - ``vendor_name``/``model``/``firmware_version``: the BootNotification identity.
    - ``register_per_transaction``: ``Energy.Active.Import.Register`` restarts at
      0 Wh when a transaction starts and keeps the session's total after it ends
      (otherwise a lifetime counter).
    - ``smart_charging``: False answers SetChargingProfile, ClearChargingProfile,
      GetChargingProfiles and GetCompositeSchedule with CALLERROR NotImplemented,
      leaves SmartChargingCtrlr out of the device model and ignores a profile inside
      RequestStartTransaction; the car then draws the hardware/car maximum.
    - ``status_after_reconnect``: after a network drop without reboot, report the
      connector with a StatusNotification (the Delta does); False sends nothing.
    - ``new_transaction_after_boot``: a car still plugged in after a (re)boot
      starts a new transaction by itself (the Delta does).
    - ``crash_loses_transaction``: what ``WallboxSimulator.crash()`` does by
      default: forget the running transaction and every queued message (True), or
      keep the queue and end the transaction after the restart (False).
    - ``reason_codes``: Rejected answers that have a reason carry
      ``statusInfo.reasonCode`` (TriggerMessage(TransactionEvent) without a
      transaction: ``TxNotFound``).
    - ``local_auth_list``: the device model has ``LocalAuthListCtrlr`` (see
      :mod:`.auth`); False leaves it out and answers SendLocalList and
      GetLocalListVersion with CALLERROR NotImplemented.
    - ``evses``: how many EVSEs (one connector each, a meter each). With more
      than one, a ChargingStationMaxProfile limits the sum of their currents
      (what one EVSE draws is not offered to the others) and each EVSE's
      register starts at an equal share of the simulator's ``energy_wh``.
    """

    name: str
    quirks: bool = False
    vendor_name: str = "SimCharge"
    model: str = "AC22-Generic"
    firmware_version: str = "2.0.1-sim"
    register_per_transaction: bool = False
    smart_charging: bool = True
    status_after_reconnect: bool = True
    new_transaction_after_boot: bool = True
    crash_loses_transaction: bool = False
    reason_codes: bool = True
    local_auth_list: bool = True
    evses: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.evses <= MAX_EVSES:
            msg = f"personality {self.name!r}: evses must be 1 to {MAX_EVSES}"
            raise ValueError(msg)
        if self.quirks and not self.smart_charging:
            msg = f"personality {self.name!r}: the Delta quirks need smart charging"
            raise ValueError(msg)

    @property
    def unimplemented_actions(self) -> frozenset[str]:
        """CSMS calls this charger answers with CALLERROR NotImplemented."""
        unimplemented = frozenset() if self.smart_charging else SMART_CHARGING_ACTIONS
        return unimplemented if self.local_auth_list else unimplemented | LOCAL_LIST_ACTIONS


DELTA = Personality(
    name="delta",
    quirks=True,
    vendor_name="Delta Electronics",
    model="EIAW-E22KTSE6B04",
    firmware_version="01.20.06.71",
    reason_codes=False,
)
PER_TX_REGISTER = Personality(name="per-tx-register", register_per_transaction=True)
NO_SMART_CHARGING = Personality(name="no-smart-charging", smart_charging=False)
SILENT_RECONNECT = Personality(name="silent-reconnect", status_after_reconnect=False)
LOSES_TRANSACTION = Personality(
    name="loses-transaction", crash_loses_transaction=True, new_transaction_after_boot=False
)

DUAL_EVSE = Personality(name="dual-evse", evses=2)

#: The presets by name (the ``--demo-personality`` choices; ``a+b`` combines them).
PRESETS: Mapping[str, Personality] = MappingProxyType(
    {p.name: p for p in (DELTA, PER_TX_REGISTER, NO_SMART_CHARGING, SILENT_RECONNECT, LOSES_TRANSACTION, DUAL_EVSE)}
)


def combine(*parts: Personality) -> Personality:
    """Merge personalities: each field takes the first value (in order) that differs from the default.

    The name joins the parts' names with ``+``; the first part that names a
    charger gives the identity. Raises ValueError for no parts or an inconsistent
    result (the Delta quirks without smart charging).
    """
    if not parts:
        msg = "combine() needs at least one personality"
        raise ValueError(msg)
    changes: dict[str, Any] = {}
    for field in fields(Personality):
        chosen = [getattr(p, field.name) for p in parts if getattr(p, field.name) != field.default]
        if field.name != "name" and chosen:
            changes[field.name] = chosen[0]
    return replace(Personality(name="+".join(p.name for p in parts)), **changes)


def preset(name: str) -> Personality:
    """Return the preset called ``name``, or the presets ``a+b`` combined (:func:`combine`).

    Raises ValueError naming the choices for an unknown one.
    """
    parts = name.split("+")
    unknown = [part for part in parts if part not in PRESETS]
    if unknown:
        msg = f"unknown personality {unknown[0][:40]!r}; choose one of {', '.join(PRESETS)} (or several joined with +)"
        raise ValueError(msg)
    return PRESETS[name] if len(parts) == 1 else combine(*(PRESETS[part] for part in parts))

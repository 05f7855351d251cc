"""What a test can observe of a simulated wallbox: the read-only half of :class:`~.wallbox.WallboxSimulator`.

No I/O and no changes: every property reads the station, the uplink or the
clock the simulator built.
"""

from __future__ import annotations

from typing import Any

from bmw_wallbox.simulator.auth import LocalAuthList
from bmw_wallbox.simulator.clock import SimClock
from bmw_wallbox.simulator.device_model import DeviceModel
from bmw_wallbox.simulator.evse import Evse
from bmw_wallbox.simulator.profiles import ChargingProfile
from bmw_wallbox.simulator.station import Station
from bmw_wallbox.simulator.uplink import Uplink


class WallboxView:
    """The observable state of a simulated wallbox (its subclass sets ``clock``, ``_station`` and ``_uplink``)."""

    clock: SimClock
    _station: Station
    _uplink: Uplink

    @property
    def connected(self) -> bool:
        """True while connected and booted (BootNotification accepted)."""
        return self._uplink.connected.is_set()

    @property
    def boot_count(self) -> int:
        """BootNotifications the CSMS accepted so far."""
        return self._uplink.boot_count

    def evse(self, evse_id: int = 1) -> Evse:
        """EVSE ``evse_id`` (the properties here describe EVSE 1); KeyError for an id the station does not have.

        Read it (``plugged``, ``transaction``, ``charging_state``, ``offered_current_a()``,
        ``meter.current_a``, ``meter.power_w``, ``meter.energy_wh(now_s)``); change it only through the controls.
        """
        evse = self._station.evse_by_id(evse_id)
        if evse is None:
            raise KeyError(f"this station has no EVSE {evse_id}")
        return evse

    @property
    def plugged(self) -> bool:
        """True while a car is plugged in."""
        return bool(self._station.evse.plugged)

    @property
    def transaction_id(self) -> str | None:
        """Id of the running transaction, None between sessions."""
        tx = self._station.evse.transaction
        return tx.id if tx else None

    @property
    def charging_state(self) -> str:
        """Idle, EVConnected, Charging, SuspendedEV or SuspendedEVSE."""
        return str(self._station.evse.charging_state)

    @property
    def offered_current_a(self) -> float:
        """Effective limit per phase from the active profiles (hardware max without any), in A."""
        return self._station.evse.offered_current_a()

    @property
    def current_a(self) -> float:
        """Current the car draws per phase now, in A."""
        return float(self._station.evse.meter.current_a)

    @property
    def power_w(self) -> float:
        """Active power now, in W."""
        return float(self._station.evse.meter.power_w)

    @property
    def energy_wh(self) -> float:
        """What Energy.Active.Import.Register shows now, in Wh (lifetime, or per session with PER_TX_REGISTER)."""
        return self._station.evse.meter.register_wh(self.clock.now_s())

    @property
    def lifetime_energy_wh(self) -> float:
        """The hidden lifetime meter now: ``energy_wh`` at construction plus all energy since, in Wh."""
        return self._station.evse.meter.energy_wh(self.clock.now_s())

    @property
    def session_energies_wh(self) -> list[float]:
        """True energy of each transaction that ended (or was lost in a crash), in order, in Wh."""
        return list(self._station.evse.meter.session_energies_wh)

    @property
    def received(self) -> list[tuple[str, dict[str, Any]]]:
        """Every CSMS -> charger call as (action, camelCase payload), in arrival order (newest 10000)."""
        return self._station.received

    @property
    def sent(self) -> list[tuple[str, dict[str, Any]]]:
        """Every charger -> CSMS request as (action, camelCase payload), in sending order (newest 10000)."""
        return self._station.sent

    @property
    def reset_count(self) -> int:
        """Reset calls received so far (answered or not)."""
        return self._station.received_count("Reset")

    def received_count(self, action: str) -> int:
        """Return how many ``action`` calls the CSMS sent so far (answered or not, never trimmed)."""
        return self._station.received_count(action)

    @property
    def profiles(self) -> dict[int, ChargingProfile]:
        """Installed charging profiles by id."""
        return self._station.evse.profiles.profiles

    @property
    def variables(self) -> DeviceModel:
        """The device model (GetVariables/SetVariables/GetBaseReport answer from it)."""
        return self._station.variables

    @property
    def local_list(self) -> LocalAuthList:
        """The local authorization list (version and entries) as SendLocalList left it."""
        return self._station.local_list

    @property
    def presented(self) -> list[tuple[str, str, str]]:
        """Every token presented so far: (kind, status it got, what decided), never the token itself."""
        return list(self._station.presented)

    @property
    def reject_profiles(self) -> set[str]:
        """Profile purposes to reject whatever their content, e.g. {"TxDefaultProfile"}; mutable."""
        return self._station.evse.reject_profiles

    @reject_profiles.setter
    def reject_profiles(self, purposes: set[str]) -> None:
        self._station.evse.reject_profiles = set(purposes)

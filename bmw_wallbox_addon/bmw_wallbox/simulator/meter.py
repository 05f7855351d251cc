"""The wallbox's meter: energy (lifetime and per session), register, instantaneous values.

Pure logic, no I/O. Energy integrates power over simulated time (piecewise
constant between updates). Values are per phase unless named ``total``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bmw_wallbox.simulator._lib import enums

_M = enums.MeasurandEnumType
_UNITS = {
    _M.energy_active_import_register: "Wh",
    _M.power_active_import: "W",
    _M.current_import: "A",
    _M.voltage: "V",
}
_PHASES = ("L1", "L2", "L3")
_PHASES_TO_N = ("L1-N", "L2-N", "L3-N")


class Meter:
    """Lifetime energy (Wh), current per phase (A), power (W) at a fixed voltage (V).

    The reported ``Energy.Active.Import.Register`` is the lifetime energy, or with
    ``per_transaction`` the energy since the last :meth:`start_session` (0 Wh
    before the first). ``session_energies_wh`` holds the true energy of every
    session that ended, in order. ``frozen_total_a`` reproduces a firmware quirk:
    when set, the non-phased Current.Import sample reports that value instead of
    the live total.
    """

    def __init__(
        self, *, phases: int, voltage_v: float, energy_wh: float, now_s: float, per_transaction: bool = False
    ) -> None:
        self.phases = phases
        self.voltage_v = voltage_v
        self.current_a = 0.0
        self.frozen_total_a: float | None = None
        self.per_transaction = per_transaction
        self.session_energies_wh: list[float] = []
        self._energy_wh = energy_wh
        self._last_s = now_s
        self._register_base_wh = energy_wh if per_transaction else 0.0
        self._session_start_wh: float | None = None

    @property
    def power_w(self) -> float:
        """Active power drawn now, in W."""
        return self.current_a * self.voltage_v * self.phases

    @property
    def total_current_a(self) -> float:
        """Sum of the phase currents now, in A (the live non-phased Current.Import)."""
        return self.current_a * self.phases

    def energy_wh(self, now_s: float) -> float:
        """Return the register at simulated second ``now_s`` without changing state."""
        return self._energy_wh + self.power_w * max(now_s - self._last_s, 0.0) / 3600.0

    def register_wh(self, now_s: float) -> float:
        """Return what Energy.Active.Import.Register shows at ``now_s``, in Wh."""
        return self.energy_wh(now_s) - self._register_base_wh

    def start_session(self, now_s: float) -> None:
        """A transaction starts at ``now_s``: remember the lifetime energy (and zero a per-session register)."""
        self._session_start_wh = self.energy_wh(now_s)
        if self.per_transaction:
            self._register_base_wh = self._session_start_wh

    def end_session(self, now_s: float) -> None:
        """The transaction ends at ``now_s``: append its energy (lifetime now minus at start) in Wh."""
        if self._session_start_wh is not None:
            self.session_energies_wh.append(self.energy_wh(now_s) - self._session_start_wh)
        self._session_start_wh = None

    def set_current(self, now_s: float, current_a: float) -> None:
        """Integrate energy up to ``now_s`` at the old power, then draw ``current_a`` A."""
        self._energy_wh = self.energy_wh(now_s)
        self._last_s = max(now_s, self._last_s)
        self.current_a = current_a

    def sampled_values(self, now_s: float, measurands: Iterable[str], context: str) -> list[dict[str, Any]]:
        """Return snake_case SampledValue dicts for ``measurands`` at ``now_s``.

        Current.Import and Voltage come per phase (L1.., L1-N..); Current.Import also
        as a non-phased total. Unknown measurands are skipped.
        """
        samples: list[dict[str, Any]] = []

        def add(measurand: str, value: float, phase: str | None = None) -> None:
            sample: dict[str, Any] = {
                "value": round(value, 3),
                "context": context,
                "measurand": measurand,
                "location": enums.LocationEnumType.outlet,
                "unit_of_measure": {"unit": _UNITS[measurand]},
            }
            if phase is not None:
                sample["phase"] = phase
            samples.append(sample)

        for measurand in measurands:
            if measurand == _M.energy_active_import_register:
                add(measurand, self.register_wh(now_s))
            elif measurand == _M.power_active_import:
                add(measurand, self.power_w)
            elif measurand == _M.current_import:
                for phase in _PHASES[: self.phases]:
                    add(measurand, self.current_a, phase)
                total = self.total_current_a
                add(measurand, total if self.frozen_total_a is None else self.frozen_total_a)
            elif measurand == _M.voltage:
                for phase in _PHASES_TO_N[: self.phases]:
                    add(measurand, self.voltage_v, phase)
        return samples

"""One EVSE's meter: live readings and the energy register, with the rules that keep energy true.

Part of the state model: imports nothing of ours and does no I/O. Values are
in W, V, A and Wh; readings arrive already scaled by :mod:`bmw_wallbox.csms.convert`.

The lifetime energy shown to Home Assistant is ``offset_wh + register_wh``:

- A charger's ``Energy.Active.Import.Register`` is normally a lifetime counter:
  ``offset_wh`` stays 0 and the lifetime energy is the register.
- Some chargers restart the register at every transaction. A register that
  drops to less than half of its last value at a transaction start (the first
  reading of a transaction, or one with context ``Transaction.Begin``) or
  between transactions has restarted: what it had counted is added to
  ``offset_wh``, so the lifetime energy keeps rising.
- A register that drops during a session is a charger fault: the reading is
  ignored (no value ever goes backwards). A small drop (rounding) is ignored too.
- A reading that rises by more than the charger could deliver at its maximum
  power in the time since the last accepted one (times ``PLAUSIBLE_FACTOR``
  1.5, plus ``PLAUSIBLE_SLACK_WH`` 1 kWh) is implausible and ignored, so one
  bad reading cannot freeze the register. The time since is the longer of the
  add-on's clock and the charger's (a charger that was offline delivers its
  queued readings late), and the reference time never moves backwards on
  either clock, so a backdated reading cannot widen the next bound.
- The first register reading has no reference: it is believed up to
  ``MAX_REGISTER_WH`` (10 GWh, more than a 22 kW wallbox delivers in 50 years
  of non-stop charging); above that it is implausible and ignored.
- ``Energy.Active.Import.Interval`` (energy of one interval) is added to
  ``offset_wh`` by chargers that report no register at all, under the same
  bound as a register rise since the last accepted interval (the first one
  as if ``FIRST_INTERVAL_S`` had passed).
- A value that is not a finite number is never taken (the edge drops them
  already; this is the net under it), so no sum can become infinite.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

ENERGY_REGISTER = "Energy.Active.Import.Register"
ENERGY_INTERVAL = "Energy.Active.Import.Interval"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
VOLTAGE = "Voltage"
#: Reading context of the first reading of a transaction.
TRANSACTION_BEGIN = "Transaction.Begin"

#: A register restarted when it drops below this share of its last value.
RESTART_SHARE = 0.5
#: Margin on the energy the maximum power could deliver, and energy always allowed on top (Wh).
PLAUSIBLE_FACTOR = 1.5
PLAUSIBLE_SLACK_WH = 1000.0
#: The largest first register reading believed, in Wh (10 GWh).
MAX_REGISTER_WH = 1e10
#: The time a first interval (with no accepted one before it) may cover at most, in seconds.
FIRST_INTERVAL_S = 3600.0


@dataclass(frozen=True, kw_only=True)
class SampledValue:
    """One reading of a MeterValues or TransactionEvent frame, in W, V, A or Wh.

    ``context`` is the OCPP reading context (``Transaction.Begin``,
    ``Sample.Periodic``, ...), ``phase`` e.g. ``L1`` or ``L1-N``.
    """

    measurand: str
    value: float
    phase: str | None = None
    context: str | None = None


class RegisterEvent(StrEnum):
    """What an energy register reading did to the meter."""

    ACCEPTED = "accepted"
    RESTARTED = "restarted"
    DROPPED_IN_SESSION = "dropped_in_session"
    WENT_BACK = "went_back"
    IMPLAUSIBLE = "implausible"


@dataclass(kw_only=True)
class Meter:
    """The latest readings of one EVSE; ``None`` means not (yet) reported.

    ``register_wh`` is the charger's register as last accepted, ``register_read_at``
    the charger's time of that reading and ``register_seen_at`` the add-on's.
    """

    power_w: float | None = None
    voltage_v: float | None = None
    current_a: float | None = None
    current_phases_a: dict[str, float] = field(default_factory=dict)
    voltage_phases_v: dict[str, float] = field(default_factory=dict)
    register_wh: float | None = None
    register_read_at: datetime | None = None
    register_seen_at: datetime | None = None
    offset_wh: float = 0.0
    updated_at: datetime | None = None

    @property
    def energy_wh(self) -> float | None:
        """Lifetime energy in Wh (offset plus register); None before any energy was reported."""
        if self.register_wh is None and self.offset_wh == 0.0:
            return None
        return self.offset_wh + (self.register_wh or 0.0)

    def take_live(self, readings: Iterable[SampledValue], *, at: datetime) -> None:
        """Take power, current and voltage readings.

        Per-phase currents are preferred over the non-phased total, which the
        Delta wallbox can freeze at a stale value; the current is the mean over
        the phases, the voltage likewise.
        """
        phase_currents: dict[str, float] = {}
        phase_voltages: dict[str, float] = {}
        total_current: float | None = None
        total_voltage: float | None = None
        for reading in readings:
            if reading.measurand == POWER and reading.phase is None:
                self.power_w = reading.value
            elif reading.measurand == CURRENT:
                if reading.phase in ("L1", "L2", "L3"):
                    phase_currents[reading.phase] = reading.value
                elif reading.phase is None:
                    total_current = reading.value
            elif reading.measurand == VOLTAGE:
                if reading.phase is None:
                    total_voltage = reading.value
                else:
                    phase_voltages[reading.phase.split("-")[0]] = reading.value
        if phase_currents:
            self.current_phases_a = phase_currents
            self.current_a = round(sum(phase_currents.values()) / len(phase_currents), 3)
        elif total_current is not None:
            self.current_a = total_current
        if phase_voltages:
            self.voltage_phases_v = phase_voltages
            self.voltage_v = round(sum(phase_voltages.values()) / len(phase_voltages), 1)
        elif total_voltage is not None:
            self.voltage_v = total_voltage
        self.updated_at = at

    def clear_live(self) -> None:
        """No session, no flow: power and current 0, voltage unknown (the energy register stays)."""
        self.power_w = 0.0 if self.power_w is not None else None
        self.current_a = 0.0 if self.current_a is not None else None
        self.current_phases_a = {}
        self.voltage_v = None
        self.voltage_phases_v = {}

    def take_register(
        self,
        value_wh: float,
        *,
        at_start: bool,
        in_session: bool,
        read_at: datetime,
        seen_at: datetime,
        max_power_w: float,
    ) -> RegisterEvent:
        """Take one ``Energy.Active.Import.Register`` reading (see the module docstring for the rules).

        ``at_start`` is true for the first reading of a transaction; ``in_session``
        while a transaction runs.
        """
        last = self.register_wh
        if not math.isfinite(value_wh) or value_wh < 0:
            return RegisterEvent.IMPLAUSIBLE
        if last is None:
            if value_wh > MAX_REGISTER_WH:
                return RegisterEvent.IMPLAUSIBLE
            self._accept(value_wh, read_at, seen_at)
            return RegisterEvent.ACCEPTED
        if value_wh >= last:
            if value_wh - last > self._allowed_wh(read_at, seen_at, max_power_w):
                return RegisterEvent.IMPLAUSIBLE
            self._accept(value_wh, read_at, seen_at)
            return RegisterEvent.ACCEPTED
        if value_wh >= last * RESTART_SHARE:
            return RegisterEvent.WENT_BACK
        if in_session and not at_start:
            return RegisterEvent.DROPPED_IN_SESSION
        if value_wh > self._allowed_wh(read_at, seen_at, max_power_w):
            return RegisterEvent.IMPLAUSIBLE
        self.offset_wh += last
        self._accept(value_wh, read_at, seen_at)
        return RegisterEvent.RESTARTED

    def take_interval(self, value_wh: float, *, read_at: datetime, seen_at: datetime, max_power_w: float) -> bool:
        """Add the energy of one interval (chargers that report no register); False when it was implausible.

        A negative or zero interval adds nothing (and is not implausible).
        """
        if not math.isfinite(value_wh):
            return False
        if value_wh <= 0:
            return True
        first = self.register_read_at is None and self.register_seen_at is None
        allowed = (
            max_power_w * FIRST_INTERVAL_S / 3600.0 * PLAUSIBLE_FACTOR + PLAUSIBLE_SLACK_WH
            if first
            else self._allowed_wh(read_at, seen_at, max_power_w)
        )
        if value_wh > allowed:
            return False
        self.offset_wh += value_wh
        self._mark(read_at, seen_at)
        return True

    def _accept(self, value_wh: float, read_at: datetime, seen_at: datetime) -> None:
        self.register_wh = value_wh
        self._mark(read_at, seen_at)

    def _mark(self, read_at: datetime, seen_at: datetime) -> None:
        """The reference time of the last accepted energy: it never moves backwards on either clock."""
        if self.register_read_at is None or read_at > self.register_read_at:
            self.register_read_at = read_at
        if self.register_seen_at is None or seen_at > self.register_seen_at:
            self.register_seen_at = seen_at

    def _allowed_wh(self, read_at: datetime, seen_at: datetime, max_power_w: float) -> float:
        """The most energy plausible since the last accepted reading, by the charger's or the add-on's clock."""
        elapsed_s = 0.0
        if self.register_read_at is not None:
            elapsed_s = max(elapsed_s, (read_at - self.register_read_at).total_seconds())
        if self.register_seen_at is not None:
            elapsed_s = max(elapsed_s, (seen_at - self.register_seen_at).total_seconds())
        return max_power_w * elapsed_s / 3600.0 * PLAUSIBLE_FACTOR + PLAUSIBLE_SLACK_WH

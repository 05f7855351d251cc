"""Charging profiles: parsing, the wallbox's acceptance rules, and the effective limit.

Pure logic, no I/O. Times are simulated seconds on the ``SimClock``; limits are
amperes per phase unless a name says otherwise (profiles in W are converted with
the supply voltage and the number of phases).
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, replace
from typing import Any

from bmw_wallbox.simulator._lib import enums
from bmw_wallbox.simulator.clock import SimClock, parse_iso

Purpose = enums.ChargingProfilePurposeEnumType

_RECURRENCY_S = {"Daily": 86_400.0, "Weekly": 604_800.0}
#: Added to a computed boundary so that evaluating at it lands inside the new period.
_EPSILON_S = 1e-3


@dataclass(frozen=True, kw_only=True)
class SchedulePeriod:
    """One period of a charging schedule: from ``start_s`` after schedule start, ``limit``."""

    start_s: int
    limit: float
    number_phases: int | None = None


@dataclass(frozen=True, kw_only=True)
class ChargingProfile:
    """An installed (or proposed) charging profile, times on the simulated clock.

    ``limit`` values are in ``unit`` ("A" or "W"). ``start_s`` is the simulated
    second at which period 0 starts; ``valid_from_s``/``valid_to_s`` bound it.
    """

    id: int
    evse_id: int
    stack_level: int
    purpose: str
    kind: str
    unit: str
    periods: tuple[SchedulePeriod, ...]
    start_s: float
    duration_s: float | None = None
    recurrency_s: float | None = None
    valid_from_s: float | None = None
    valid_to_s: float | None = None
    transaction_id: str | None = None

    @classmethod
    def from_request(
        cls,
        evse_id: int,
        profile: dict[str, Any],
        *,
        clock: SimClock,
        now_s: float,
        relative_start_s: float,
    ) -> ChargingProfile:
        """Parse the snake_case ``charging_profile`` of a SetChargingProfile request.

        Relative profiles start at ``relative_start_s`` (the transaction start);
        Absolute and Recurring ones at ``startSchedule``, or at ``now_s`` when it is absent.
        Only the first of the (up to three) schedules is used.
        """
        schedule = profile["charging_schedule"][0]
        kind = profile["charging_profile_kind"]
        start_s = now_s
        if kind == enums.ChargingProfileKindEnumType.relative:
            start_s = relative_start_s
        elif schedule.get("start_schedule"):
            start_s = clock.to_sim_s(parse_iso(schedule["start_schedule"]))

        def when(field: str) -> float | None:
            value = profile.get(field)
            return clock.to_sim_s(parse_iso(value)) if value else None

        periods = tuple(
            SchedulePeriod(
                start_s=int(period["start_period"]),
                limit=float(period["limit"]),
                number_phases=period.get("number_phases"),
            )
            for period in sorted(schedule["charging_schedule_period"], key=lambda p: int(p["start_period"]))
        )
        duration = schedule.get("duration")
        return cls(
            id=int(profile["id"]),
            evse_id=evse_id,
            stack_level=int(profile["stack_level"]),
            purpose=profile["charging_profile_purpose"],
            kind=kind,
            unit=schedule["charging_rate_unit"],
            periods=periods,
            start_s=start_s,
            duration_s=float(duration) if duration is not None else None,
            recurrency_s=_RECURRENCY_S.get(profile.get("recurrency_kind") or ""),
            valid_from_s=when("valid_from"),
            valid_to_s=when("valid_to"),
            transaction_id=profile.get("transaction_id"),
        )

    def _elapsed_s(self, now_s: float) -> float | None:
        """Return seconds into the schedule at ``now_s``, or None when not in effect."""
        if self.valid_from_s is not None and now_s < self.valid_from_s:
            return None
        if self.valid_to_s is not None and now_s >= self.valid_to_s:
            return None
        elapsed = now_s - self.start_s
        if elapsed < 0:
            return None
        if self.recurrency_s:
            elapsed %= self.recurrency_s
        if self.duration_s is not None and elapsed >= self.duration_s:
            return None
        if elapsed < self.periods[0].start_s:
            return None
        return elapsed

    def period_at(self, now_s: float) -> SchedulePeriod | None:
        """Return the period in effect at ``now_s``, or None when the profile is inactive."""
        elapsed = self._elapsed_s(now_s)
        if elapsed is None:
            return None
        active = self.periods[0]
        for period in self.periods:
            if period.start_s <= elapsed:
                active = period
        return active

    def next_change_s(self, now_s: float) -> float | None:
        """Return the next simulated second after ``now_s`` at which the limit may change."""
        candidates = [bound for bound in (self.valid_from_s, self.valid_to_s) if bound is not None and bound > now_s]
        elapsed = now_s - self.start_s
        if elapsed < 0:
            candidates.append(self.start_s)
        else:
            if self.recurrency_s:
                elapsed %= self.recurrency_s
            offsets = [float(p.start_s) for p in self.periods]
            offsets += [self.duration_s or 0.0, self.recurrency_s or 0.0]
            candidates += [now_s + offset - elapsed for offset in offsets if offset > elapsed]
        return min(candidates) + _EPSILON_S if candidates else None


def period_amps(period: SchedulePeriod, unit: str, *, voltage_v: float, phases: int) -> float:
    """Return a period's limit in A per phase (W limits spread over the phases in use)."""
    if unit == enums.ChargingRateUnitEnumType.amps:
        return period.limit
    return period.limit / (voltage_v * (period.number_phases or phases))


def _periods_valid(periods: tuple[SchedulePeriod, ...]) -> bool:
    """The first period starts at 0 and start times increase (K01.FR.31, K01.FR.35)."""
    starts = [period.start_s for period in periods]
    return bool(starts) and starts[0] == 0 and all(a < b for a, b in itertools.pairwise(starts))


class Verdict(enum.Enum):
    """What the wallbox does with a SetChargingProfile request."""

    ACCEPT = "accept"
    DROP = "drop"  # answer Accepted, keep nothing (firmware quirk)
    REJECT = "reject"


@dataclass(frozen=True, kw_only=True)
class Decision:
    """The verdict on a profile and a short reason code (sent as statusInfo.reasonCode)."""

    verdict: Verdict
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class ProfileRules:
    """Acceptance rules: the SmartChargingCtrlr limits plus the firmware quirks."""

    quirks: bool
    reject_purposes: frozenset[str]
    max_stack_level: int
    max_periods: int
    max_entries: int
    rate_units: frozenset[str]
    evse_id: int = 1


@dataclass(frozen=True, kw_only=True)
class TxContext:
    """The transaction facts a decision depends on."""

    transaction_id: str | None
    suspended: bool
    tx_profiles_refused: bool
    tx_profile_locked: bool


class ProfileStore:
    """The installed charging profiles of one wallbox (EVSE 1 and station-wide EVSE 0)."""

    def __init__(self, *, voltage_v: float, phases: int) -> None:
        self.profiles: dict[int, ChargingProfile] = {}
        self._voltage_v = voltage_v
        self._phases = phases

    def decide(self, profile: ChargingProfile, rules: ProfileRules, tx: TxContext) -> Decision:
        """Decide on a SetChargingProfile request; the checks run in the firmware's order."""
        existing = self.profiles.get(profile.id)
        checks: list[tuple[bool, str]] = [
            (profile.purpose in rules.reject_purposes, "ScriptedReject"),
            (profile.evse_id not in (0, rules.evse_id), "UnknownEvse"),
            (
                profile.purpose == Purpose.charging_station_max_profile and profile.evse_id != 0,
                "InvalidEvse",
            ),
            (profile.purpose == Purpose.tx_profile and profile.evse_id == 0, "InvalidEvse"),
            (profile.purpose == Purpose.charging_station_external_constraints, "InvalidPurpose"),
            (profile.unit not in rules.rate_units, "UnsupportedRateUnit"),
            (not 0 < len(profile.periods) <= rules.max_periods, "InvalidSchedule"),
            (not _periods_valid(profile.periods), "InvalidSchedule"),
            (profile.stack_level > rules.max_stack_level, "InvalidStackLevel"),
            (rules.quirks and profile.stack_level > 0, "InvalidStackLevel"),
            (
                rules.quirks and existing is not None and existing.purpose != profile.purpose,
                "DuplicateProfileId",
            ),
        ]
        for failed, reason in checks:
            if failed:
                return Decision(verdict=Verdict.REJECT, reason=reason)
        if profile.purpose == Purpose.tx_profile:
            tx_decision = self._decide_tx_profile(profile, rules, tx)
            if tx_decision is not None:
                return tx_decision
        if self._conflict(profile) is not None:
            return Decision(verdict=Verdict.REJECT, reason="DuplicateStackLevel")
        if len(self.profiles) + (existing is None) > rules.max_entries:
            return Decision(verdict=Verdict.REJECT, reason="TooManyProfiles")
        return Decision(verdict=Verdict.ACCEPT)

    def _decide_tx_profile(self, profile: ChargingProfile, rules: ProfileRules, tx: TxContext) -> Decision | None:
        if tx.transaction_id is None or profile.transaction_id not in (None, tx.transaction_id):
            return Decision(verdict=Verdict.REJECT, reason="TxNotFound")
        if rules.quirks and tx.tx_profiles_refused:
            return Decision(verdict=Verdict.REJECT, reason="TxProfileRefused")
        if rules.quirks and tx.suspended:
            return Decision(verdict=Verdict.DROP, reason="SuspendedDropped")
        has_tx_profile = any(p.purpose == Purpose.tx_profile for p in self.profiles.values())
        if rules.quirks and tx.tx_profile_locked and has_tx_profile:
            return Decision(verdict=Verdict.REJECT, reason="TxProfileLocked")
        return None

    def _conflict(self, profile: ChargingProfile) -> ChargingProfile | None:
        """Return a different profile with the same purpose, stack level and EVSE."""
        for other in self.profiles.values():
            same_slot = (other.purpose, other.stack_level, other.evse_id) == (
                profile.purpose,
                profile.stack_level,
                profile.evse_id,
            )
            if other.id != profile.id and same_slot:
                return other
        return None

    def install(self, profile: ChargingProfile, transaction_id: str | None) -> None:
        """Install ``profile`` (replacing the same id); TxProfiles bind to ``transaction_id``."""
        if profile.purpose == Purpose.tx_profile:
            profile = replace(profile, transaction_id=transaction_id)
        self.profiles[profile.id] = profile

    def remove_tx_profiles(self) -> None:
        """Drop every TxProfile (their transaction ended)."""
        for profile_id in [p.id for p in self.profiles.values() if p.purpose == Purpose.tx_profile]:
            del self.profiles[profile_id]

    def clear(
        self,
        profile_id: int | None,
        criteria: dict[str, Any] | None,
        *,
        locked_tx_profiles: bool,
    ) -> int:
        """Remove the profiles a ClearChargingProfile selects; return how many went.

        No id and no criteria remove every profile. Otherwise all given criteria must
        match. With ``locked_tx_profiles`` a targeted clear leaves TxProfiles in place.
        """
        criteria = criteria or {}
        if profile_id is None and not criteria:
            count = len(self.profiles)
            self.profiles.clear()
            return count
        wanted = {
            "id": profile_id,
            "evse_id": criteria.get("evse_id"),
            "purpose": criteria.get("charging_profile_purpose"),
            "stack_level": criteria.get("stack_level"),
        }
        doomed = [
            p.id
            for p in self.profiles.values()
            if all(value is None or getattr(p, key) == value for key, value in wanted.items())
            and not (locked_tx_profiles and p.purpose == Purpose.tx_profile)
        ]
        for doomed_id in doomed:
            del self.profiles[doomed_id]
        return len(doomed)

    def limit_a(self, now_s: float, transaction_id: str | None) -> float | None:
        """Return the effective limit in A per phase at ``now_s``, None when none applies.

        The limit is the minimum of the station maximum and the transaction limit,
        where a TxProfile of the running transaction overrules the TxDefaultProfile;
        within one purpose the highest stack level in effect wins (EVSE 1 over 0).
        """
        tx_limit = None
        if transaction_id is not None:
            tx_limit = self._best(Purpose.tx_profile, now_s, transaction_id)
        if tx_limit is None:
            tx_limit = self._best(Purpose.tx_default_profile, now_s, None)
        limits = [
            self._best(Purpose.charging_station_max_profile, now_s, None),
            tx_limit,
        ]
        present = [limit for limit in limits if limit is not None]
        return min(present) if present else None

    def station_max_a(self, now_s: float) -> float | None:
        """The ChargingStationMaxProfile's limit now in A (None: none in force)."""
        return self._best(Purpose.charging_station_max_profile, now_s, None)

    def _best(self, purpose: str, now_s: float, transaction_id: str | None) -> float | None:
        best: tuple[int, int, float] | None = None
        for profile in self.profiles.values():
            if profile.purpose != purpose or profile.transaction_id != transaction_id:
                continue
            period = profile.period_at(now_s)
            if period is None:
                continue
            amps = period_amps(period, profile.unit, voltage_v=self._voltage_v, phases=self._phases)
            rank = (profile.stack_level, profile.evse_id, amps)
            if best is None or rank[:2] > best[:2]:
                best = rank
        return None if best is None else best[2]

    def next_change_s(self, now_s: float) -> float | None:
        """Return the next simulated second at which any profile's limit may change."""
        changes = [change for profile in self.profiles.values() if (change := profile.next_change_s(now_s)) is not None]
        return min(changes) if changes else None

    def composite(
        self,
        now_s: float,
        duration_s: int,
        transaction_id: str | None,
        *,
        default_a: float,
        max_periods: int,
    ) -> list[tuple[int, float]]:
        """Return (offset s, limit A) steps of the effective limit over ``duration_s``."""
        steps: list[tuple[int, float]] = []
        at_s = now_s
        while at_s < now_s + duration_s and len(steps) < max_periods:
            limit = self.limit_a(at_s, transaction_id)
            limit = default_a if limit is None else min(limit, default_a)
            if not steps or steps[-1][1] != limit:
                steps.append((int(at_s - now_s), limit))
            following = self.next_change_s(at_s)
            if following is None or following <= at_s:
                break
            at_s = following
        return steps

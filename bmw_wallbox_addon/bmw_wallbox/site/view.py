"""What the site budget shows, as a plain model: :class:`SiteView` and the :class:`SiteSource` readers see.

Neutral ground: it imports only the budget's enums (no I/O, no service), so the
Home Assistant output reads the budget through :class:`SiteSource` without
importing :mod:`bmw_wallbox.site.service`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bmw_wallbox.site.budget import SiteState

LIMITING_STARTED = "limiting_started"
LIMITING_ENDED = "limiting_ended"
#: Called after every look of the budget with None, and with :data:`LIMITING_STARTED` or
#: :data:`LIMITING_ENDED` when a running session starts or stops getting less than asked through the budget.
SiteListener = Callable[[str | None], None]


@dataclass(frozen=True, kw_only=True)
class SiteView:
    """``GET /api/site``."""

    main_fuse_a: int | None
    phase_currents_a: tuple[float, ...] | None
    household_a: tuple[float, ...] | None
    headroom_a: tuple[float, ...] | None
    meter_age_s: float | None
    state: SiteState
    problem: str | None
    allocations: dict[str, float | None]

    def to_json(self) -> dict[str, Any]:
        """JSON form; amps rounded to 0.1 A, the age to 0.1 s."""

        def amps(values: tuple[float, ...] | None) -> list[float] | None:
            return None if values is None else [round(v, 1) for v in values]

        return {
            "main_fuse_a": self.main_fuse_a,
            "phase_currents_a": amps(self.phase_currents_a),
            "household_a": amps(self.household_a),
            "headroom_a": amps(self.headroom_a),
            "meter_age_s": None if self.meter_age_s is None else round(self.meter_age_s, 1),
            "state": str(self.state),
            "problem": self.problem,
            "allocations": dict(self.allocations),
        }


class SiteSource(Protocol):
    """What readers of the site budget need: its view now and a subscription to its looks and limiting events."""

    def view(self) -> SiteView:
        """What ``GET /api/site`` shows now."""
        ...

    def subscribe(self, listener: SiteListener) -> Callable[[], None]:
        """Call ``listener`` after every look (see :data:`SiteListener`); returns the unsubscribe."""
        ...

"""A charging session fed to the state model the way the OCPP handlers feed it, for tests that need a history."""

from __future__ import annotations

from datetime import datetime

from bmw_wallbox.state import ChargerState, SampledValue

REGISTER = "Energy.Active.Import.Register"


def add_session(
    state: ChargerState,
    transaction_id: str,
    *,
    start: datetime,
    end: datetime,
    start_wh: float,
    end_wh: float,
    reason: str = "EVDisconnected",
) -> None:
    """A Started and an Ended TransactionEvent with the energy register at ``start_wh`` and ``end_wh``."""
    for kind, at, wh in (("Started", start, start_wh), ("Ended", end, end_wh)):
        state.transaction_event(
            event_type=kind,
            transaction_id=transaction_id,
            evse_id=1,
            at=at,
            now=at,
            stopped_reason=reason if kind == "Ended" else None,
            readings=[SampledValue(measurand=REGISTER, value=wh)],
        )

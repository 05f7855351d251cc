"""A running transaction: its id, sequence numbers, and the per-session firmware state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bmw_wallbox.simulator._lib import OcppRequest, call, enums


@dataclass(kw_only=True)
class Transaction:
    """One charging session on EVSE 1; builds its own TransactionEvent requests.

    ``seq_no`` counts the events sent for this transaction, starting at 0. Times
    are simulated seconds; ``charging_s`` is the time spent in state Charging.
    The idToken goes out once, in the first event after it became known.
    """

    id: str
    started_s: float
    seq_no: int = 0
    remote_start_id: int | None = None
    #: remoteStartId not yet reported in a TransactionEvent.
    remote_start_pending: bool = False
    #: Quirk: after a remote start, 0 W until a profile with a real limit arrives.
    hold_until_profile: bool = False
    #: Quirk: one rejected TxProfile makes every later TxProfile rejected.
    tx_profiles_refused: bool = False
    #: Quirk: after SuspendedEVSE a TxProfile can no longer be cleared or replaced.
    tx_profile_locked: bool = False
    #: Limit (A) at transaction start, to spot the first limit change (frozen-total quirk).
    initial_limit_a: float = 0.0
    charging_s: float = 0.0
    #: When the next MeterValuePeriodic event is due; None while none is scheduled.
    next_periodic_s: float | None = None
    #: The idToken (snake_case ``IdTokenType``) the session runs for; sent once, in the next event.
    id_token: dict[str, Any] | None = None
    id_token_pending: bool = False
    #: False while the charger asks for authorization (AuthCtrlr.Enabled) and no token was accepted: no energy.
    authorized: bool = True

    def event(
        self,
        event_type: str,
        trigger: str,
        *,
        timestamp: str,
        charging_state: str,
        offline: bool,
        samples: list[dict[str, Any]] | None = None,
        stopped_reason: str | None = None,
        phases: int = 3,
        evse_id: int = 1,
    ) -> OcppRequest:
        """Return the next TransactionEvent of this transaction (consumes a seqNo).

        The Started event names the EVSE (connector 1) and the phases in use; the
        first event after a remote start carries its remoteStartId.
        """
        info: dict[str, Any] = {"transaction_id": self.id, "charging_state": charging_state}
        if stopped_reason is not None:
            info["stopped_reason"] = stopped_reason
        if self.remote_start_pending:
            info["remote_start_id"] = self.remote_start_id
            self.remote_start_pending = False
        id_token = self.id_token if self.id_token_pending else None
        self.id_token_pending = False
        if self.charging_s >= 1:
            info["time_spent_charging"] = int(self.charging_s)
        started = event_type == enums.TransactionEventEnumType.started
        request = call.TransactionEvent(
            event_type=event_type,
            timestamp=timestamp,
            trigger_reason=trigger,
            seq_no=self.seq_no,
            transaction_info=info,
            meter_value=[{"timestamp": timestamp, "sampled_value": samples}] if samples else None,
            offline=True if offline else None,
            evse={"id": evse_id, "connector_id": 1} if started else None,
            id_token=id_token,
            number_of_phases_used=phases if started else None,
        )
        self.seq_no += 1
        return request

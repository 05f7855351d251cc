"""The EVSE state machine: cable, car, transaction, charging state, limit and meter.

Pure logic, no I/O. Every input method updates the state and returns the OCPP requests (``ocpp.v201.call``
dataclasses) the wallbox sends because of it, in order; the caller delivers them. Currents are A per phase,
power W, energy Wh, times simulated seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from bmw_wallbox.simulator import evse_config as rules
from bmw_wallbox.simulator import messages
from bmw_wallbox.simulator._lib import OcppRequest, enums
from bmw_wallbox.simulator.clock import SimClock
from bmw_wallbox.simulator.device_model import DeviceModel
from bmw_wallbox.simulator.evse_config import EvseConfig
from bmw_wallbox.simulator.meter import Meter
from bmw_wallbox.simulator.profiles import ChargingProfile, Decision, ProfileStore, Verdict
from bmw_wallbox.simulator.transaction import Transaction

_State = enums.ChargingStateEnumType
_Event = enums.TransactionEventEnumType
_Trigger = enums.TriggerReasonEnumType
_Reason = enums.ReasonEnumType
_Context = enums.ReadingContextEnumType
_Purpose = enums.ChargingProfilePurposeEnumType
_Msg = enums.MessageTriggerEnumType
_Status = enums.RequestStartStopStatusEnumType

__all__ = ["Evse", "EvseConfig"]


class Evse:
    """EVSE ``config.evse_id`` with connector 1 of the wallbox (see the module docstring).

    With ``config.quirks`` it reproduces the field's firmware behaviour: remote start blocked after a remote
    stop, 0 W after a remote start until a profile arrives, the non-phased current total freezing at the first
    limit change, and the charging-profile quirks decided in :mod:`.profiles`. ``share_a`` says what the
    station maximum leaves for this EVSE (None: no such cap; a station with several EVSEs sets it).
    """

    def __init__(self, config: EvseConfig, *, clock: SimClock, model: DeviceModel, energy_wh: float) -> None:
        self.config = config
        self._clock = clock
        self._model = model
        self.meter = Meter(
            phases=config.phases,
            voltage_v=config.voltage_v,
            energy_wh=energy_wh,
            now_s=clock.now_s(),
            per_transaction=config.personality.register_per_transaction,
        )
        self.profiles = ProfileStore(voltage_v=config.voltage_v, phases=config.phases)
        #: Purposes to reject whatever their content (a test knob).
        self.reject_profiles: set[str] = set()
        #: False while TransactionEvents cannot be sent at once (they carry offline=true).
        self.online = False
        #: False while the wallbox reboots: nothing starts, nothing charges.
        self.powered = True
        self.plugged = False
        self.car_suspended = False
        #: Quirk: after a RequestStopTransaction, remote starts are refused until unplug/reboot.
        self.remote_start_blocked = False
        self.transaction: Transaction | None = None
        #: A token accepted before the car was plugged in: the next session runs for it.
        self.pending_token: dict[str, Any] | None = None
        self.charging_state: str = _State.idle
        self.share_a: Callable[[], float | None] = lambda: None
        self._accounted_s = clock.now_s()

    # ---------------------------------------------------------------- derived state

    def offered_current_a(self) -> float:
        """Effective limit per phase now: the profiles' limit capped at hardware max, in A."""
        tx_id = self.transaction.id if self.transaction else None
        limit = self.profiles.limit_a(self._clock.now_s(), tx_id)
        if (share := self.share_a()) is not None:
            limit = share if limit is None else min(limit, share)
        if limit is None:
            return self.config.max_current_a
        return max(0.0, min(limit, self.config.max_current_a))

    def status_notification(self) -> OcppRequest:
        """Return the StatusNotification of connector 1 as it is now."""
        return messages.status_notification(self._clock.iso(), plugged=self.plugged, evse_id=self.config.evse_id)

    def meter_values(self, context: str = _Context.trigger) -> OcppRequest:
        """Return a MeterValues request with the configured TxUpdatedMeasurands now."""
        now = self._clock.now_s()
        samples = self.meter.sampled_values(now, self._measurands("TxUpdatedMeasurands"), context)
        return messages.meter_values(self._clock.iso(now), samples, evse_id=self.config.evse_id)

    def next_due_s(self) -> float | None:
        """Return the simulated second at which ``tick`` next has something to do."""
        dues = [self.profiles.next_change_s(self._clock.now_s())]
        if self.transaction is not None:
            dues.append(self.transaction.next_periodic_s)
        present = [due for due in dues if due is not None]
        return min(present) if present else None

    # ---------------------------------------------------------------- inputs

    def tick(self) -> list[OcppRequest]:
        """Follow the clock: schedule changes and periodic meter values every TxUpdatedInterval s."""
        out = self._refresh()
        tx = self.transaction
        if tx is None:
            return out
        interval = self._model.int_value("SampledDataCtrlr", "TxUpdatedInterval")
        enabled = self._model.value("SampledDataCtrlr", "Enabled") == "true"
        now = self._clock.now_s()
        if interval <= 0 or not enabled:
            tx.next_periodic_s = None
        elif tx.next_periodic_s is None:
            tx.next_periodic_s = now + interval
        elif now >= tx.next_periodic_s:
            out.append(self._tx_event(_Event.updated, _Trigger.meter_value_periodic, _Context.sample_periodic))
            tx.next_periodic_s = max(tx.next_periodic_s + interval, now)
        return out

    def settings_changed(self) -> None:
        """Restart the meter interval after SetVariables (the next tick re-arms it)."""
        if self.transaction is not None:
            self.transaction.next_periodic_s = None

    def plug_in(self) -> list[OcppRequest]:
        """Connect the car: Occupied, a transaction starts by itself, charging begins."""
        if self.plugged:
            return []
        out = self._refresh()
        self.plugged, self.car_suspended = True, False
        if not self.powered:
            return out
        out.append(self.status_notification())
        out += self._connected_car_starts(_Trigger.cable_plugged_in)
        return out + self._refresh()

    def unplug(self) -> list[OcppRequest]:
        """Disconnect the car: the transaction ends (EVDisconnected), then Available."""
        if not self.plugged:
            return []
        out = self._refresh()
        self.plugged, self.car_suspended, self.remote_start_blocked = False, False, False
        if not self.powered:
            return out
        out += self._end_transaction(_Trigger.ev_communication_lost, _Reason.ev_disconnected)
        out.append(self.status_notification())
        return out + self._refresh()

    def set_car_suspended(self, suspended: bool) -> list[OcppRequest]:
        """The car pauses (SuspendedEV) or resumes drawing current."""
        out, self.car_suspended = self._refresh(), suspended
        return out + self._refresh()

    def shut_down(self, trigger: str, reason: str) -> list[OcppRequest]:
        """The wallbox goes down (reset or power loss): the transaction ends, nothing flows."""
        out = self._refresh() + self._end_transaction(trigger, reason)
        self.powered, self.remote_start_blocked = False, False
        return out + self._refresh()

    def forget_transaction(self) -> None:
        """The charger's process dies: the transaction vanishes without any event; nothing flows."""
        now = self._clock.now_s()
        self.meter.set_current(now, 0.0)  # energy counts up to now; the events this causes are lost
        if self.transaction is not None:
            self.meter.end_session(now)
        self.transaction, self.meter.frozen_total_a = None, None
        self.profiles.remove_tx_profiles()
        self.powered, self.remote_start_blocked = False, False
        self._refresh()

    def boot(self) -> list[OcppRequest]:
        """After a BootNotification: report the connector; a plugged car may start a NEW session."""
        self.powered = True
        out = [self.status_notification()]
        if self.plugged and self.transaction is None and self.config.personality.new_transaction_after_boot:
            out += self._connected_car_starts(_Trigger.ev_detected)
        return out + self._refresh()

    def authorize(self, id_token: dict[str, Any]) -> list[OcppRequest]:
        """A token was accepted (card at the reader): the session runs for it and may draw energy.

        Without a car the token waits for the next plug-in; a transaction that
        has a token keeps it.
        """
        out = self._refresh()
        tx = self.transaction
        if tx is None:
            if not (self.plugged and self.powered):
                self.pending_token = id_token
                return out
            out += self._start_transaction(_Trigger.authorized, id_token=id_token)
        elif tx.id_token is None or not tx.authorized:
            tx.id_token = tx.id_token or id_token
            tx.id_token_pending, tx.authorized = True, True
            out.append(self._tx_event(_Event.updated, _Trigger.authorized))
        return out + self._refresh()

    def request_start(
        self,
        remote_start_id: int,
        evse_id: int | None,
        charging_profile: dict[str, Any] | None,
        id_token: dict[str, Any] | None = None,
    ) -> tuple[str, str | None, list[OcppRequest]]:
        """Answer RequestStartTransaction: (status, transaction id, requests to send).

        Rejected without a car, on another EVSE, or (quirk) after a remote stop. A
        running transaction is taken over. With quirks the session then draws 0 A
        until a charging profile with a limit above 0 arrives. Without smart
        charging the ``charging_profile`` is ignored.
        """
        out = self._refresh()
        blocked = self.config.quirks and self.remote_start_blocked
        if evse_id not in (None, self.config.evse_id) or not self.plugged or blocked:
            return _Status.rejected, None, out
        tx = self.transaction
        if tx is None:
            out += self._start_transaction(_Trigger.remote_start, remote_start_id, id_token=id_token)
        else:
            tx.remote_start_id, tx.remote_start_pending = remote_start_id, True
            tx.hold_until_profile = self.config.quirks
            if id_token is not None and (tx.id_token is None or not tx.authorized):
                tx.id_token = tx.id_token or id_token
                tx.id_token_pending, tx.authorized = True, True
            out.append(self._tx_event(_Event.updated, _Trigger.remote_start))
        if charging_profile is not None and self.config.personality.smart_charging:
            out += self.set_profile(evse_id or self.config.evse_id, charging_profile, clears_hold=False)[1]
        tx_id = self.transaction.id if self.transaction else None
        return _Status.accepted, tx_id, out + self._refresh()

    def request_stop(self, transaction_id: str) -> tuple[str, list[OcppRequest]]:
        """Answer RequestStopTransaction: end the transaction (Remote) if the id matches."""
        tx = self.transaction
        if tx is None or tx.id != transaction_id:
            return _Status.rejected, []
        out = self._refresh() + self._end_transaction(_Trigger.remote_stop, _Reason.remote)
        self.remote_start_blocked = True
        return _Status.accepted, out + self._refresh()

    def set_profile(
        self, evse_id: int, raw: dict[str, Any], *, clears_hold: bool = True
    ) -> tuple[Decision, list[OcppRequest]]:
        """Answer SetChargingProfile (snake_case ``raw`` profile); an accepted one applies at once."""
        out = self._refresh()
        now, tx = self._clock.now_s(), self.transaction
        start_s = tx.started_s if tx else now
        profile = ChargingProfile.from_request(evse_id, raw, clock=self._clock, now_s=now, relative_start_s=start_s)
        decision = self.profiles.decide(
            profile,
            rules.profile_rules(self.config, self._model, self.reject_profiles),
            rules.tx_context(self.transaction, self.charging_state),
        )
        if tx is not None and decision.verdict is Verdict.REJECT and profile.purpose == _Purpose.tx_profile:
            tx.tx_profiles_refused = self.config.quirks
        if decision.verdict is Verdict.ACCEPT:
            self.profiles.install(profile, tx.id if tx else None)
            period = profile.period_at(now)
            if clears_hold and tx is not None and period is not None and period.limit > 0:
                tx.hold_until_profile = False
        return decision, out + self._refresh()

    def clear_profiles(self, profile_id: int | None, criteria: dict[str, Any] | None) -> tuple[str, list[OcppRequest]]:
        """Answer ClearChargingProfile: Accepted when something was removed, else Unknown."""
        out = self._refresh()
        tx = self.transaction
        locked = self.config.quirks and tx is not None and tx.tx_profile_locked
        removed = self.profiles.clear(profile_id, criteria, locked_tx_profiles=locked)
        status = enums.ClearChargingProfileStatusEnumType
        return (status.accepted if removed else status.unknown), out + self._refresh()

    def trigger(self, requested: str) -> tuple[str, list[OcppRequest]]:
        """Answer TriggerMessage like the real unit: BootNotification/StatusNotification refused."""
        status = enums.TriggerMessageStatusEnumType
        out = self._refresh()
        if requested == _Msg.meter_values:
            return status.accepted, [*out, self.meter_values()]
        if requested == _Msg.transaction_event and self.transaction is not None:
            return status.accepted, [*out, self._tx_event(_Event.updated, _Trigger.trigger, _Context.trigger)]
        if requested in (_Msg.transaction_event, _Msg.boot_notification, _Msg.status_notification):
            return status.rejected, out
        return status.not_implemented, out

    # ---------------------------------------------------------------- internals

    def _connected_car_starts(self, trigger: str) -> list[OcppRequest]:
        """A car is (or, after boot, still is) connected: start a session if TxStartPoint says so."""
        out: list[OcppRequest] = []
        auth_enabled = self._model.value("AuthCtrlr", "Enabled") == "true"
        if not auth_enabled or "EVConnected" in self._model.members("TxCtrlr", "TxStartPoint"):
            token, self.pending_token = self.pending_token, None
            out += self._start_transaction(trigger, id_token=token)
        if self.config.quirks:
            out.append(
                messages.charging_needs(
                    phases=self.config.phases,
                    voltage_v=self.config.voltage_v,
                    car_max_current_a=self.config.car_max_current_a,
                )
            )
        return out

    def _start_transaction(
        self, trigger: str, remote_start_id: int | None = None, *, id_token: dict[str, Any] | None = None
    ) -> list[OcppRequest]:
        remote, now = remote_start_id is not None, self._clock.now_s()
        self.meter.start_session(now)
        asks = self._model.value("AuthCtrlr", "Enabled") == "true"
        self.transaction = Transaction(
            id=str(uuid.uuid4()),
            started_s=now,
            remote_start_id=remote_start_id,
            remote_start_pending=remote,
            hold_until_profile=self.config.quirks and remote,
            initial_limit_a=self.offered_current_a(),
            id_token=id_token,
            id_token_pending=id_token is not None,
            authorized=id_token is not None or not asks,
        )
        self.charging_state = _State.ev_connected
        return [self._tx_event(_Event.started, trigger, _Context.transaction_begin, now_s=now)]

    def _end_transaction(self, trigger: str, reason: str) -> list[OcppRequest]:
        if self.transaction is None:
            return []
        self.charging_state = _State.ev_connected if self.plugged else _State.idle
        now = self._clock.now_s()  # one instant, so the End reading and the session energy agree
        event = self._tx_event(_Event.ended, trigger, _Context.transaction_end, stopped_reason=reason, now_s=now)
        self.meter.set_current(now, 0.0)  # no energy flows after the End reading, not even for microseconds
        self.meter.end_session(now)
        self.transaction = None
        self.meter.frozen_total_a = None
        self.profiles.remove_tx_profiles()
        return [event]

    def _refresh(self) -> list[OcppRequest]:
        """Bring meter and charging state up to now; report a charging state change."""
        now, tx = self._clock.now_s(), self.transaction
        offered = self.offered_current_a()
        if tx is not None:
            if self.charging_state == _State.charging:
                tx.charging_s += now - self._accounted_s
            first_change = offered != tx.initial_limit_a and self.meter.frozen_total_a is None
            if self.config.quirks and first_change:
                # Firmware quirk: the non-phased total keeps the pre-change value.
                self.meter.frozen_total_a = self.meter.total_current_a
        self._accounted_s = now
        state = rules.charging_state(
            plugged=self.plugged,
            tx=tx,
            powered=self.powered,
            car_suspended=self.car_suspended,
            drawable_a=min(offered, self.config.car_max_current_a),
        )
        drawn_a = min(offered, self.config.car_max_current_a) if state == _State.charging else 0.0
        self.meter.set_current(now, drawn_a)
        changed = state != self.charging_state
        self.charging_state = state
        if tx is None or not changed:
            return []
        has_tx_profile = any(p.purpose == _Purpose.tx_profile for p in self.profiles.profiles.values())
        if self.config.quirks and state == _State.suspended_evse and has_tx_profile:
            tx.tx_profile_locked = True
        return [self._tx_event(_Event.updated, _Trigger.charging_state_changed)]

    def _measurands(self, variable: str) -> list[str]:
        return self._model.members("SampledDataCtrlr", variable)

    def _tx_event(
        self,
        event_type: str,
        trigger: str,
        context: str | None = None,
        *,
        stopped_reason: str | None = None,
        now_s: float | None = None,
    ) -> OcppRequest:
        """Build the next TransactionEvent (at ``now_s``, default now); ``context`` adds meter values."""
        tx = self.transaction
        assert tx is not None
        now = self._clock.now_s() if now_s is None else now_s
        samples = None
        if context is not None:
            samples = self.meter.sampled_values(now, self._measurands(rules.measurands_variable(context)), context)
        return tx.event(
            event_type,
            trigger,
            timestamp=self._clock.iso(now),
            charging_state=self.charging_state,
            offline=not self.online,
            samples=samples,
            stopped_reason=stopped_reason,
            phases=self.config.phases,
            evse_id=self.config.evse_id,
        )

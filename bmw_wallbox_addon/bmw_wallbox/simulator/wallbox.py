"""WallboxSimulator: a simulated charging station (by default the BMW/Delta wallbox) speaking OCPP 2.0.1.

The public face of the simulator: construction, observable state for tests, and
the controls a test or the demo uses (plug in, suspend, drop the network,
reboot, crash). The network lives in :mod:`~bmw_wallbox.simulator.uplink`, the
wallbox's behaviour in :mod:`~bmw_wallbox.simulator.evse` and its neighbours,
the behaviour flags in :mod:`~bmw_wallbox.simulator.personality`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_lib
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from bmw_wallbox.simulator import messages
from bmw_wallbox.simulator._lib import OcppRequest, enums
from bmw_wallbox.simulator.auth import LocalAuthList, present
from bmw_wallbox.simulator.clock import SimClock, cancel_and_wait
from bmw_wallbox.simulator.evse import Evse, EvseConfig
from bmw_wallbox.simulator.inventory import Identity, LiveValues, wallbox_model
from bmw_wallbox.simulator.outage import crash, reboot
from bmw_wallbox.simulator.personality import DELTA, Personality
from bmw_wallbox.simulator.station import ChargerLog, Station
from bmw_wallbox.simulator.transfers import Transfers
from bmw_wallbox.simulator.uplink import RECONNECT_MIN_S, Uplink
from bmw_wallbox.simulator.view import WallboxView

_LOGGER = logging.getLogger(__name__)
_Boot = enums.BootReasonEnumType


class WallboxSimulator(WallboxView):
    """A simulated wallbox; ``await run()`` connects it to ``url`` + "/" + percent-encoded id.

    Electrical model: ``phases`` x ``voltage_v`` V; the EVSE offers the effective
    profile limit capped at ``max_current_a`` A (hardware max) and the car draws
    min(offered, ``car_max_current_a``) A per phase, nothing below 6 A. The
    lifetime energy starts at ``energy_wh`` Wh. ``time_scale`` simulated seconds
    pass per real second; ``reboot_s`` (simulated) is how long a reboot keeps it
    offline. ``password`` (the charger id is the user) and ``ssl`` give security
    profile 2.

    ``personality`` (see :mod:`.personality`) picks the charger's behaviour:
    ``DELTA`` (default) is the BMW/Delta wallbox described below;
    ``PER_TX_REGISTER`` counts Energy.Active.Import.Register from 0 in each
    transaction; ``NO_SMART_CHARGING`` answers the smart-charging calls with
    CALLERROR NotImplemented and charges at the hardware/car maximum;
    ``SILENT_RECONNECT`` sends no StatusNotification after a network drop;
    ``LOSES_TRANSACTION`` forgets its transaction in :meth:`crash` and starts
    none by itself after a boot. ``combine()`` merges them. ``quirks`` (None: the
    personality's), ``vendor_name``, ``model`` and ``firmware_version`` (None:
    the personality's identity) override the personality.

    The Delta's quirks and what every personality shares are listed in :mod:`.personality`.
    """

    def __init__(
        self,
        url: str,
        charger_id: str,
        *,
        password: str | None = None,
        ssl: ssl_lib.SSLContext | None = None,
        personality: Personality = DELTA,
        quirks: bool | None = None,
        phases: int = 3,
        max_current_a: float = 32.0,
        car_max_current_a: float = 16.0,
        voltage_v: float = 230.0,
        time_scale: float = 1.0,
        energy_wh: float = 1_234_567.0,
        reboot_s: float = 60.0,
        vendor_name: str | None = None,
        model: str | None = None,
        firmware_version: str | None = None,
        serial_number: str = "DE2201A00042",
    ) -> None:
        if phases not in (1, 2, 3):
            msg = f"phases must be 1, 2 or 3, got {phases}"
            raise ValueError(msg)
        if quirks is not None:
            personality = replace(personality, quirks=quirks)
        #: The behaviour flags in effect (constructor overrides applied).
        self.personality = personality
        self.url = url
        self.charger_id = charger_id
        self.reboot_s = reboot_s
        self.clock = SimClock(time_scale)
        self._log = ChargerLog(_LOGGER, {"charger": charger_id})
        identity = Identity(
            charger_id=charger_id,
            vendor_name=vendor_name or personality.vendor_name,
            model=model or personality.model,
            serial_number=serial_number,
            firmware_version=firmware_version or personality.firmware_version,
        )
        live = LiveValues(
            power_w=lambda evse_id: f"{self.evse(evse_id).meter.power_w:.1f}",
            availability=lambda evse_id: "Occupied" if self._plugged(evse_id) else "Available",
            date_time=lambda: self.clock.iso(),
        )
        local_list = LocalAuthList()
        variables = wallbox_model(
            identity,
            live,
            phases=phases,
            max_current_a=max_current_a,
            voltage_v=voltage_v,
            password=password,
            smart_charging=personality.smart_charging,
            local_list=local_list if personality.local_auth_list else None,
            evses=personality.evses,
        )
        configs = [
            EvseConfig(
                personality=personality,
                phases=phases,
                voltage_v=voltage_v,
                max_current_a=max_current_a,
                car_max_current_a=car_max_current_a,
                evse_id=evse_id,
            )
            for evse_id in range(1, personality.evses + 1)
        ]
        share_wh = energy_wh / len(configs)
        evses = [Evse(config, clock=self.clock, model=variables, energy_wh=share_wh) for config in configs]
        self._station = Station(
            clock=self.clock,
            identity=identity,
            personality=personality,
            variables=variables,
            evses=evses,
            log=self._log,
            local_list=local_list,
        )
        self._station.on_reset = lambda: self._spawn(self._reboot(_Boot.remote_reset, graceful=True))
        self._uplink = Uplink(self._station, url, ssl=ssl)
        self._station.transfers.ssl = ssl
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = asyncio.Event()
        self._stopped.set()

    @property
    def transfers(self) -> Transfers:
        """GetLog uploads and UpdateFirmware downloads: the upload method, and what was sent and fetched."""
        return self._station.transfers

    async def wait_connected(self, timeout_s: float = 10.0) -> None:
        """Wait (real seconds) until connected, booted, and the messages queued so far answered.

        Raises TimeoutError.
        """
        async with asyncio.timeout(timeout_s):
            await self._uplink.connected.wait()
            await self._station.drain()

    async def wait_for_call(self, action: str, timeout_s: float = 5.0, *, after: int | None = None) -> dict[str, Any]:
        """Return the camelCase payload of the next received ``action`` call (real-second timeout).

        Each call is returned once: successive waits for one action walk through its
        calls in order. ``after`` (an index into ``received``) starts the search there
        instead. Raises TimeoutError.
        """
        return await self._station.wait_for_call(action, timeout_s, after=after)

    # ---------------------------------------------------------------- lifecycle

    async def run(self) -> None:
        """Connect and stay connected until :meth:`stop`, reconnecting with backoff."""
        if not self._stopped.is_set():
            msg = "the simulator is already running"
            raise RuntimeError(msg)
        self._stopped.clear()
        self._uplink.stopping.clear()
        self._spawn(self._clock_loop())
        try:
            await self._uplink.run()
        finally:
            await cancel_and_wait(self._tasks)
            await self._station.transfers.close()
            self._stopped.set()

    async def stop(self) -> None:
        """Close the connection (code 1000) and wait until :meth:`run` and all its tasks ended."""
        self._uplink.stopping.set()
        await self._stopped.wait()

    # ---------------------------------------------------------------- car and faults

    async def plug_in(self, evse_id: int = 1) -> None:
        """Plug a car in at EVSE ``evse_id``: Occupied, TransactionEvent Started (CablePluggedIn), then Charging.

        Like the other controls, returns once the CSMS answered what this caused (at
        once while offline: the messages stay queued).
        """
        self._log.info("Car plugged in at EVSE %s", evse_id)
        await self._apply(self.evse(evse_id).plug_in())

    async def unplug(self, evse_id: int = 1) -> None:
        """Unplug the car at EVSE ``evse_id``: TransactionEvent Ended (EVDisconnected), then Available."""
        self._log.info("Car unplugged at EVSE %s", evse_id)
        await self._apply(self.evse(evse_id).unplug())

    async def present_token(self, value: str, kind: str = "ISO14443") -> str:
        """Tap a card (or the car's own token) at the reader; return the status it got (see :mod:`.auth`).

        An accepted token authorizes the session (a car not yet plugged in
        starts one at plug-in). Returns once the CSMS answered what it caused.
        """
        return await present(self._station, value, kind)

    async def car_suspend(self, evse_id: int = 1) -> None:
        """The car at EVSE ``evse_id`` stops drawing current (SuspendedEV)."""
        await self._apply(self.evse(evse_id).set_car_suspended(True))

    async def car_resume(self, evse_id: int = 1) -> None:
        """The car at EVSE ``evse_id`` draws current again."""
        await self._apply(self.evse(evse_id).set_car_suspended(False))

    def set_silent(self, silent: bool) -> None:
        """While silent, CSMS calls are logged in ``received`` but never answered."""
        self._log.info("Silent %s", "on" if silent else "off")
        self._station.silent = silent

    async def drop_connection(self, *, offline_s: float = RECONNECT_MIN_S) -> None:
        """Cut the network without a close handshake; reconnect after ``offline_s`` (simulated), no boot."""
        if self._uplink.drop(offline_s):
            self._log.info("Dropped the connection for %.0f s", offline_s)
            await self._uplink.disconnected.wait()

    async def reboot(self, *, reason: str = _Boot.power_up, reboot_s: float | None = None) -> None:
        """Power-cycle: the session ends (PowerLoss, reported after boot), offline ``reboot_s`` s, then boot.

        ``reboot_s`` defaults to the constructor's. After the BootNotification
        (``reason``) a car that is still plugged in starts a NEW transaction by itself
        (unless the personality says otherwise).
        """
        await self._reboot(reason, graceful=False, reboot_s=reboot_s)

    async def crash(
        self,
        *,
        lose_transaction: bool | None = None,
        car_plugged: bool | None = None,
        offline_s: float | None = None,
        reason: str = _Boot.watchdog,
    ) -> None:
        """The charger's process is killed and restarts: offline ``offline_s`` s (default ``reboot_s``), then boot.

        ``lose_transaction`` (None: the personality's ``crash_loses_transaction``)
        forgets the running transaction with no Ended event and drops every queued
        message; otherwise the queue survives and the session ends (stoppedReason
        Reboot), reported late with ``offline: true``. ``car_plugged`` (None:
        unchanged) says whether the car is still connected when the charger is
        back. After the BootNotification (``reason``, default Watchdog) it
        reports the connector; a plugged car starts a new transaction only if the
        personality's ``new_transaction_after_boot`` says so. Returns once offline.
        """
        lose = self.personality.crash_loses_transaction if lose_transaction is None else lose_transaction
        offline = self.reboot_s if offline_s is None else offline_s
        await crash(
            self._station, self._uplink, reason, offline_s=offline, lose_transaction=lose, car_plugged=car_plugged
        )

    async def send_unsolicited(self, timeout_s: float = 35.0) -> dict[str, Any]:
        """Send one each of the messages the unit sends unasked; return action -> response.

        The five are NotifyEvent, SecurityEventNotification, NotifyEVChargingNeeds,
        NotifyChargingLimit and ClearedChargingLimit. A response is the library's
        ``call_result`` object, None when the CSMS answered CALLERROR or not at all.
        """
        evse = self._station.evse
        requests = messages.unsolicited(
            self.clock.iso(),
            next(self._uplink.event_ids),
            plugged=evse.plugged,
            config=(evse.config.phases, evse.config.voltage_v, evse.config.car_max_current_a),
            offered_a=evse.offered_current_a(),
        )
        futures = self._station.post(requests)
        async with asyncio.timeout(timeout_s):
            results = await asyncio.gather(*futures)
        return {type(request).__name__: result for request, result in zip(requests, results, strict=True)}

    # ---------------------------------------------------------------- internals

    def _plugged(self, evse_id: int) -> bool:
        """A cable is in EVSE ``evse_id`` (0: in any EVSE of the station)."""
        return any(evse.plugged for evse in self._station.evses if evse_id in (0, evse.config.evse_id))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _apply(self, requests: list[OcppRequest]) -> None:
        """Queue what a state change produced; wait until the CSMS answered it (or offline)."""
        self._station.post(requests)
        await self._station.drain()

    async def _clock_loop(self) -> None:
        """Let simulated time act: meter intervals and schedule changes, also while offline."""
        while True:
            for evse in self._station.evses:
                self._station.enqueue(evse.tick())
            dues = [due for evse in self._station.evses if (due := evse.next_due_s()) is not None]
            wait_s = None if not dues else max(min(dues) - self.clock.now_s(), 0.0)
            await self._station.wait_for_wake(wait_s)

    async def _reboot(self, reason: str, *, graceful: bool, reboot_s: float | None = None) -> None:
        """Go down for ``reboot_s`` (default ``self.reboot_s``) simulated s, then boot (see :func:`.outage.reboot`)."""
        offline_s = self.reboot_s if reboot_s is None else reboot_s
        await reboot(self._station, self._uplink, reason, graceful=graceful, offline_s=offline_s)

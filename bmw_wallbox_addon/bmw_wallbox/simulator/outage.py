"""How the wallbox goes down and comes back: Reset, power cycle, and a crash of its process.

Each function takes the wallbox offline for ``offline_s`` simulated seconds; the
uplink then reconnects and sends a BootNotification for ``reason``. What happens
to the running transaction and to the queued messages is what tells them apart.
"""

from __future__ import annotations

from bmw_wallbox.simulator._lib import enums
from bmw_wallbox.simulator.station import Station
from bmw_wallbox.simulator.uplink import Uplink

_Trigger = enums.TriggerReasonEnumType
_Reason = enums.ReasonEnumType


async def reboot(station: Station, uplink: Uplink, reason: str, *, graceful: bool, offline_s: float) -> None:
    """Go down for ``offline_s`` s, then boot for ``reason``.

    A graceful reboot (Reset) reports the session's end (ImmediateReset) before
    closing; a power cycle cuts the line first and reports PowerLoss after boot.
    """
    station.log.info("Rebooting (%s); offline for %.0f s", reason, offline_s)
    if graceful:
        for evse in station.evses:
            station.post(evse.shut_down(_Trigger.reset_command, _Reason.immediate_reset))
        await station.drain()
    await uplink.go_down(reason, offline_s, graceful=graceful)
    if not graceful:
        for evse in station.evses:
            station.post(evse.shut_down(_Trigger.abnormal_condition, _Reason.power_loss))


async def crash(
    station: Station,
    uplink: Uplink,
    reason: str,
    *,
    offline_s: float,
    lose_transaction: bool,
    car_plugged: bool | None,
) -> None:
    """The charger's process dies (the line is cut) and restarts ``offline_s`` s later.

    With ``lose_transaction`` the running transaction is forgotten: no Ended event
    is ever sent and every queued message is lost. Without it the queue survives
    and the transaction ends (AbnormalCondition, stoppedReason Reboot); those
    events arrive after the BootNotification with ``offline: true`` and the
    timestamps of the crash. ``car_plugged`` (None: unchanged) is whether the car
    is still connected when the charger is back.
    """
    station.log.info(
        "Crashing (%s transaction); offline for %.0f s", "losing" if lose_transaction else "ending", offline_s
    )
    evse = station.evse
    await uplink.go_down(reason, offline_s, graceful=False)
    # Only now: the outbox must not change while a connection is still delivering it.
    if lose_transaction:
        for each in station.evses:
            each.forget_transaction()
        station.log.info("Crash lost the transaction and %d queued message(s)", station.forget_queue())
    else:
        for each in station.evses:
            station.post(each.shut_down(_Trigger.abnormal_condition, _Reason.reboot))
    # The wallbox is down, so plugging or unplugging here reports nothing; the boot reports the connector.
    if car_plugged is True:
        station.post(evse.plug_in())
    elif car_plugged is False:
        station.post(evse.unplug())

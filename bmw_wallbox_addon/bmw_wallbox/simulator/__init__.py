"""A simulated OCPP 2.0.1 charging station for demo mode and tests.

:class:`WallboxSimulator` connects to a CSMS like a real charger and exposes its
state for assertions. Its :class:`Personality` picks the behaviour: ``DELTA``
(default) is the BMW/Delta wallbox with the firmware quirks reported from the
field; ``PER_TX_REGISTER`` reports the energy register per transaction (from 0);
``NO_SMART_CHARGING`` answers the smart-charging calls with CALLERROR
NotImplemented; ``SILENT_RECONNECT`` reconnects after a network drop without a
BootNotification or StatusNotification; ``LOSES_TRANSACTION`` forgets its
transaction when its process crashes. :func:`combine` merges personalities.
"""

from bmw_wallbox.simulator.clock import SimClock
from bmw_wallbox.simulator.device_model import DeviceModel, Variable
from bmw_wallbox.simulator.personality import (
    DELTA,
    DUAL_EVSE,
    LOSES_TRANSACTION,
    NO_SMART_CHARGING,
    PER_TX_REGISTER,
    PRESETS,
    SILENT_RECONNECT,
    Personality,
    combine,
    preset,
)
from bmw_wallbox.simulator.profiles import ChargingProfile, SchedulePeriod
from bmw_wallbox.simulator.wallbox import WallboxSimulator

__all__ = [
    "DELTA",
    "DUAL_EVSE",
    "LOSES_TRANSACTION",
    "NO_SMART_CHARGING",
    "PER_TX_REGISTER",
    "PRESETS",
    "SILENT_RECONNECT",
    "ChargingProfile",
    "DeviceModel",
    "Personality",
    "SchedulePeriod",
    "SimClock",
    "Variable",
    "WallboxSimulator",
    "combine",
    "preset",
]

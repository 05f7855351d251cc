"""A simulated BMW/Delta wallbox (OCPP 2.0.1 charging station) for demo mode and tests.

:class:`WallboxSimulator` connects to a CSMS like the real unit, including the
firmware quirks reported from the field (see ``quirks``), and exposes its state
for assertions.
"""

from bmw_wallbox.simulator.clock import SimClock
from bmw_wallbox.simulator.device_model import DeviceModel, Variable
from bmw_wallbox.simulator.profiles import ChargingProfile, SchedulePeriod
from bmw_wallbox.simulator.wallbox import WallboxSimulator

__all__ = ["ChargingProfile", "DeviceModel", "SchedulePeriod", "SimClock", "Variable", "WallboxSimulator"]

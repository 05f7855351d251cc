"""The variables of the BMW/Delta wallbox (firmware 01.20.06.71), as its GetBaseReport shows them.

Values and mutability follow a full report of a real unit where known (see the
product brief); the remaining entries are plausible defaults a CSMS may read.
Live values (present power, availability, clock) are read through callbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bmw_wallbox.simulator._lib import enums
from bmw_wallbox.simulator.auth import LocalAuthList, local_list_variables
from bmw_wallbox.simulator.device_model import DeviceModel, Variable

_RW = enums.MutabilityEnumType.read_write
_RO = enums.MutabilityEnumType.read_only
_WO = enums.MutabilityEnumType.write_only
_INT = enums.DataEnumType.integer
_BOOL = enums.DataEnumType.boolean
_DEC = enums.DataEnumType.decimal
_MEMBERS = enums.DataEnumType.member_list
_SEQUENCE = enums.DataEnumType.sequence_list

#: Measurands the wallbox can sample (no SoC, no Current.Offered).
MEASURANDS = "Current.Import,Energy.Active.Import.Register,Power.Active.Import,Voltage"
TX_POINTS = "EVConnected,Authorized,EnergyTransfer,PowerPathClosed"
#: NotifyReport entries per message; also reported as ItemsPerMessage(GetReport).
REPORT_ITEMS_PER_MESSAGE = 20


@dataclass(frozen=True, kw_only=True)
class Identity:
    """What the wallbox says about itself (BootNotification, ChargingStation component)."""

    charger_id: str
    vendor_name: str
    model: str
    serial_number: str
    firmware_version: str


@dataclass(frozen=True, kw_only=True)
class LiveValues:
    """Callbacks for variables whose value changes on its own (``power_w`` and ``availability`` of an EVSE id)."""

    power_w: Callable[[int], str]
    availability: Callable[[int], str]
    date_time: Callable[[], str]


def wallbox_model(
    identity: Identity,
    live: LiveValues,
    *,
    phases: int,
    max_current_a: float,
    voltage_v: float,
    password: str | None,
    smart_charging: bool = True,
    local_list: LocalAuthList | None = None,
    evses: int = 1,
) -> DeviceModel:
    """Build the device model of a wallbox with ``evses`` EVSEs of ``phases`` phases of ``max_current_a`` A each.

    Each EVSE has its EVSE and Connector components (connector 1). Without
    ``smart_charging`` the model has no SmartChargingCtrlr component; with a
    ``local_list`` it has LocalAuthListCtrlr (switched off, as the Delta ships).
    """
    max_power_w = round(max_current_a * voltage_v * phases, 1)

    def var(component: str, name: str, value: str = "", **extra: Any) -> Variable:
        return Variable(component=component, name=name, value=value, **extra)

    def evse_variables(n: int) -> list[Variable]:
        evse: dict[str, Any] = {"evse_id": n}
        connector: dict[str, Any] = {"evse_id": n, "connector_id": 1}
        availability, power = (lambda: live.availability(n)), (lambda: live.power_w(n))
        return [
            var("EVSE", "Available", "true", data_type=_BOOL, **evse),
            var("EVSE", "AvailabilityState", source=availability, **evse),
            var("EVSE", "SupplyPhases", str(phases), data_type=_INT, **evse),
            var("EVSE", "Power", data_type=_DEC, unit="W", max_limit=max_power_w, source=power, **evse),
            var("Connector", "ConnectorType", "cType2", **connector),
            var("Connector", "AvailabilityState", source=availability, **connector),
        ]

    seconds = {"data_type": _INT, "unit": "s", "min_limit": 0}
    model = DeviceModel(
        [
            var(
                "DeviceDataCtrlr",
                "ItemsPerMessage",
                str(REPORT_ITEMS_PER_MESSAGE),
                instance="GetReport",
                data_type=_INT,
            ),
            var("DeviceDataCtrlr", "ItemsPerMessage", "24", instance="GetVariables", data_type=_INT),
            var("DeviceDataCtrlr", "ItemsPerMessage", "24", instance="SetVariables", data_type=_INT),
            var("DeviceDataCtrlr", "BytesPerMessage", "8192", instance="GetReport", data_type=_INT),
            var("ChargingStation", "Model", identity.model),
            var("ChargingStation", "VendorName", identity.vendor_name),
            var("ChargingStation", "SupplyPhases", str(phases), data_type=_INT),
            var("ChargingStation", "Available", "true", data_type=_BOOL),
            var("ChargingStation", "AvailabilityState", source=lambda: live.availability(0)),
            *(variable for n in range(1, evses + 1) for variable in evse_variables(n)),
            var("ClockCtrlr", "DateTime", data_type=enums.DataEnumType.date_time, source=live.date_time),
            var(
                "ClockCtrlr",
                "TimeSource",
                "Heartbeat",
                mutability=_RW,
                data_type=_SEQUENCE,
                values_list="Heartbeat,NTP,RealTimeClock",
            ),
            var("OCPPCommCtrlr", "MessageTimeout", "30", instance="Default", **seconds),
            var("OCPPCommCtrlr", "HeartbeatInterval", "10", mutability=_RW, **seconds),
            var("OCPPCommCtrlr", "WebSocketPingInterval", "300", mutability=_RW, **seconds),
            var("OCPPCommCtrlr", "QueueAllMessages", "true", data_type=_BOOL),
            var("OCPPCommCtrlr", "OfflineThreshold", "3600", mutability=_RW, **seconds),
            var(
                "OCPPCommCtrlr",
                "MessageAttempts",
                "3",
                instance="TransactionEvent",
                mutability=_RW,
                data_type=_INT,
                min_limit=1,
            ),
            var(
                "OCPPCommCtrlr", "MessageAttemptInterval", "60", instance="TransactionEvent", mutability=_RW, **seconds
            ),
            var("OCPPCommCtrlr", "ResetRetries", "2", mutability=_RW, data_type=_INT),
            var("SecurityCtrlr", "SecurityProfile", "2", data_type=_INT),
            var("SecurityCtrlr", "Identity", identity.charger_id),
            var(
                "SecurityCtrlr",
                "BasicAuthPassword",
                password or "",
                mutability=_WO,
                data_type=enums.DataEnumType.string,
            ),
            var("SecurityCtrlr", "OrganizationName", "BMW", mutability=_RW),
            var("SampledDataCtrlr", "Enabled", "true", mutability=_RW, data_type=_BOOL),
            var("SampledDataCtrlr", "Available", "true", data_type=_BOOL),
            var("SampledDataCtrlr", "TxUpdatedInterval", "0", mutability=_RW, **seconds),
            var(
                "SampledDataCtrlr",
                "TxUpdatedMeasurands",
                "Energy.Active.Import.Register",
                mutability=_RW,
                data_type=_MEMBERS,
                values_list=MEASURANDS,
            ),
            var(
                "SampledDataCtrlr",
                "TxStartedMeasurands",
                "Energy.Active.Import.Register",
                mutability=_RW,
                data_type=_MEMBERS,
                values_list=MEASURANDS,
            ),
            var(
                "SampledDataCtrlr",
                "TxEndedMeasurands",
                "Energy.Active.Import.Register",
                mutability=_RW,
                data_type=_MEMBERS,
                values_list=MEASURANDS,
            ),
            var("SampledDataCtrlr", "TxEndedInterval", "0", mutability=_RW, **seconds),
            var("AlignedDataCtrlr", "Available", "false", data_type=_BOOL),
            var("AlignedDataCtrlr", "Enabled", "false", data_type=_BOOL),
            var("AlignedDataCtrlr", "Interval", "0", mutability=_RW, **seconds),
            var("AlignedDataCtrlr", "Measurands", "", mutability=_RW, data_type=_MEMBERS, values_list=MEASURANDS),
            var(
                "TxCtrlr",
                "TxStartPoint",
                "EVConnected,Authorized,EnergyTransfer",
                mutability=_RW,
                data_type=_MEMBERS,
                values_list=TX_POINTS,
            ),
            var("TxCtrlr", "TxStopPoint", "PowerPathClosed", mutability=_RW, data_type=_MEMBERS, values_list=TX_POINTS),
            var("TxCtrlr", "StopTxOnEVSideDisconnect", "true", data_type=_BOOL),
            var("TxCtrlr", "StopTxOnInvalidId", "true", mutability=_RW, data_type=_BOOL),
            var("TxCtrlr", "EVConnectionTimeOut", "120", mutability=_RW, **seconds),
            var("AuthCtrlr", "Enabled", "false", mutability=_RW, data_type=_BOOL),
            var("AuthCtrlr", "AuthorizeRemoteStart", "false", data_type=_BOOL),
            var("AuthCtrlr", "LocalAuthorizeOffline", "true", mutability=_RW, data_type=_BOOL),
            var("AuthCtrlr", "LocalPreAuthorize", "false", mutability=_RW, data_type=_BOOL),
            var("SmartChargingCtrlr", "Enabled", "true", data_type=_BOOL),
            var("SmartChargingCtrlr", "Available", "true", data_type=_BOOL),
            var("SmartChargingCtrlr", "RateUnit", "A,W", data_type=_MEMBERS, values_list="A,W"),
            var("SmartChargingCtrlr", "PeriodsPerSchedule", "33", data_type=_INT),
            var("SmartChargingCtrlr", "Entries", "15", instance="ChargingProfiles", data_type=_INT),
            var("SmartChargingCtrlr", "ProfileStackLevel", "5", data_type=_INT),
            var("SmartChargingCtrlr", "ACPhaseSwitchingSupported", "false", data_type=_BOOL),
            var("SmartChargingCtrlr", "LimitChangeSignificance", "1.0", mutability=_RW, data_type=_DEC),
            *(local_list_variables(local_list) if local_list is not None else []),
        ]
    )
    if smart_charging:
        return model
    return DeviceModel(variable for variable in model if variable.component != "SmartChargingCtrlr")

"""The OCPP 2.0.1 device model: components, variables, Get/SetVariables, reports.

Pure logic, no I/O. Requests arrive as the snake_case dicts the ``ocpp`` library
hands to handlers; results are snake_case dicts the library turns into camelCase.
Only the ``Actual`` attribute exists; every value is a string, as on the wire.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from bmw_wallbox.simulator._lib import enums

_Mut = enums.MutabilityEnumType
_Data = enums.DataEnumType
_GetStatus = enums.GetVariableStatusEnumType
_SetStatus = enums.SetVariableStatusEnumType

#: (component name, component instance, evse id, connector id, variable name, variable instance)
VariableKey = tuple[str, str | None, int | None, int | None, str, str | None]


@dataclass(kw_only=True)
class Variable:
    """One component variable with its ``Actual`` value and characteristics.

    ``source`` makes the value live (read on every Get or report), e.g. the present
    power; such variables are read-only. Limits and ``unit`` are reported as the
    variable's characteristics.
    """

    component: str
    name: str
    value: str = ""
    mutability: str = _Mut.read_only
    data_type: str = _Data.string
    component_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    instance: str | None = None
    unit: str | None = None
    values_list: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    source: Callable[[], str] | None = None

    @property
    def key(self) -> VariableKey:
        """Return the identity of this variable in the device model."""
        return (
            self.component,
            self.component_instance,
            self.evse_id,
            self.connector_id,
            self.name,
            self.instance,
        )

    def actual(self) -> str:
        """Return the current ``Actual`` value."""
        return self.source() if self.source is not None else self.value

    def accepts(self, value: str) -> bool:
        """Return True when ``value`` is valid for this variable's data type and limits."""
        if self.data_type == _Data.boolean:
            return value in ("true", "false")
        if self.data_type in (_Data.integer, _Data.decimal):
            try:
                number = int(value) if self.data_type == _Data.integer else float(value)
            except ValueError:
                return False
            too_low = self.min_limit is not None and number < self.min_limit
            too_high = self.max_limit is not None and number > self.max_limit
            return not (too_low or too_high)
        if self.values_list is not None and self.data_type in (
            _Data.member_list,
            _Data.sequence_list,
            _Data.option_list,
        ):
            allowed = set(self.values_list.split(","))
            if self.data_type == _Data.option_list:
                return value in allowed
            members = [member.strip() for member in value.split(",") if member.strip()]
            return all(member in allowed for member in members)
        return len(value) <= 1000

    def report_data(self) -> dict[str, Any]:
        """Return this variable as a NotifyReport ``reportData`` entry (snake_case)."""
        attribute: dict[str, Any] = {"type": "Actual", "mutability": self.mutability}
        if self.mutability != _Mut.write_only:
            attribute["value"] = self.actual()
        characteristics: dict[str, Any] = {
            "data_type": self.data_type,
            "supports_monitoring": False,
        }
        for field in ("unit", "min_limit", "max_limit", "values_list"):
            if getattr(self, field) is not None:
                characteristics[field] = getattr(self, field)
        return {
            "component": _component_dict(self),
            "variable": _variable_dict(self),
            "variable_attribute": [attribute],
            "variable_characteristics": characteristics,
        }


def _component_dict(variable: Variable) -> dict[str, Any]:
    component: dict[str, Any] = {"name": variable.component}
    if variable.component_instance is not None:
        component["instance"] = variable.component_instance
    if variable.evse_id is not None:
        component["evse"] = {"id": variable.evse_id}
        if variable.connector_id is not None:
            component["evse"]["connector_id"] = variable.connector_id
    return component


def _variable_dict(variable: Variable) -> dict[str, Any]:
    result: dict[str, Any] = {"name": variable.name}
    if variable.instance is not None:
        result["instance"] = variable.instance
    return result


class DeviceModel:
    """The charger's variables, answering GetVariables, SetVariables and GetBaseReport.

    SetVariables on a ReadOnly variable is Rejected, as is a value that does not fit
    the data type; unknown components and variables get UnknownComponent and
    UnknownVariable; attributes other than ``Actual`` get NotSupportedAttributeType.
    """

    def __init__(self, variables: Iterable[Variable]) -> None:
        self._variables: dict[VariableKey, Variable] = {v.key: v for v in variables}

    def __iter__(self) -> Iterator[Variable]:
        return iter(self._variables.values())

    def __len__(self) -> int:
        return len(self._variables)

    def variable(
        self,
        component: str,
        name: str,
        *,
        instance: str | None = None,
        evse_id: int | None = None,
        connector_id: int | None = None,
        component_instance: str | None = None,
    ) -> Variable:
        """Return one variable; raise KeyError when it does not exist."""
        key = (component, component_instance, evse_id, connector_id, name, instance)
        return self._variables[key]

    def value(self, component: str, name: str, **where: Any) -> str:
        """Return the ``Actual`` value of a variable (same keywords as ``variable``)."""
        return self.variable(component, name, **where).actual()

    def int_value(self, component: str, name: str, **where: Any) -> int:
        """Return the value of an integer variable."""
        return int(self.value(component, name, **where))

    def members(self, component: str, name: str, **where: Any) -> list[str]:
        """Return the members of a list-valued variable (empty entries dropped)."""
        raw = self.value(component, name, **where)
        return [member.strip() for member in raw.split(",") if member.strip()]

    def put(self, component: str, name: str, value: str, **where: Any) -> None:
        """Store ``value`` without checks (the charger itself changing a setting)."""
        self.variable(component, name, **where).value = value

    def find(self, component: dict[str, Any], variable: dict[str, Any]) -> tuple[Variable | None, str | None]:
        """Resolve request dicts to a variable, or (None, UnknownComponent/UnknownVariable)."""
        evse = component.get("evse") or {}
        wanted_component = (component["name"], component.get("instance"), evse.get("id"))
        wanted_connector = evse.get("connector_id")
        component_known = False
        for candidate in self._variables.values():
            if candidate.key[:3] != wanted_component:
                continue
            if wanted_connector is not None and candidate.connector_id != wanted_connector:
                continue
            component_known = True
            if (candidate.name, candidate.instance) == (
                variable["name"],
                variable.get("instance"),
            ):
                return candidate, None
        if component_known:
            return None, _GetStatus.unknown_variable
        return None, _GetStatus.unknown_component

    def get_variables(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Answer the ``get_variable_data`` items of a GetVariables request, in order."""
        return [self._get_one(request) for request in requests]

    def _get_one(self, request: dict[str, Any]) -> dict[str, Any]:
        attribute = request.get("attribute_type", "Actual")
        result: dict[str, Any] = {
            "component": request["component"],
            "variable": request["variable"],
            "attribute_type": attribute,
        }
        variable, error = self.find(request["component"], request["variable"])
        if variable is None:
            result["attribute_status"] = error
        elif attribute != "Actual":
            result["attribute_status"] = _GetStatus.not_supported_attribute_type
        elif variable.mutability == _Mut.write_only:
            result["attribute_status"] = _GetStatus.rejected
        else:
            result["attribute_status"] = _GetStatus.accepted
            result["attribute_value"] = variable.actual()
        return result

    def set_variables(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Apply the ``set_variable_data`` items of a SetVariables request, in order."""
        return [self._set_one(request) for request in requests]

    def _set_one(self, request: dict[str, Any]) -> dict[str, Any]:
        attribute = request.get("attribute_type", "Actual")
        value = str(request["attribute_value"])
        variable, error = self.find(request["component"], request["variable"])
        if variable is None:
            status = error
        elif attribute != "Actual":
            status = _SetStatus.not_supported_attribute_type
        elif variable.mutability == _Mut.read_only or variable.source is not None or not variable.accepts(value):
            status = _SetStatus.rejected
        else:
            variable.value = value
            status = _SetStatus.accepted
        return {
            "attribute_type": attribute,
            "attribute_status": status,
            "component": request["component"],
            "variable": request["variable"],
        }

    def report(self, report_base: str) -> list[dict[str, Any]] | None:
        """Return the ``reportData`` entries for a GetBaseReport, or None if unsupported.

        FullInventory reports every variable, ConfigurationInventory the writable
        ones; SummaryInventory is not supported (None).
        """
        if report_base == enums.ReportBaseEnumType.full_inventory:
            return [variable.report_data() for variable in self]
        if report_base == enums.ReportBaseEnumType.configuration_inventory:
            return [variable.report_data() for variable in self if variable.mutability != _Mut.read_only]
        return None

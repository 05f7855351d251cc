"""Controls in Home Assistant: persistent input helpers that drive the controller.

Per charger, one slider ``input_number.<slug>_current_limit`` (0 .. max current,
step 1 A; 0 pauses, 1-5 A become 6 A) and the buttons
``input_button.<slug>_start``, ``_pause``, ``_resume``, ``_stop`` and ``_reset``.
They are created through the helper collections of the Core WebSocket API, so
they are real, UI-editable entities that survive restarts; at every connect
the add-on finds its own helpers again (by id, else by name) and creates only
the missing ones. Their entity ids are looked up in the entity registry, so a
helper the user renamed keeps working.

The slider shows the desired state: the limit, or 0 while paused. When the
limit is changed elsewhere (panel, JSON API, an event) the slider is moved to
match; the state change that this causes is recognised as our own echo and not
sent back to the controller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from bmw_wallbox.controller import Command, Controller, run
from bmw_wallbox.homeassistant.rest import CoreRestClient, HomeAssistantConnectionError, HomeAssistantError
from bmw_wallbox.homeassistant.websocket import CoreConnection
from bmw_wallbox.hub import StateHub
from bmw_wallbox.state import ChargerState, Save

_LOGGER = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, object], str], None]
#: How long a value we set on the slider is expected to come back as a state change.
ECHO_TTL_S = 10.0


@dataclass(frozen=True, kw_only=True)
class ButtonDescription:
    """One ``input_button`` per charger; pressing it runs ``command``."""

    command: Command
    name: str
    icon: str

    @property
    def key(self) -> str:
        """The helper id's suffix (``<slug>_<key>``)."""
        return str(self.command)


BUTTONS: tuple[ButtonDescription, ...] = (
    ButtonDescription(command=Command.START, name="Start", icon="mdi:play"),
    ButtonDescription(command=Command.PAUSE, name="Pause", icon="mdi:pause"),
    ButtonDescription(command=Command.RESUME, name="Resume", icon="mdi:play-pause"),
    ButtonDescription(command=Command.STOP, name="Stop", icon="mdi:stop"),
    ButtonDescription(command=Command.RESET, name="Reset", icon="mdi:restart"),
)
SLIDER_KEY = "current_limit"
SLIDER_NAME = "Current limit"


def slider_config(charger: ChargerState) -> dict[str, Any]:
    """The ``input_number/create`` fields of a charger's limit slider."""
    return {
        "name": f"{charger.name} {SLIDER_NAME}",
        "min": 0,
        "max": charger.max_current_a,
        "step": 1,
        "unit_of_measurement": "A",
        "mode": "slider",
        "icon": "mdi:current-ac",
    }


def button_config(charger: ChargerState, button: ButtonDescription) -> dict[str, Any]:
    """The ``input_button/create`` fields of one button."""
    return {"name": f"{charger.name} {button.name}", "icon": button.icon}


def find_item(items: list[dict[str, Any]], *, item_id: str, name: str) -> dict[str, Any] | None:
    """Our helper among a collection's items: the one with our id, else the one with our name."""
    return next((i for i in items if i.get("id") == item_id), None) or next(
        (i for i in items if i.get("name") == name), None
    )


def slider_value(state: Mapping[str, Any] | None) -> float | None:
    """The number an ``input_number`` state carries, or None (unknown, unavailable, missing)."""
    if not state:
        return None
    try:
        return float(state.get("state", ""))
    except ValueError:
        return None


@dataclass(kw_only=True)
class _ChargerControls:
    charger_id: str
    slider_entity: str | None = None
    buttons: dict[str, ButtonDescription] = field(default_factory=dict)  # entity id -> button
    slider_known: float | None = None  # what Home Assistant shows, as far as we know
    echoes: list[tuple[float, float]] = field(default_factory=list)  # (value, expires at) we set ourselves


class HelperControls:
    """Creates and follows the helpers of every charger (see the module docstring)."""

    def __init__(
        self,
        hub: StateHub,
        controller: Controller,
        connection: CoreConnection,
        rest: CoreRestClient,
        *,
        slugs: Mapping[str, str],
        spawn: Spawn,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hub = hub
        self._controller = controller
        self._connection = connection
        self._rest = rest
        self._slugs = dict(slugs)
        self._spawn = spawn
        self._clock = clock
        self._controls = {cid: _ChargerControls(charger_id=cid) for cid in self._slugs}
        self._by_entity: dict[str, _ChargerControls] = {}
        self._sync_wanted = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None
        connection.on_event("state_changed", self._on_state_changed)

    def attach(self) -> None:
        """Follow the hub, to move the sliders when the limit changes elsewhere."""
        self._unsubscribe = self._hub.subscribe(self._on_hub_changed)

    def detach(self) -> None:
        """Stop following the hub."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # --- set-up at every connect ---------------------------------------------------------------

    async def setup(self) -> None:
        """Find or create every helper, learn their entity ids, and bring the sliders in step."""
        numbers: list[dict[str, Any]] = await self._connection.command({"type": "input_number/list"})
        buttons: list[dict[str, Any]] = await self._connection.command({"type": "input_button/list"})
        created = False
        plan: list[tuple[_ChargerControls, str, dict[str, str]]] = []
        for charger_id, slug in self._slugs.items():
            charger = self._hub.chargers[charger_id]
            slider, new = await self._ensure("input_number", numbers, f"{slug}_{SLIDER_KEY}", slider_config(charger))
            created |= new
            button_ids: dict[str, str] = {}
            for button in BUTTONS:
                item_id, new = await self._ensure(
                    "input_button", buttons, f"{slug}_{button.key}", button_config(charger, button)
                )
                created |= new
                button_ids[item_id] = button.key
            plan.append((self._controls[charger_id], slider, button_ids))
        registry = await self._registry()
        by_entity: dict[str, _ChargerControls] = {}
        keys = {button.key: button for button in BUTTONS}
        for controls, slider, button_ids in plan:
            controls.slider_entity = registry.get(("input_number", slider), f"input_number.{slider}")
            by_entity[controls.slider_entity] = controls
            controls.buttons = {}
            for item_id, key in button_ids.items():
                entity = registry.get(("input_button", item_id), f"input_button.{item_id}")
                controls.buttons[entity] = keys[key]
                by_entity[entity] = controls
            controls.slider_known = slider_value(await self._rest.get_state(controls.slider_entity))
        self._by_entity = by_entity
        if created:
            _LOGGER.info("Home Assistant controls ready: %s", ", ".join(sorted(by_entity)))
        self._sync_wanted.set()

    async def _ensure(
        self, domain: str, items: list[dict[str, Any]], item_id: str, config: dict[str, Any]
    ) -> tuple[str, bool]:
        """The id of our helper in ``domain`` (found, its slider range corrected, or created) and whether it is new."""
        found = find_item(items, item_id=item_id, name=config["name"])
        if found is None:
            created = await self._connection.command({"type": f"{domain}/create", **config})
            _LOGGER.info("Created the Home Assistant helper %s.%s", domain, created["id"])
            return str(created["id"]), True
        if domain == "input_number" and (found.get("min") != config["min"] or found.get("max") != config["max"]):
            # An update replaces the whole item: keep what the user may have changed (name, icon, mode).
            kept = {key: value for key, value in found.items() if key != "id"}
            update = {**kept, "min": config["min"], "max": config["max"], "step": config["step"]}
            await self._connection.command({"type": f"{domain}/update", f"{domain}_id": found["id"], **update})
            _LOGGER.info("Set the range of input_number.%s to %s..%s A", found["id"], config["min"], config["max"])
        return str(found["id"]), False

    async def _registry(self) -> dict[tuple[str, str], str]:
        """Entity ids of helpers by (platform, unique id); empty when the registry cannot be read."""
        try:
            entries: list[dict[str, Any]] = await self._connection.command({"type": "config/entity_registry/list"})
        except HomeAssistantConnectionError:
            raise
        except HomeAssistantError as err:
            _LOGGER.debug("Entity registry not readable (%s); assuming default entity ids", err)
            return {}
        return {
            (str(e["platform"]), str(e["unique_id"])): str(e["entity_id"])
            for e in entries
            if e.get("platform") in ("input_number", "input_button")
        }

    # --- Home Assistant -> controller ------------------------------------------------------------

    def _on_state_changed(self, event: dict[str, Any]) -> None:
        data = event.get("data") or {}
        controls = self._by_entity.get(str(data.get("entity_id")))
        if controls is None:
            return
        entity_id = str(data["entity_id"])
        old, new = data.get("old_state"), data.get("new_state")
        if entity_id == controls.slider_entity:
            self._slider_moved(controls, old, new)
            return
        button = controls.buttons.get(entity_id)
        # A press changes the state (the press time); creation, restore and renames do not count.
        if button is None or not old or not new or new.get("state") == old.get("state"):
            return
        if new.get("state") in ("unknown", "unavailable"):
            return
        _LOGGER.info("[%s] %s pressed in Home Assistant", controls.charger_id, entity_id)
        self._spawn(run(self._controller, button.command, controls.charger_id), f"home assistant {button.key}")

    def _slider_moved(
        self, controls: _ChargerControls, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
    ) -> None:
        value = slider_value(new)
        controls.slider_known = value
        if value is None or not old:
            return
        now = self._clock()
        controls.echoes = [(v, until) for v, until in controls.echoes if until > now]
        echo = next((item for item in controls.echoes if item[0] == value), None)
        if echo is not None:
            controls.echoes.remove(echo)
            return
        charger = self._hub.chargers[controls.charger_id]
        if value == charger.desired.target_a:
            return
        _LOGGER.info("[%s] Current limit set to %g A in Home Assistant", controls.charger_id, value)
        self._spawn(
            run(self._controller, Command.SET_CURRENT_LIMIT, controls.charger_id, value), "home assistant current limit"
        )

    # --- controller -> Home Assistant (the slider follows the desired limit) ------------------------

    def _on_hub_changed(self, charger_id: str, save: Save) -> None:
        controls = self._controls.get(charger_id)
        if controls is not None and controls.slider_known != self._hub.chargers[charger_id].desired.target_a:
            self._sync_wanted.set()

    async def run(self) -> None:
        """Move sliders that differ from the desired state, until cancelled."""
        while True:
            await self._sync_wanted.wait()
            self._sync_wanted.clear()
            if not self._connection.connected.is_set():
                continue  # the connect hook runs setup(), which asks for a sync again
            for controls in self._controls.values():
                await self._sync_slider(controls)

    async def _sync_slider(self, controls: _ChargerControls) -> None:
        target = self._hub.chargers[controls.charger_id].desired.target_a
        if controls.slider_entity is None or controls.slider_known == target:
            return
        controls.echoes.append((target, self._clock() + ECHO_TTL_S))
        controls.slider_known = target
        try:
            await self._connection.command(
                {
                    "type": "call_service",
                    "domain": "input_number",
                    "service": "set_value",
                    "target": {"entity_id": controls.slider_entity},
                    "service_data": {"value": target},
                }
            )
        except HomeAssistantError as err:
            controls.slider_known = None  # unknown again: the next connect reads it back
            _LOGGER.debug("[%s] Moving the slider failed: %s", controls.charger_id, err)

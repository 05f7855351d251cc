"""Controls in Home Assistant without a broker: persistent input helpers that drive the controller.

The helpers come from :data:`~bmw_wallbox.homeassistant.model.controls.CONTROLS`:
the number becomes a slider ``input_number.<slug>_current_limit`` (0 .. max
current, step 1 A; 0 pauses, 1-5 A become 6 A), each button an
``input_button.<slug>_<name>`` (Start, Pause, Resume, Stop, Reboot); the REST
mode shows no switch (its Pause and Resume buttons do that job). They are
created through the helper collections of the Core WebSocket API, so they are
real, UI-editable entities that survive restarts; at every connect the add-on
finds its own helpers again (by id, else by name, also a former name: the
Reboot button of earlier versions is ``input_button.<slug>_reset``) and creates
only the missing ones. Their entity ids are looked up in the entity registry,
so a helper the user renamed keeps working.

A charger with several EVSEs gets the same helpers for each EVSE ("EVSE 2
current limit", "EVSE 2 start", ...: :func:`rest_controls`); they are created
when the charger first reports a second EVSE, without waiting for a reconnect.

A slider shows the desired state: the limit, or 0 while paused. When the
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

from bmw_wallbox.homeassistant.core.client import CoreRestClient, HomeAssistantConnectionError, HomeAssistantError
from bmw_wallbox.homeassistant.core.websocket import CoreConnection
from bmw_wallbox.homeassistant.model.controls import ControlDescription, charger_controls
from bmw_wallbox.homeassistant.model.events import EventFeed
from bmw_wallbox.homeassistant.model.evses import evse_ids
from bmw_wallbox.homeassistant.model.values import slugify
from bmw_wallbox.hub import StateHub
from bmw_wallbox.state import ChargerState, Save

_LOGGER = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, object], str], None]
#: How long a value we set on the slider is expected to come back as a state change.
ECHO_TTL_S = 10.0
#: The helper domain of each control platform the REST mode shows.
HELPER_DOMAINS = {"number": "input_number", "button": "input_button"}


def rest_controls(charger: ChargerState) -> tuple[ControlDescription, ...]:
    """The controls the REST mode shows for this charger now: its sliders and buttons (and each EVSE's)."""
    return tuple(c for c in charger_controls(charger) if c.platform in HELPER_DOMAINS)


def helper_id(control: ControlDescription, slug: str, name: str | None = None) -> str:
    """The helper's id (``<slug>_<slug of the name>``), with a former ``name`` if given."""
    return f"{slug}_{slugify(name or control.name)}"


def helper_config(charger: ChargerState, control: ControlDescription) -> dict[str, Any]:
    """The ``input_number/create`` or ``input_button/create`` fields of one control."""
    config: dict[str, Any] = {"name": f"{charger.name} {control.name}", "icon": control.icon}
    if control.range_fn is not None:
        low, high, step = control.range_fn(charger)
        config.update(
            {
                "min": int(low),
                "max": int(high),
                "step": int(step),
                "unit_of_measurement": control.unit,
                "mode": "slider",
            }
        )
    return config


def find_helper(
    items: list[dict[str, Any]], control: ControlDescription, charger: ChargerState, slug: str
) -> dict[str, Any] | None:
    """Our helper of ``control`` among a collection's items: by id, else by name, else by a former id or name."""
    for name in (control.name, *control.former_names):
        found = find_item(items, item_id=helper_id(control, slug, name), name=f"{charger.name} {name}")
        if found is not None:
            return found
    return None


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
class _Slider:
    control: ControlDescription
    known: float | None = None  # what Home Assistant shows, as far as we know
    echoes: list[tuple[float, float]] = field(default_factory=list)  # (value, expires at) we set ourselves


@dataclass(kw_only=True)
class _ChargerControls:
    charger_id: str
    sliders: dict[str, _Slider] = field(default_factory=dict)  # entity id -> slider
    buttons: dict[str, ControlDescription] = field(default_factory=dict)  # entity id -> button
    evses: tuple[int, ...] = ()  # the EVSEs whose helpers are set up


class HelperControls:
    """Creates and follows the helpers of every charger (see the module docstring)."""

    def __init__(
        self,
        hub: StateHub,
        feed: EventFeed,
        connection: CoreConnection,
        rest: CoreRestClient,
        *,
        slugs: Mapping[str, str],
        spawn: Spawn,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hub = hub
        self._feed = feed
        self._connection = connection
        self._rest = rest
        self._slugs = dict(slugs)
        self._spawn = spawn
        self._clock = clock
        self._controls = {cid: _ChargerControls(charger_id=cid) for cid in self._slugs}
        self._by_entity: dict[str, _ChargerControls] = {}
        self._sync_wanted = asyncio.Event()
        self._setup_wanted = False
        self._setup_lock = asyncio.Lock()
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
        async with self._setup_lock:
            await self._setup()

    async def _setup(self) -> None:
        self._setup_wanted = False
        items = {
            domain: await self._connection.command({"type": f"{domain}/list"}) for domain in HELPER_DOMAINS.values()
        }
        created = False
        plan: list[tuple[_ChargerControls, ControlDescription, str]] = []
        evses: dict[str, tuple[int, ...]] = {}
        for charger_id, slug in self._slugs.items():
            charger = self._hub.chargers[charger_id]
            evses[charger_id] = evse_ids(charger)
            for control in rest_controls(charger):
                item_id, new = await self._ensure(items[HELPER_DOMAINS[control.platform]], control, charger_id, slug)
                created |= new
                plan.append((self._controls[charger_id], control, item_id))
        registry = await self._registry()
        by_entity: dict[str, _ChargerControls] = {}
        sliders: dict[str, dict[str, _Slider]] = {cid: {} for cid in self._controls}
        for controls in self._controls.values():
            controls.buttons = {}
            controls.evses = evses[controls.charger_id]
        for controls, control, item_id in plan:
            domain = HELPER_DOMAINS[control.platform]
            entity = registry.get((domain, item_id), f"{domain}.{item_id}")
            by_entity[entity] = controls
            if control.platform == "number":
                known = slider_value(await self._rest.get_state(entity))
                sliders[controls.charger_id][entity] = _Slider(control=control, known=known)
            else:
                controls.buttons[entity] = control
        for controls in self._controls.values():
            controls.sliders = sliders[controls.charger_id]
        self._by_entity = by_entity
        if created:
            _LOGGER.info("Home Assistant controls ready: %s", ", ".join(sorted(by_entity)))
        self._sync_wanted.set()

    async def _ensure(
        self, items: list[dict[str, Any]], control: ControlDescription, charger_id: str, slug: str
    ) -> tuple[str, bool]:
        """The id of our helper of ``control`` (found, its slider range corrected, or created) and whether it is new."""
        domain = HELPER_DOMAINS[control.platform]
        charger = self._hub.chargers[charger_id]
        config = helper_config(charger, control)
        found = find_helper(items, control, charger, slug)
        if found is None:
            created = await self._connection.command({"type": f"{domain}/create", **config})
            _LOGGER.info("Created the Home Assistant helper %s.%s", domain, created["id"])
            return str(created["id"]), True
        # An update replaces the whole item: keep what the user may have changed (name, icon, mode).
        update = {key: value for key, value in found.items() if key != "id"}
        if found.get("name") in {f"{charger.name} {name}" for name in control.former_names}:
            update["name"] = config["name"]  # our former default name: the control is called so now
        if "min" in config:
            update.update({"min": config["min"], "max": config["max"], "step": config["step"]})
        if update != {key: value for key, value in found.items() if key != "id"}:
            await self._connection.command({"type": f"{domain}/update", f"{domain}_id": found["id"], **update})
            _LOGGER.info("Updated the Home Assistant helper %s.%s (name or range)", domain, found["id"])
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
        if (slider := controls.sliders.get(entity_id)) is not None:
            self._slider_moved(controls, slider, old, new)
            return
        button = controls.buttons.get(entity_id)
        # A press changes the state (the press time); creation, restore and renames do not count.
        if button is None or not old or not new or new.get("state") == old.get("state"):
            return
        if new.get("state") in ("unknown", "unavailable"):
            return
        _LOGGER.info("[%s] %s pressed in Home Assistant", controls.charger_id, entity_id)
        command, amps = button.request(self._hub.chargers[controls.charger_id])
        self._spawn(
            self._feed.run(command, controls.charger_id, amps, evse_id=button.evse_id), f"home assistant {button.key}"
        )

    def _slider_moved(
        self, controls: _ChargerControls, slider: _Slider, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
    ) -> None:
        value = slider_value(new)
        slider.known = value
        if value is None or not old:
            return
        now = self._clock()
        slider.echoes = [(v, until) for v, until in slider.echoes if until > now]
        echo = next((item for item in slider.echoes if item[0] == value), None)
        if echo is not None:
            slider.echoes.remove(echo)
            return
        charger, control = self._hub.chargers[controls.charger_id], slider.control
        if control.value_fn is None or value == control.value_fn(charger):
            return
        _LOGGER.info("[%s] %s set to %g A in Home Assistant", controls.charger_id, control.name, value)
        command, amps = control.request(charger, value)
        self._spawn(
            self._feed.run(command, controls.charger_id, amps, evse_id=control.evse_id),
            f"home assistant {control.key}",
        )

    # --- controller -> Home Assistant (the sliders follow the desired limit) -------------------------

    def _on_hub_changed(self, charger_id: str, save: Save) -> None:
        controls = self._controls.get(charger_id)
        if controls is None:
            return
        charger = self._hub.chargers[charger_id]
        if evse_ids(charger) != controls.evses:
            self._setup_wanted = True
            self._sync_wanted.set()
        elif any(s.control.value_fn and s.known != s.control.value_fn(charger) for s in controls.sliders.values()):
            self._sync_wanted.set()

    async def run(self) -> None:
        """Create the helpers of newly reported EVSEs and move sliders that differ from the desired state."""
        while True:
            await self._sync_wanted.wait()
            self._sync_wanted.clear()
            if not self._connection.connected.is_set():
                continue  # the connect hook runs setup(), which asks for a sync again
            if self._setup_wanted:
                try:
                    await self.setup()
                except HomeAssistantError as err:
                    _LOGGER.warning("Setting up the Home Assistant controls of new EVSEs failed: %s", err)
            for controls in self._controls.values():
                for entity, slider in list(controls.sliders.items()):
                    await self._sync_slider(controls, entity, slider)

    async def _sync_slider(self, controls: _ChargerControls, entity: str, slider: _Slider) -> None:
        if slider.control.value_fn is None:
            return
        target = slider.control.value_fn(self._hub.chargers[controls.charger_id])
        if not isinstance(target, float | int) or slider.known == target:
            return
        slider.echoes.append((float(target), self._clock() + ECHO_TTL_S))
        slider.known = float(target)
        try:
            await self._connection.command(
                {
                    "type": "call_service",
                    "domain": "input_number",
                    "service": "set_value",
                    "target": {"entity_id": entity},
                    "service_data": {"value": target},
                }
            )
        except HomeAssistantError as err:
            slider.known = None  # unknown again: the next connect reads it back
            _LOGGER.debug("[%s] Moving the slider %s failed: %s", controls.charger_id, entity, err)

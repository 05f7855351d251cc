"""Home Assistant: entities through the Core REST API, controls and events through its WebSocket API."""

from bmw_wallbox.homeassistant.bridge import HomeAssistantBridge
from bmw_wallbox.homeassistant.entities import ENTITIES, EntityDescription, EntityState
from bmw_wallbox.homeassistant.rest import (
    HomeAssistantAuthError,
    HomeAssistantConnectionError,
    HomeAssistantError,
    HomeAssistantRequestError,
)

__all__ = [
    "ENTITIES",
    "EntityDescription",
    "EntityState",
    "HomeAssistantAuthError",
    "HomeAssistantBridge",
    "HomeAssistantConnectionError",
    "HomeAssistantError",
    "HomeAssistantRequestError",
]

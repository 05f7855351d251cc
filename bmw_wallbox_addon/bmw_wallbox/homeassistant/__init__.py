"""Home Assistant output: what each charger shows and lets people do in Home Assistant, over one transport.

- :mod:`~bmw_wallbox.homeassistant.model`: the shared model, written once:
  sensors, controls and events as data, the one value formatter and naming
  rule, the one event feed and the one publish loop;
- :mod:`~bmw_wallbox.homeassistant.rest`: the REST transport (states posted
  through the Core REST API, input helpers as controls);
- :mod:`~bmw_wallbox.homeassistant.mqtt`: the MQTT transport (a device per
  charger through MQTT discovery, evcc's topics), imported only when a broker is used;
- :mod:`~bmw_wallbox.homeassistant.core`: Core's REST and WebSocket APIs, its
  event bus (``bmw_wallbox_*`` events, in both modes) and registries.

The composition root uses one thing: :class:`HomeAssistantOutput` (its
``start`` picks the transport and starts it; its ``facts`` tell the panel).
"""

from bmw_wallbox.homeassistant.output import HomeAssistantOutput

__all__ = ["HomeAssistantOutput"]

"""Home Assistant Core's own APIs: the REST client, the WebSocket connection, the event bus and the registries.

Used in both modes: the REST mode posts its states and keeps its helpers
through them; both modes fire and receive the ``bmw_wallbox_*`` events here.
"""

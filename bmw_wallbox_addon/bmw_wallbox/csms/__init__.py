"""The OCPP 2.0.1 central system: server, per-connection sessions and handlers."""

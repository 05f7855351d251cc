"""OCPP 2.0.1 central system for a home wallbox, run as a Home Assistant add-on."""

__version__ = "0.3.1"

"""The add-on's exception tree: every failure a caller may want to tell apart."""

from __future__ import annotations


class WallboxError(Exception):
    """Base class of every error this add-on raises on purpose."""


class StartupError(WallboxError):
    """The add-on cannot start (bad options, missing certificate, port in use)."""


class ChargerNotConnectedError(WallboxError):
    """The charger is not connected, so nothing can be sent to it."""


class ChargerTimeoutError(WallboxError):
    """The charger did not answer within its message timeout."""


class ChargerCallError(WallboxError):
    """The charger answered a request with a CALLERROR."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description

"""What the maintenance service needs of a connected charger (:class:`bmw_wallbox.csms.port.ConnectionPort` has it).

The calls raise :class:`~bmw_wallbox.errors.ChargerTimeoutError`,
:class:`~bmw_wallbox.errors.ChargerCallError` and
:class:`~bmw_wallbox.errors.ChargerNotConnectedError` as every charger call does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, kw_only=True)
class TransferAnswer:
    """A charger's answer to GetLog or UpdateFirmware: its status and, for GetLog, the file name it will send."""

    status: str
    filename: str | None = None


class MaintenancePort(Protocol):
    """GetLog and UpdateFirmware on one connected charger, and the host name it reaches the add-on by."""

    @property
    def host(self) -> str | None:
        """The host name (or address) the charger connected to, from its Host header; None if it sent none."""

    async def get_log(
        self, *, log_type: str, request_id: int, url: str, oldest: datetime | None, latest: datetime | None
    ) -> TransferAnswer:
        """GetLog: upload a log of ``log_type`` to ``url``."""

    async def update_firmware(
        self, *, request_id: int, url: str, retrieve_at: datetime, install_at: datetime | None
    ) -> TransferAnswer:
        """UpdateFirmware: fetch the firmware at ``url`` from ``retrieve_at``, install it at ``install_at``."""

"""A charger's firmware update as Home Assistant's ``update`` entity shows it (MQTT discovery only).

The output gets :class:`FirmwareActions` from the composition root: ``latest``
names the newest uploaded firmware file, ``install`` asks a charger to install
one (UpdateFirmware); the output imports nothing of the maintenance service.
:func:`update_state` decides the entity's state without I/O: the installed
version is the firmware of the last BootNotification, the latest version the
newest uploaded file's name (the installed version while there is none, or once
that file's update was installed), in progress while an update is under way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bmw_wallbox.state import ChargerState

#: The key of the update entity (MQTT topics and unique id); its entity id is ``update.<slug>_firmware_update``.
UPDATE_KEY = "firmware_update"
UPDATE_NAME = "Firmware update"
#: What Home Assistant's install sends on the command topic.
INSTALL = "install"


@dataclass(frozen=True, kw_only=True)
class FirmwareActions:
    """The newest uploaded firmware file's name (None without one), and an install of a named file on a charger.

    ``install(charger_id, name)`` returns what to log: the status the charger
    answered, or why nothing was sent.
    """

    latest: Callable[[], str | None]
    install: Callable[[str, str], Awaitable[str]]


def update_state(charger: ChargerState, latest: str | None) -> dict[str, Any]:
    """The update entity's JSON state (see the module docstring); a version not known is left out."""
    installed = charger.boot.firmware
    update = charger.upkeep.firmware_update
    if latest is None or (update is not None and update.name == latest and update.status == "Installed"):
        latest = installed
    state: dict[str, Any] = {"in_progress": update is not None and not update.done}
    if installed is not None:
        state["installed_version"] = installed
    if latest is not None:
        state["latest_version"] = latest
    if update is not None:
        state["release_summary"] = f"{update.name}: {update.status}"[:255]
    return state

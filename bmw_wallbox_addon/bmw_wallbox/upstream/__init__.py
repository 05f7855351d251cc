"""Forwarding a charger to an upstream OCPP 2.0.1 backend while the add-on stays in control.

:mod:`.rules` decides (no I/O), :mod:`.outbox` keeps the queue on disk,
:mod:`.station` is the library charge point towards the upstream,
:mod:`.requests` answers the upstream's requests, :mod:`.link` runs one
charger's link and :mod:`.service` all of them.
"""

from bmw_wallbox.upstream.service import Upstreams

__all__ = ["Upstreams"]

"""Every forwarded charger's upstream link: built from the options, started and stopped with the add-on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

from bmw_wallbox.hub import StateHub
from bmw_wallbox.options import Options
from bmw_wallbox.records import Save
from bmw_wallbox.trace import Trace
from bmw_wallbox.upstream.link import FIRST_BACKOFF_S, UpstreamLink
from bmw_wallbox.upstream.outbox import outbox_path
from bmw_wallbox.upstream.requests import ChargerLink


class Upstreams:
    """The upstream links of the chargers that have ``upstream_url`` (none: this does nothing)."""

    def __init__(
        self,
        options: Options,
        *,
        hub: StateHub,
        trace: Trace,
        data_dir: Path,
        ssl_dir: Path,
        charger: Callable[[str], ChargerLink | None],
        first_backoff_s: float = FIRST_BACKOFF_S,
    ) -> None:
        self._hub = hub
        #: Problems with the queue files, for the setup page.
        self.problems: list[str] = []
        self.links: dict[str, UpstreamLink] = {
            c.id: UpstreamLink(
                c,
                state=hub.chargers[c.id],
                hub=hub,
                trace=trace,
                outbox_path=outbox_path(data_dir, c.id),
                problems=self.problems,
                charger=lambda cid=c.id: charger(cid),  # type: ignore[misc]
                ssl_dir=ssl_dir,
                first_backoff_s=first_backoff_s,
            )
            for c in options.chargers
            if c.upstream_url is not None
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None

    def tap(self, charger_id: str) -> UpstreamLink | None:
        """The link that gets copies of what this charger sends, if it is forwarded."""
        return self.links.get(charger_id)

    def start(self) -> None:
        """Load each queue and start connecting."""
        for link in self.links.values():
            link.outbox.load()
            self._tasks.append(asyncio.create_task(link.run(), name=f"upstream of {link.charger_id}"))
        if self.links:
            self._unsubscribe = self._hub.subscribe(self._changed)

    def _changed(self, charger_id: str, save: Save) -> None:
        link = self.links.get(charger_id)
        if link is not None:
            link.charger_changed()
            link.gate.local_limit_changed()

    async def stop(self) -> None:
        """Close every link (the queues are on disk already)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for link in self.links.values():
            await link.close()
            await link.outbox.flush()

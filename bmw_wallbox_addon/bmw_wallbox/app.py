"""The composition root: builds every object, owns their lifecycle."""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiohttp
from aiohttp import web

from bmw_wallbox import __version__
from bmw_wallbox.aio import cancel_and_wait, supervise
from bmw_wallbox.controller import COMMAND_DEADLINE_S, Controller, runner
from bmw_wallbox.csms.handlers import ChargerConnection
from bmw_wallbox.csms.port import ConnectionPort
from bmw_wallbox.csms.provision import provision
from bmw_wallbox.csms.server import CsmsServer, tls_context
from bmw_wallbox.errors import StartupError
from bmw_wallbox.homeassistant import HomeAssistantOutput
from bmw_wallbox.homeassistant.model.firmware import FirmwareActions
from bmw_wallbox.hub import StateHub
from bmw_wallbox.logbuffer import LogBuffer
from bmw_wallbox.logsafe import LogSafety
from bmw_wallbox.maintenance.service import Maintenance
from bmw_wallbox.options import Options
from bmw_wallbox.ports import IdToken
from bmw_wallbox.records import UpstreamStatus
from bmw_wallbox.site.service import SiteBudget
from bmw_wallbox.startup_checks import report_at_start
from bmw_wallbox.state import ChargerState, Save, utcnow
from bmw_wallbox.store import Store
from bmw_wallbox.supervisor import SupervisorError, addon_info
from bmw_wallbox.tokenbook import Presented
from bmw_wallbox.tokens import LocalListSync, TokenService, TokenStore
from bmw_wallbox.trace import Trace
from bmw_wallbox.upstream import Upstreams
from bmw_wallbox.web.api import create_app
from bmw_wallbox.web.bundle import BundleSources, credential_values, install_bundle
from bmw_wallbox.web.checklist import SetupFacts
from bmw_wallbox.web.maintenance_api import install_maintenance_api
from bmw_wallbox.web.panel import Panel
from bmw_wallbox.web.site_api import install_site_api
from bmw_wallbox.web.token_api import install_token_api

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Where and how to run; the command-line flags (with container defaults) plus the options."""

    options: Options
    data_dir: Path = Path("/data")
    ssl_dir: Path = Path("/ssl")
    host: str | None = None
    ocpp_port: int = 9000
    transfer_port: int = 9001
    """Where chargers upload logs and download firmware (one-time URLs, :mod:`bmw_wallbox.maintenance`)."""
    panel_port: int = 8099
    ha_url: str = "http://supervisor/core"
    ha_token: str | None = None
    supervisor_url: str = "http://supervisor"
    container: bool = False
    min_apply_interval_s: float = 2.0
    command_deadline_s: float = COMMAND_DEADLINE_S
    mqtt_url: str | None = None
    """``--mqtt-url``: a broker that overrides option ``mqtt.server`` and the Supervisor's service."""
    mqtt_probe_timeout_s: float = 10.0
    """How long the first connection to the broker may take at start before the REST API is used instead."""
    mqtt_ready_timeout_s: float = 15.0
    """How long the first discovery waits for the REST mode's states to be removed (Home Assistant unreachable)."""
    upstream_backoff_s: float = 1.0
    """Seconds before the first reconnect to an upstream backend (doubling up to 2 minutes)."""


def _url_password(url: str | None) -> str:
    """The password in a broker URL (kept out of every log), or ""."""
    if not url:
        return ""
    try:
        return unquote(urlsplit(url.strip()).password or "")
    except ValueError:
        return ""


class Application:
    """The running add-on: OCPP server, store and JSON API."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        options = settings.options
        self.hub = StateHub(
            ChargerState(
                charger_id=c.id,
                name=c.display_name,
                max_current_a=c.max_current,
                upstream=UpstreamStatus() if c.upstream_url else None,
            )
            for c in options.chargers
        )
        self.store = Store(settings.data_dir, self.hub)
        self.store.attach()
        passwords = [p for c in options.chargers for p in (c.password, c.upstream_password) if p]
        self._secrets = [
            *passwords,
            options.id_token or "",
            settings.ha_token or "",
            options.mqtt.password or "",
            _url_password(settings.mqtt_url),
        ]
        self.trace = Trace(secrets=self._secrets)
        self.logs = LogBuffer(secrets=self._secrets)
        self._log_safety = LogSafety(self._secrets)
        self.token_store = TokenStore(settings.data_dir, self.hub.tokens)
        self.panel = Panel(hub=self.hub, trace=self.trace, logs=self.logs, setup=self.setup_facts)
        self.upstreams = Upstreams(
            options,
            hub=self.hub,
            trace=self.trace,
            data_dir=settings.data_dir,
            ssl_dir=settings.ssl_dir,
            charger=lambda charger_id: self.csms.connections.get(charger_id),
            first_backoff_s=settings.upstream_backoff_s,
        )
        self.csms = CsmsServer(
            options=options,
            hub=self.hub,
            trace=self.trace,
            run_connection=self._run_connection,
            on_unknown=self._on_unknown,
            upstream=self.upstreams.tap,
        )
        self.controller = Controller(
            self.hub,
            ports=self.csms.port,
            id_token=IdToken(value=options.id_token, kind="Central") if options.id_token else None,
            reset_recovery=options.reset_recovery,
            min_interval_s=settings.min_apply_interval_s,
            command_deadline_s=settings.command_deadline_s,
        )
        self.site = SiteBudget(
            options.site,
            self.hub,
            enforce=lambda cid, lower: self.controller.limit_moved(cid, lower=lower),
            settle_s=options.meter_interval + 5.0,  # a raise is seen in the charger's next reading
        )
        #: The site budget's loop and its meter feed.
        self._tasks: list[asyncio.Task[None]] = []
        remote = self.controller.id_token
        self.hub.tokens.remote_start_default = Presented(value=remote.value, kind=remote.kind)
        self.local_lists = LocalListSync(self.hub, ports=self.csms.port)
        self.tokens = TokenService(
            self.hub, sync=self.local_lists, ports=self.csms.port, commands=runner(self.controller)
        )
        self.maintenance = Maintenance(self.hub, data_dir=settings.data_dir, ports=self.csms.port)
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.home_assistant: HomeAssistantOutput | None = None
        self._addon_slug: str | None = None
        self.ocpp_port: int | None = None
        self.panel_port: int | None = None
        self._stopped = False
        self._host_port: int | None = None
        self._host_port_known = False
        self._data_dir_problem: str | None = None

    async def _run_connection(self, link: ChargerConnection) -> None:
        await provision(
            link,
            meter_interval_s=self.settings.options.meter_interval,
            on_connected=self._on_connected,
            on_provisioned=self._on_provisioned,
        )

    async def _on_connected(self, link: ChargerConnection) -> None:
        await self.controller.on_connected(ConnectionPort(link))

    async def _on_provisioned(self, link: ChargerConnection) -> None:
        await self.local_lists.on_connected(ConnectionPort(link))

    def _on_tokens(self, save: Save) -> None:
        """The idTokens of the list and of cards presented lately are secrets too: mask them everywhere."""
        secrets = [*self._secrets, *self.hub.tokens.secret_values()]
        for holder in (self.trace, self.logs, self._log_safety):
            holder.set_secrets(secrets)

    def _on_unknown(self) -> None:
        """The OCPP server noted unknown charger ids: commit them (the store and the panel listen)."""
        self.hub.unknown_ids.commit(Save.NOW)

    async def _ask_host_port(self, http: aiohttp.ClientSession, token: str) -> None:
        """Learn from the Supervisor which host port is mapped to the OCPP port (for the setup URL), and our slug."""
        try:
            info = await addon_info(http, token=token, base_url=self.settings.supervisor_url)
        except SupervisorError as err:
            _LOGGER.warning(
                "Cannot read the OCPP host port from the Supervisor (%s); the panel shows port %s", err, self.ocpp_port
            )
            return
        self._host_port, self._addon_slug = info.host_port, info.slug
        self._host_port_known = True
        if self._host_port is None:
            _LOGGER.warning("The OCPP port 9000/tcp is disabled under Network: the wallbox cannot reach the app")
        else:
            _LOGGER.info("The wallbox reaches the OCPP server on host port %s", self._host_port)

    def setup_facts(self) -> SetupFacts:
        """What the panel's setup checklist needs: options, ports and the host port the Supervisor reported."""
        options = self.settings.options
        output = self.home_assistant.facts() if self.home_assistant is not None else None
        return SetupFacts(
            ssl=options.ssl,
            ssl_dir=self.settings.ssl_dir,
            certfile=options.certfile,
            keyfile=options.keyfile,
            ocpp_port=self.ocpp_port or self.settings.ocpp_port,
            chargers=tuple((c.id, c.display_name, c.password is not None) for c in options.chargers),
            host_port_known=self._host_port_known,
            host_port=self._host_port,
            state_problems=(*self.store.problems, *self.token_store.problems, *self.upstreams.problems),
            data_dir_problem=self._data_dir_problem,
            entities_via=output.mode if output else "none",
            mqtt_broker=output.broker if output else None,
            mqtt_state=output.broker_state if output else None,
            mqtt_integration=output.integration if output else None,
            mqtt_note=output.note if output else None,
            entity_ids=output.entity_ids if output else (),
        )

    def _bundle_sources(self) -> BundleSources:
        """What the support bundle collects, and the secret values it masks (those of now, at each download)."""
        settings = self.settings
        options = settings.options.model_dump(mode="json")
        passwords = [*credential_values(options), settings.ha_token or "", _url_password(settings.mqtt_url)]
        return BundleSources(
            version=__version__,
            options=lambda: options,
            data_dir=settings.data_dir,
            hub=self.hub,
            trace=self.trace,
            logs=self.logs,
            setup=self.panel.setup_report,
            passwords=lambda: [*passwords, *self.maintenance.links.tokens()],
            token_ids=lambda: [settings.options.id_token or "", *self.hub.tokens.secret_values()],
        )

    def _configuration_url(self) -> str | None:
        """The device's link in Home Assistant: the panel (through ingress in the container)."""
        if self.settings.container:
            return f"homeassistant://hassio/ingress/{self._addon_slug}" if self._addon_slug else None
        return f"http://{self.settings.host or '127.0.0.1'}:{self.panel_port}/"

    def _tls(self) -> ssl.SSLContext | None:
        options = self.settings.options
        if not options.ssl:
            _LOGGER.warning("Option ssl is off: chargers connect over plain ws:// without encryption")
            return None
        return tls_context(self.settings.ssl_dir, options.certfile, options.keyfile)

    async def start(self) -> None:
        """Load state and open both ports; raises :class:`StartupError` with a clear message."""
        tls = self._tls()
        self.logs.attach()
        self._log_safety.install()
        try:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StartupError(f"Data dir {self.settings.data_dir} cannot be created: {err.strerror}") from None
        cert_path = self.settings.ssl_dir / self.settings.options.certfile if tls else None
        self._data_dir_problem = report_at_start(cert_path=cert_path, data_dir=self.settings.data_dir, now=utcnow())
        self.store.load()
        self.token_store.load()
        self.hub.tokens.subscribe(self._on_tokens)
        self._on_tokens(Save.NO)
        self.token_store.attach()
        self.controller.attach()
        self.site.attach()
        self._tasks.append(asyncio.create_task(supervise("site budget", self.site.run, logger=_LOGGER)))
        self.local_lists.attach()
        app = create_app(hub=self.hub, trace=self.trace, controller=self.controller, container=self.settings.container)
        install_token_api(app, self.tokens)
        install_site_api(app, self.site)
        install_bundle(app, self._bundle_sources())
        self.maintenance.load()
        self.maintenance.attach()
        install_maintenance_api(app, self.maintenance)
        self.panel.install(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.panel_port)
        try:
            await site.start()
        except OSError as err:
            raise StartupError(f"Panel port {self.settings.panel_port} cannot be opened: {err.strerror}") from None
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.panel_port = int(sockets[0].getsockname()[1]) if sockets else self.settings.panel_port
        self.upstreams.start()
        self.ocpp_port = await self.csms.start(self.settings.host, self.settings.ocpp_port, tls=tls)
        try:
            await self.maintenance.transfer.start(self.settings.host, self.settings.transfer_port, tls=tls)
        except OSError as err:
            raise StartupError(
                f"Transfer port {self.settings.transfer_port} cannot be opened: {err.strerror}"
            ) from None
        if self.settings.ha_token:
            self._http = aiohttp.ClientSession()
            if self.settings.container:
                await self._ask_host_port(self._http, self.settings.ha_token)
        settings = self.settings
        self.home_assistant = await HomeAssistantOutput.start(
            self.hub,
            self.controller,
            http=self._http,
            options=settings.options,
            ha_url=settings.ha_url,
            ha_token=settings.ha_token,
            mqtt_url=settings.mqtt_url,
            supervisor_url=settings.supervisor_url if settings.container else None,
            probe_timeout_s=settings.mqtt_probe_timeout_s,
            ready_timeout_s=settings.mqtt_ready_timeout_s,
            configuration_url=self._configuration_url(),
            follow=(self.site.entities, self.site.observe) if self.site.entities else None,
            site=self.site if self.site.rules is not None else None,
            firmware=FirmwareActions(latest=self.maintenance.firmware.newest, install=self._install_firmware),
        )
        _LOGGER.info("Ready: %d charger(s) configured, JSON API on port %s", len(self.hub.chargers), self.panel_port)

    async def _install_firmware(self, charger_id: str, name: str) -> str:
        """Home Assistant's install of a firmware update: UpdateFirmware through the maintenance service."""
        reply = await self.maintenance.update_firmware(charger_id, {"name": name})
        return str(reply.body.get("status") or reply.body.get("detail") or reply.status)

    async def stop(self) -> None:
        """Close connections, save state, stop serving (a second call does nothing)."""
        if self._stopped:
            return
        self._stopped = True
        await self.csms.stop()
        await self.upstreams.stop()
        await self.maintenance.transfer.stop()
        if self.home_assistant is not None:
            await self.home_assistant.stop()
        if self._http is not None:
            await self._http.close()
        await self.tokens.close()
        await cancel_and_wait(*self._tasks)
        self.site.detach()
        await self.controller.close()
        await self.local_lists.close()
        self.token_store.detach()
        self.store.flush()
        self.store.detach()
        for charger_id in self.hub.chargers:
            self.store.save_now(charger_id)
        if self._runner is not None:
            await self._runner.cleanup()
        self.logs.detach()
        self._log_safety.uninstall()

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Start, wait for ``stop``, then shut down cleanly."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

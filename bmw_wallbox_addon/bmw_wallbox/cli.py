"""Command line: ``bmw-wallbox`` / ``python -m bmw_wallbox``.

The flags default to the container's paths and ports, so the same program
runs in the add-on, on a laptop and in tests. Flags override options.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bmw_wallbox import __version__
from bmw_wallbox.app import Application, Settings
from bmw_wallbox.errors import StartupError
from bmw_wallbox.options import LOG_LEVELS, Options, OptionsError, load_options
from bmw_wallbox.simulator.personality import PRESETS, preset

_LOGGER = logging.getLogger("bmw_wallbox")


def _personality(name: str) -> str:
    """A ``--demo-personality`` value: a preset name or presets joined with ``+`` (checked here, used by name)."""
    try:
        preset(name)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return name


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with container defaults."""
    parser = argparse.ArgumentParser(prog="bmw-wallbox", description="OCPP 2.0.1 central system for a home wallbox")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--options", type=Path, default=Path("/data/options.json"), help="add-on options file (default: %(default)s)"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="persistent state (default: /data; demo: ./demo-data)"
    )
    parser.add_argument(
        "--ssl-dir", type=Path, default=Path("/ssl"), help="folder of certfile and keyfile (default: %(default)s)"
    )
    parser.add_argument("--ocpp-port", type=int, default=9000, help="OCPP WebSocket port (default: %(default)s)")
    parser.add_argument(
        "--transfer-port", type=int, default=9001, help="port of charger log uploads and firmware downloads"
    )
    parser.add_argument("--panel-port", type=int, default=8099, help="panel and JSON API port (default: %(default)s)")
    parser.add_argument("--host", default=None, help="address to listen on (default: all; demo: 127.0.0.1)")
    parser.add_argument(
        "--ha-url", default="http://supervisor/core", help="Home Assistant base URL (default: %(default)s)"
    )
    parser.add_argument(
        "--ha-token",
        default=os.environ.get("SUPERVISOR_TOKEN"),
        help="Home Assistant token (default: $SUPERVISOR_TOKEN)",
    )
    parser.add_argument(
        "--mqtt-url",
        default=os.environ.get("BMW_WALLBOX_MQTT_URL"),
        help="MQTT broker mqtt(s)://[user:password@]host[:port]; overrides option mqtt.server and the Supervisor's "
        "broker (default: $BMW_WALLBOX_MQTT_URL)",
    )
    parser.add_argument("--ssl", action=argparse.BooleanOptionalAction, default=None, help="override option ssl")
    parser.add_argument("--log-level", choices=sorted(LOG_LEVELS), default=None, help="override option log_level")
    parser.add_argument("--demo", action="store_true", help="run with a built-in simulated wallbox that charges a car")
    parser.add_argument(
        "--demo-personality",
        type=_personality,
        default="delta",
        help=f"how the demo's simulated charger behaves: {', '.join(PRESETS)}, or several joined with +"
        " (e.g. delta+dual-evse; default: %(default)s)",
    )
    return parser


def make_settings(args: argparse.Namespace) -> Settings:
    """Combine flags and options into settings; raises :class:`OptionsError` for bad options."""
    options = load_options(args.options, missing_ok=args.demo)
    overrides: dict[str, object] = {}
    if args.demo:
        from bmw_wallbox.demo import demo_overrides

        overrides.update(demo_overrides(options))
    if args.ssl is not None:
        overrides["ssl"] = args.ssl
    if args.log_level is not None:
        overrides["log_level"] = args.log_level
    if overrides:
        options = Options.model_validate({**options.model_dump(), **overrides})
    data_dir = args.data_dir or (Path("demo-data") if args.demo else Path("/data"))
    return Settings(
        options=options,
        data_dir=data_dir,
        ssl_dir=args.ssl_dir,
        host=args.host or ("127.0.0.1" if args.demo else None),
        ocpp_port=args.ocpp_port,
        transfer_port=args.transfer_port,
        panel_port=args.panel_port,
        ha_url=args.ha_url,
        ha_token=args.ha_token,
        mqtt_url=args.mqtt_url,
        container=bool(os.environ.get("SUPERVISOR_TOKEN")) and not args.demo,
    )


def configure_logging(level_name: str) -> None:
    """Log to stderr (the add-on log) at the option's level."""
    logging.basicConfig(
        level=LOG_LEVELS[level_name],
        format="%(asctime)s %(levelname)s (%(name)s) %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    # Our own lines say when chargers connect; the libraries' per-frame lines only at "trace".
    library_level = logging.DEBUG if level_name == "trace" else logging.WARNING
    for name in ("websockets", "ocpp", "aiohttp.access"):
        logging.getLogger(name).setLevel(library_level)


async def run(settings: Settings, *, demo: bool, demo_personality: str = "delta") -> None:
    """Run until SIGINT/SIGTERM; ``demo`` adds a simulated charger with that personality (a preset name)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    app = Application(settings)
    if demo:
        from bmw_wallbox.demo import run_demo

        await run_demo(app, stop, personality=preset(demo_personality))
    else:
        await app.run_forever(stop)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (1 with one clear message on a start-up error)."""
    args = build_parser().parse_args(argv)
    try:
        settings = make_settings(args)
    except OptionsError as err:
        configure_logging("info")
        _LOGGER.error("%s", err)
        return 1
    configure_logging(settings.options.log_level)
    try:
        asyncio.run(run(settings, demo=args.demo, demo_personality=args.demo_personality))
    except StartupError as err:
        _LOGGER.error("Cannot start: %s", err)
        return 1
    return 0

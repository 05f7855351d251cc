"""Options and command line: bad values stop start-up with one message naming the option."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bmw_wallbox.cli import build_parser, make_settings
from bmw_wallbox.options import Options, OptionsError, load_options, parse_options


def test_defaults() -> None:
    """An empty options object gives the documented defaults."""
    options = parse_options({})
    assert (options.ssl, options.certfile, options.keyfile, options.meter_interval, options.log_level) == (
        True,
        "fullchain.pem",
        "privkey.pem",
        10,
        "info",
    )
    assert options.chargers == []
    assert options.reset_recovery is True
    assert options.id_token is None


def test_site_is_off_by_default_and_an_empty_fuse_keeps_it_off() -> None:
    """The shipped site block (and one with an empty main fuse from the form) leaves the budget off."""
    shipped = {"phase_current_entities": [], "safety_margin_a": 1, "failsafe_a": 6, "stale_after_s": 30}
    assert parse_options({"site": shipped}).site.enabled is False
    assert parse_options({"site": {"main_fuse_a": "", "grid_power_entity": ""}}).site.enabled is False
    site = parse_options({"site": {"main_fuse_a": 25, "phase_current_entities": ["sensor.l1", "sensor.l2"]}}).site
    assert (site.enabled, site.safety_margin_a, site.failsafe_a, site.stale_after_s, site.resume_after_s) == (
        True, 1, 6, 30, 60,
    )  # fmt: skip


def test_charger_defaults() -> None:
    """A charger needs only its id; name defaults to 'BMW Wallbox' and max_current to 32 A."""
    charger = parse_options({"chargers": [{"id": "DE*BMW*E1"}]}).chargers[0]
    assert (charger.display_name, charger.max_current, charger.password) == ("BMW Wallbox", 32, None)


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ({"meter_interval": 0}, ["meter_interval", "greater than or equal to 1"]),
        ({"meter_interval": "often"}, ["meter_interval", "'often'"]),
        ({"log_level": "loud"}, ["log_level", "'loud'", "'debug'"]),
        ({"ssl": "maybe"}, ["ssl"]),
        ({"chargers": [{"id": "A", "max_current": 100}]}, ["chargers.0.max_current", "less than or equal to 80"]),
        ({"chargers": [{"id": ""}]}, ["chargers.0.id"]),
        ({"chargers": [{"id": "a/b"}]}, ["chargers.0.id", "'/'"]),
        ({"chargers": [{"name": "x"}]}, ["chargers.0.id", "Field required"]),
        ({"chargers": [{"id": "A"}, {"id": "A"}]}, ["listed twice"]),
        ({"port": 9000}, ["port", "is not an option of this add-on"]),
        ({"site": {"main_fuse_a": 300}}, ["site.main_fuse_a", "less than or equal to 250"]),
        ({"site": {"main_fuse_a": 25}}, ["site: with main_fuse_a set", "phase_current_entities", "grid_power_entity"]),
        (
            {"site": {"main_fuse_a": 25, "grid_power_entity": "sensor.p", "phase_current_entities": ["sensor.l1"]}},
            ["not both"],
        ),
        ({"site": {"phase_current_entities": ["Sensor L1"]}}, ["site.phase_current_entities.0", "'Sensor L1'"]),
        ({"site": {"phase_current_entities": ["sensor.a", "sensor.b", "sensor.c", "sensor.d"]}}, ["at most 3"]),
        ({"site": {"failsafe_a": 3}}, ["site.failsafe_a", "0 (pause) or at least 6 A"]),
        ({"site": {"main_fuse_a": 8, "grid_power_entity": "sensor.p", "failsafe_a": 10}}, ["failsafe_a must not"]),
    ],
)
def test_bad_value_names_the_option(raw: dict[str, Any], names: list[str]) -> None:
    """Each bad value gives one message that names the option and what is allowed."""
    with pytest.raises(OptionsError) as info:
        parse_options(raw)
    message = str(info.value)
    assert message.startswith("Invalid add-on options:")
    for name in names:
        assert name in message


@pytest.mark.parametrize(
    "raw",
    [
        {"chargers": [{"id": "A", "password": "topsecret-pw" * 10}]},
        {"id_token": "topsecret-pw" * 10},
        {"chargers": [{"id": "A", "password": "topsecret-pw", "max_current": 5}]},
        {"chargers": [{"id": "A", "upstream_password": "topsecret-pw" * 10}]},
        {"chargers": [{"id": "A", "upstream_url": "wss://user:topsecret-pw@host/ocpp/A"}]},
    ],
)
def test_secret_never_in_error_message(raw: dict[str, Any]) -> None:
    """An error about a password or idToken names the option but never repeats its value."""
    with pytest.raises(OptionsError) as info:
        parse_options(raw)
    assert "topsecret-pw" not in str(info.value)


@pytest.mark.parametrize(
    ("content", "fragment"), [("{not json", "not valid JSON"), ("[1, 2]", "must be a JSON object")]
)
def test_unreadable_options_file(tmp_path: Path, content: str, fragment: str) -> None:
    """An options file that is not a JSON object is a clear error."""
    path = tmp_path / "options.json"
    path.write_text(content)
    with pytest.raises(OptionsError, match=fragment):
        load_options(path)


def test_missing_options_file_is_an_error_outside_demo(tmp_path: Path) -> None:
    """Without the options file the add-on does not start, and says which flag to use."""
    with pytest.raises(OptionsError, match="--options"):
        load_options(tmp_path / "absent.json")


def test_flags_override_options(tmp_path: Path) -> None:
    """--no-ssl and --log-level override the options file; the other flags set paths and ports."""
    path = tmp_path / "options.json"
    path.write_text(json.dumps({"ssl": True, "log_level": "info", "chargers": [{"id": "X"}]}))
    args = build_parser().parse_args(
        ["--options", str(path), "--no-ssl", "--log-level", "debug", "--ocpp-port", "9100", "--data-dir", str(tmp_path)]
    )
    settings = make_settings(args)
    assert settings.options.ssl is False
    assert settings.options.log_level == "debug"
    assert settings.ocpp_port == 9100
    assert settings.data_dir == tmp_path
    assert settings.options.chargers[0].id == "X"


def test_container_defaults() -> None:
    """Without flags the program uses the container's paths and ports."""
    args = build_parser().parse_args([])
    assert (args.options, args.ssl_dir, args.ocpp_port, args.panel_port, args.ha_url) == (
        Path("/data/options.json"),
        Path("/ssl"),
        9000,
        8099,
        "http://supervisor/core",
    )


def test_cli_exits_1_with_one_clear_line(tmp_path: Path) -> None:
    """`python -m bmw_wallbox` with a bad option exits 1 and logs one error line naming it, no traceback."""
    path = tmp_path / "options.json"
    path.write_text(json.dumps({"meter_interval": -5}))
    run = subprocess.run(
        [sys.executable, "-m", "bmw_wallbox", "--options", str(path), "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1
    assert "option meter_interval" in errors[0]
    assert "Traceback" not in run.stderr


def test_cli_missing_certificate_exits_1(tmp_path: Path) -> None:
    """With ssl on and no certificate in the ssl dir, the program exits 1 naming certfile."""
    path = tmp_path / "options.json"
    path.write_text(Options().model_dump_json())
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bmw_wallbox",
            "--options",
            str(path),
            "--data-dir",
            str(tmp_path),
            "--ssl-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert "option certfile" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("raw", "read"),
    [
        pytest.param({"chargers": [{"id": "A", "password": ""}]}, lambda o: o.chargers[0].password, id="password"),
        pytest.param({"id_token": ""}, lambda o: o.id_token, id="id_token"),
        pytest.param(
            {"chargers": [{"id": "A", "upstream_password": ""}]},
            lambda o: o.chargers[0].upstream_password,
            id="upstream_password",
        ),
    ],
)
def test_empty_secret_means_none(raw: dict[str, Any], read: Callable[[Options], str | None]) -> None:
    """An empty password or id_token is read as no value, as DOCS.md says, instead of stopping the add-on."""
    assert read(parse_options(raw)) is None


@pytest.mark.parametrize(
    ("charger", "name"),
    [
        ({"upstream_url": "http://backend.example/ocpp/A"}, "upstream_url"),
        ({"upstream_url": "wss://backend.example"}, "upstream_url"),
        ({"upstream_url": "wss://backend.example/"}, "upstream_url"),
        ({"upstream_mode": "both"}, "upstream_mode"),
        ({"upstream_authorization": "remote"}, "upstream_authorization"),
        ({"upstream_allow": ["Reset", "ChangeAvailability"]}, "upstream_allow"),
    ],
)
def test_bad_upstream_option_is_named(charger: dict[str, Any], name: str) -> None:
    """A bad upstream option stops the start with a message that names it."""
    with pytest.raises(OptionsError, match=name):
        parse_options({"chargers": [{"id": "A", **charger}]})


def test_upstream_defaults() -> None:
    """Without upstream options a charger is not forwarded; with a URL it mirrors and the token list decides."""
    plain, forwarded = parse_options(
        {"chargers": [{"id": "A"}, {"id": "B", "upstream_url": "wss://backend.example:8443/ocpp/v201/B*1"}]}
    ).chargers
    assert plain.upstream_url is None
    assert (forwarded.upstream_mode, forwarded.upstream_authorization, forwarded.upstream_allow) == (
        "mirror",
        "local",
        [],
    )

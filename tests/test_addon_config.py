"""The add-on packaging follows the Supervisor's rules and matches the Python package.

A ``config.yaml`` the Supervisor cannot read makes the add-on silently vanish
from the store, and an option that exists in one place only (schema, pydantic
model, translations, docs) confuses users. These tests read the files the way
the Supervisor and the community add-on linter do. The rules are transcribed
from ``supervisor/addons/validate.py`` and ``supervisor/addons/options.py``
(home-assistant/supervisor) and from frenck/action-addon-linter.
"""

from __future__ import annotations

import importlib
import os
import re
import stat
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ADDON = ROOT / "bmw_wallbox_addon"
CONFIG = ADDON / "config.yaml"
TRANSLATIONS = ADDON / "translations" / "en.yaml"
DOCS = ADDON / "DOCS.md"
CHANGELOG = ADDON / "CHANGELOG.md"
DOCKERFILE = ADDON / "Dockerfile"
S6 = ADDON / "rootfs" / "etc" / "s6-overlay" / "s6-rc.d"
SERVICE = S6 / "bmw-wallbox"

if str(ADDON) not in sys.path:  # an installed bmw_wallbox wins; else use the checkout
    sys.path.append(str(ADDON))
PACKAGE_VERSION: str = importlib.import_module("bmw_wallbox").__version__
_options_module = importlib.import_module("bmw_wallbox.options")
Options: Any = _options_module.Options
ChargerOptions: Any = _options_module.ChargerOptions
MqttOptions: Any = _options_module.MqttOptions
SiteOptions: Any = _options_module.SiteOptions
#: Top-level options whose schema is a nested block rather than one type.
NESTED = ("chargers", "mqtt", "site")

# supervisor/addons/options.py: RE_SCHEMA_ELEMENT (one option's type)
RE_SCHEMA_ELEMENT = re.compile(
    r"^(?:"
    r"|bool"
    r"|email"
    r"|url"
    r"|port"
    r"|device(?:\((?P<filter>subsystem=[a-z]+)\))?"
    r"|str(?:\((?P<s_min>\d+)?,(?P<s_max>\d+)?\))?"
    r"|password(?:\((?P<p_min>\d+)?,(?P<p_max>\d+)?\))?"
    r"|int(?:\((?P<i_min>-?\d+)?,(?P<i_max>-?\d+)?\))?"
    r"|float(?:\((?P<f_min>-?\d*\.?\d+)?,(?P<f_max>-?\d*\.?\d+)?\))?"
    r"|match\((?P<match>.*)\)"
    r"|list\((?P<list>.+)\)"
    r")\??$"
)
# supervisor/addons/const.py: RE_SLUG
RE_SLUG = re.compile(r"^[-_.A-Za-z0-9]+$")

REQUIRED_KEYS = ("name", "version", "slug", "description", "arch")

# Every key _SCHEMA_ADDON_CONFIG knows; anything else is dropped without a word.
KNOWN_KEYS = {
    "name", "version", "slug", "description", "arch", "machine", "url", "startup", "boot", "init",
    "advanced", "stage", "ports", "ports_description", "watchdog", "webui", "ingress", "ingress_port",
    "ingress_entry", "ingress_stream", "panel_icon", "panel_title", "panel_admin", "homeassistant",
    "host_network", "host_pid", "host_ipc", "host_uts", "host_dbus", "devices", "udev", "tmpfs", "map",
    "environment", "privileged", "apparmor", "full_access", "audio", "video", "gpio", "usb", "uart",
    "devicetree", "kernel_modules", "realtime", "hassio_api", "hassio_role", "homeassistant_api", "stdin",
    "legacy", "docker_api", "auth_api", "services", "discovery", "backup_exclude", "backup_pre",
    "backup_post", "restore_pre", "restore_post", "backup", "options", "schema", "image", "ulimits",
    "timeout", "journald", "breaking_versions",
}  # fmt: skip

# The Supervisor's defaults; the add-on linter rejects a key set to one of them.
SUPERVISOR_DEFAULTS: dict[str, Any] = {
    "startup": "application",
    "boot": "auto",
    "init": True,
    "advanced": False,
    "stage": "stable",
    "ingress": False,
    "ingress_port": 8099,
    "ingress_stream": False,
    "panel_icon": "mdi:puzzle",
    "panel_admin": True,
    "host_network": False,
    "host_pid": False,
    "host_ipc": False,
    "host_uts": False,
    "host_dbus": False,
    "udev": False,
    "tmpfs": False,
    "map": [],
    "apparmor": True,
    "full_access": False,
    "audio": False,
    "video": False,
    "gpio": False,
    "usb": False,
    "uart": False,
    "devicetree": False,
    "kernel_modules": False,
    "realtime": False,
    "hassio_api": False,
    "hassio_role": "default",
    "homeassistant_api": False,
    "stdin": False,
    "legacy": False,
    "docker_api": False,
    "auth_api": False,
    "backup": "hot",
    "options": {},
    "schema": {},
    "ulimits": {},
    "timeout": 10,
    "journald": False,
    "breaking_versions": [],
}

CONFIG_NAMES = {"config.yaml", "config.yml", "config.json"}
SKIPPED_DIRS = {".git", ".venv", "node_modules"}


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    data = _load(CONFIG)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def translations() -> dict[str, Any]:
    data = _load(TRANSLATIONS)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def charger_schema(config: dict[str, Any]) -> dict[str, str]:
    chargers = config["schema"]["chargers"]
    assert isinstance(chargers, list)
    assert len(chargers) == 1
    assert isinstance(chargers[0], dict)
    return chargers[0]


@pytest.fixture(scope="module")
def mqtt_schema(config: dict[str, Any]) -> dict[str, str]:
    mqtt = config["schema"]["mqtt"]
    assert isinstance(mqtt, dict)
    return mqtt


def _base_type(entry: str) -> str:
    return re.split(r"[(?]", entry, maxsplit=1)[0]


def _bounds(model: type[Any], name: str) -> tuple[Any, Any]:
    """The ge/le bounds pydantic enforces on a field (also inside ``Annotated[...] | None``)."""
    low = high = None
    field = model.model_fields[name]
    annotated = [meta for arg in typing.get_args(field.annotation) for meta in getattr(arg, "__metadata__", ())]
    inner = [item for meta in annotated for item in getattr(meta, "metadata", [meta])]
    for item in [*field.metadata, *inner]:
        low = getattr(item, "ge", low)
        high = getattr(item, "le", high)
    return low, high


def _docker_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_required_keys_present(config: dict[str, Any]) -> None:
    """config.yaml has every key the Supervisor requires."""
    assert [key for key in REQUIRED_KEYS if not config.get(key)] == []


def test_version_is_string(config: dict[str, Any]) -> None:
    """The version is a quoted x.y.z string, not a YAML number."""
    assert isinstance(config["version"], str)
    assert re.fullmatch(r"\d+\.\d+\.\d+", config["version"])


def test_slug_is_valid(config: dict[str, Any]) -> None:
    """The slug matches the Supervisor's slug pattern."""
    assert RE_SLUG.match(config["slug"])


def test_only_known_keys(config: dict[str, Any]) -> None:
    """Every top-level key is one the Supervisor knows (it drops others silently)."""
    assert sorted(set(config) - KNOWN_KEYS) == []


def test_arch(config: dict[str, Any]) -> None:
    """The add-on is built for aarch64 and amd64 only."""
    assert config["arch"] == ["aarch64", "amd64"]


def test_init_disabled(config: dict[str, Any]) -> None:
    """init is off: the s6-overlay v3 base image brings its own init."""
    assert config["init"] is False


def test_no_key_set_to_default(config: dict[str, Any]) -> None:
    """No key is set to the Supervisor's default value."""
    redundant = [key for key, default in SUPERVISOR_DEFAULTS.items() if key in config and config[key] == default]
    assert redundant == []


def test_no_watchdog(config: dict[str, Any]) -> None:
    """There is no watchdog key; the Dockerfile HEALTHCHECK replaces it."""
    assert "watchdog" not in config


def test_ingress_panel(config: dict[str, Any]) -> None:
    """Ingress is on with an EV station icon in the sidebar."""
    assert config["ingress"] is True
    assert config["panel_icon"] == "mdi:ev-station"


def test_homeassistant_api(config: dict[str, Any]) -> None:
    """The add-on may use Home Assistant's API."""
    assert config["homeassistant_api"] is True


def test_ssl_mapped_read_only(config: dict[str, Any]) -> None:
    """/ssl is mapped, read-only by default (no rw, no redundant read_only: true)."""
    entries = [entry if isinstance(entry, dict) else {"type": entry} for entry in config["map"]]
    assert entries == [{"type": "ssl"}]


def test_ocpp_port(config: dict[str, Any]) -> None:
    """Port 9000/tcp (OCPP) is exposed on host port 9000, and 9001/tcp (log uploads, firmware) on 9001."""
    assert config["ports"] == {"9000/tcp": 9000, "9001/tcp": 9001}


def test_ports_described(config: dict[str, Any], translations: dict[str, Any]) -> None:
    """Every port has a description in config.yaml and in the translations."""
    for port in config["ports"]:
        assert config["ports_description"].get(port)
        assert translations["network"].get(port)


def test_options_have_schema(config: dict[str, Any]) -> None:
    """Every key in options has a schema entry."""
    assert sorted(set(config["options"]) - set(config["schema"])) == []


def test_schema_types_valid(config: dict[str, Any]) -> None:
    """Every top-level schema entry (except the charger list) is a valid Supervisor type."""
    invalid = [
        f"{key}: {entry!r}"
        for key, entry in config["schema"].items()
        if key not in NESTED and not (isinstance(entry, str) and RE_SCHEMA_ELEMENT.match(entry))
    ]
    assert invalid == []


def _element(entry: Any) -> Any:
    """A schema entry's type: the entry, or the one element of a list entry (a list option, e.g. upstream_allow)."""
    return entry[0] if isinstance(entry, list) and len(entry) == 1 else entry


def test_charger_schema_types_valid(charger_schema: dict[str, str]) -> None:
    """chargers is a list of dicts whose entries are valid Supervisor types (or lists of one)."""
    invalid = [
        f"{key}: {entry!r}"
        for key, entry in charger_schema.items()
        if not (isinstance(_element(entry), str) and RE_SCHEMA_ELEMENT.match(_element(entry)))
    ]
    assert invalid == []


def test_mqtt_schema_is_optional_and_valid(mqtt_schema: dict[str, str]) -> None:
    """Every field of the mqtt block is a valid Supervisor type and optional (the block may stay empty)."""
    invalid = [
        f"{key}: {entry!r}"
        for key, entry in mqtt_schema.items()
        if not (isinstance(entry, str) and RE_SCHEMA_ELEMENT.match(entry) and entry.endswith("?"))
    ]
    assert invalid == []


def test_mqtt_schema_names_match_model(mqtt_schema: dict[str, str]) -> None:
    """The mqtt sub-fields are exactly the pydantic MqttOptions fields, and the password is masked in the UI."""
    assert set(mqtt_schema) == set(MqttOptions.model_fields)
    assert _base_type(mqtt_schema["password"]) == "password"


def test_mqtt_fields_translated_and_documented(mqtt_schema: dict[str, str], translations: dict[str, Any]) -> None:
    """Every mqtt sub-field has a translation and a '#### MQTT option: `name`' section in DOCS.md."""
    fields = translations["configuration"]["mqtt"]["fields"]
    missing = [key for key in mqtt_schema if not (fields.get(key, {}).get("name") and fields[key].get("description"))]
    headings = set(re.findall(r"^#### MQTT option: `([^`]+)`$", DOCS.read_text(encoding="utf-8"), re.MULTILINE))
    assert (missing, headings) == ([], set(mqtt_schema))


@pytest.fixture(scope="module")
def site_schema(config: dict[str, Any]) -> dict[str, Any]:
    site = config["schema"]["site"]
    assert isinstance(site, dict)
    return site


def test_site_schema_is_optional_and_valid(site_schema: dict[str, Any]) -> None:
    """Every field of the site block is a valid, optional Supervisor type (a list is optional by its element)."""
    elements = {
        key: entry[0] if isinstance(entry, list) and len(entry) == 1 else entry for key, entry in site_schema.items()
    }
    invalid = [
        f"{key}: {entry!r}"
        for key, entry in elements.items()
        if not (isinstance(entry, str) and RE_SCHEMA_ELEMENT.match(entry) and entry.endswith("?"))
    ]
    assert invalid == []


def test_site_schema_matches_model_and_defaults(site_schema: dict[str, Any], config: dict[str, Any]) -> None:
    """The site sub-fields are SiteOptions' fields with its bounds; the shipped defaults are its defaults."""
    assert set(site_schema) == set(SiteOptions.model_fields)
    for key, entry in site_schema.items():
        if isinstance(entry, str) and entry.startswith("int("):
            low, high = re.findall(r"-?\d+", entry)
            assert _bounds(SiteOptions, key) == (int(low), int(high)), key
    assert SiteOptions.model_validate(config["options"]["site"]) == SiteOptions()


def test_site_fields_translated_and_documented(site_schema: dict[str, Any], translations: dict[str, Any]) -> None:
    """Every site sub-field has a translation and a '#### Site option: `name`' section in DOCS.md."""
    fields = translations["configuration"]["site"]["fields"]
    missing = [key for key in site_schema if not (fields.get(key, {}).get("name") and fields[key].get("description"))]
    headings = set(re.findall(r"^#### Site option: `([^`]+)`$", DOCS.read_text(encoding="utf-8"), re.MULTILINE))
    assert (missing, headings) == ([], set(site_schema))


def test_mqtt_service_is_wanted(config: dict[str, Any]) -> None:
    """The add-on asks the Supervisor for the MQTT service, without requiring a broker."""
    assert config["services"] == ["mqtt:want"]


def test_schema_names_match_model(config: dict[str, Any]) -> None:
    """The schema's option names are exactly the pydantic Options fields."""
    assert set(config["schema"]) == set(Options.model_fields)


def test_charger_schema_names_match_model(charger_schema: dict[str, str]) -> None:
    """The charger sub-fields are exactly the pydantic ChargerOptions fields."""
    assert set(charger_schema) == set(ChargerOptions.model_fields)


def test_option_defaults_match_model(config: dict[str, Any]) -> None:
    """The defaults in options equal the pydantic Options() defaults."""
    defaults = Options().model_dump()
    assert {key: defaults[key] for key in config["options"]} == config["options"]


def test_omitted_options_optional(config: dict[str, Any]) -> None:
    """An option left out of options is optional in the schema and defaults to None."""
    defaults = Options().model_dump()
    for key in set(config["schema"]) - set(config["options"]):
        assert config["schema"][key].endswith("?"), key
        assert defaults[key] is None, key


def test_charger_optionality_matches_model(charger_schema: dict[str, str]) -> None:
    """A charger sub-field is optional in the schema exactly when pydantic has a default for it."""
    for key, entry in charger_schema.items():
        assert _element(entry).endswith("?") == (not ChargerOptions.model_fields[key].is_required()), key


def test_int_ranges_match_model(config: dict[str, Any], charger_schema: dict[str, str]) -> None:
    """int(min,max) ranges in the schema equal the pydantic bounds."""
    checked = 0
    for model, schema in ((Options, config["schema"]), (ChargerOptions, charger_schema)):
        for key, entry in schema.items():
            match = RE_SCHEMA_ELEMENT.match(entry) if isinstance(entry, str) else None
            if match and _base_type(entry) == "int":
                assert (int(match["i_min"]), int(match["i_max"])) == _bounds(model, key), key
                checked += 1
    assert checked >= 2


def test_log_levels_match_model(config: dict[str, Any]) -> None:
    """The log_level choices equal the pydantic LogLevel literal."""
    match = RE_SCHEMA_ELEMENT.match(config["schema"]["log_level"])
    assert match
    assert match["list"]
    annotation = Options.model_fields["log_level"].annotation
    assert match["list"].split("|") == list(typing.get_args(annotation))


def test_password_uses_password_type(charger_schema: dict[str, str]) -> None:
    """The charger password is a password type, so the UI masks it."""
    assert _base_type(charger_schema["password"]) == "password"


def test_options_translated(config: dict[str, Any], translations: dict[str, Any]) -> None:
    """Every option has a name and a description in translations/en.yaml."""
    entries = translations["configuration"]
    missing = [
        key for key in config["schema"] if not (entries.get(key, {}).get("name") and entries[key].get("description"))
    ]
    assert missing == []


def test_charger_fields_translated(charger_schema: dict[str, str], translations: dict[str, Any]) -> None:
    """Every charger sub-field has a name and a description in translations/en.yaml."""
    fields = translations["configuration"]["chargers"]["fields"]
    missing = [
        key for key in charger_schema if not (fields.get(key, {}).get("name") and fields[key].get("description"))
    ]
    assert missing == []


def test_no_stale_translations(config: dict[str, Any], translations: dict[str, Any]) -> None:
    """translations/en.yaml names no option that does not exist."""
    assert sorted(set(translations["configuration"]) - set(config["schema"])) == []


def test_docs_cover_options(config: dict[str, Any]) -> None:
    """DOCS.md has an '### Option: `name`' section for every top-level option."""
    headings = set(re.findall(r"^### Option: `([^`]+)`$", DOCS.read_text(encoding="utf-8"), re.MULTILINE))
    assert headings == set(config["schema"])


def test_docs_cover_charger_fields(charger_schema: dict[str, str]) -> None:
    """DOCS.md has a '#### Charger option: `name`' section for every charger sub-field."""
    text = DOCS.read_text(encoding="utf-8")
    headings = set(re.findall(r"^#### Charger option: `([^`]+)`$", text, re.MULTILINE))
    assert headings == set(charger_schema)


def test_single_config_file() -> None:
    """No file but the add-on's config.yaml is named like an add-on config."""
    found = []
    for directory, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [name for name in dirnames if name not in SKIPPED_DIRS]
        found += [Path(directory, name) for name in filenames if name in CONFIG_NAMES]
    assert found == [CONFIG]


def test_repository_file() -> None:
    """repository.yaml at the root names the repository, its URL and maintainer."""
    repository = _load(ROOT / "repository.yaml")
    assert repository["name"]
    assert repository["maintainer"]
    assert repository["url"].startswith("https://")


@pytest.mark.parametrize("name", ["run", "finish"])
def test_service_scripts_executable(name: str) -> None:
    """The s6 run and finish scripts are executable."""
    mode = (SERVICE / name).stat().st_mode
    executable = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
    assert mode & executable == executable


@pytest.mark.parametrize("name", ["run", "finish"])
def test_service_scripts_use_bashio(name: str) -> None:
    """The s6 scripts run under with-contenv bashio, so they see SUPERVISOR_TOKEN."""
    first_line = (SERVICE / name).read_text(encoding="utf-8").splitlines()[0]
    assert first_line == "#!/command/with-contenv bashio"


def test_run_ends_with_exec() -> None:
    """The run script's last command replaces the shell with exec."""
    lines = [line for line in (SERVICE / "run").read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines[-1].startswith("exec ")
    assert "bmw_wallbox" in lines[-1]


def test_finish_halts_container() -> None:
    """The finish script records the exit code and halts the container on failure."""
    text = (SERVICE / "finish").read_text(encoding="utf-8")
    assert "/run/s6-linux-init-container-results/exitcode" in text
    assert "/run/s6/basedir/bin/halt" in text


def test_service_is_registered() -> None:
    """The service is a longrun that depends on base and is part of the user bundle."""
    assert (SERVICE / "type").read_text(encoding="utf-8").strip() == "longrun"
    assert (SERVICE / "dependencies.d" / "base").is_file()
    assert (S6 / "user" / "contents.d" / SERVICE.name).is_file()


def test_dockerfile_pins_base_python() -> None:
    """The Dockerfile builds FROM a base-python image with an explicit tag, not latest."""
    instructions = _docker_instructions()
    args = dict(rest.split("=", 1) for keyword, rest in instructions if keyword == "ARG" and "=" in rest)
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(froms) == 1
    image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m[1], m[0]), froms[0].split()[0])
    match = re.fullmatch(r"ghcr\.io/home-assistant/base-python:(?P<tag>[\w.-]+)", image)
    assert match, image
    assert match["tag"] != "latest"
    assert re.match(r"3\.1[3-9]-alpine\d+\.\d+", match["tag"]), match["tag"]


def test_dockerfile_healthcheck() -> None:
    """The Dockerfile has a HEALTHCHECK on the panel's /healthz on port 8099."""
    checks = [rest for keyword, rest in _docker_instructions() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "127.0.0.1:8099/healthz" in checks[0]


def test_dockerfile_copies_build_inputs() -> None:
    """The Dockerfile copies what pip needs to build the package, and the rootfs."""
    copied = " ".join(rest for keyword, rest in _docker_instructions() if keyword == "COPY")
    for name in ("requirements.txt", "pyproject.toml", "README.md", "bmw_wallbox/", "rootfs /"):
        assert name in copied, name


def test_version_matches_package(config: dict[str, Any]) -> None:
    """The add-on version equals bmw_wallbox.__version__."""
    assert config["version"] == PACKAGE_VERSION


def test_version_is_newest_changelog_entry(config: dict[str, Any]) -> None:
    """The add-on version is the newest heading in CHANGELOG.md."""
    headings = re.findall(r"^## \[?v?([^\]\s]+)", CHANGELOG.read_text(encoding="utf-8"), re.MULTILINE)
    assert headings
    assert headings[0] == config["version"]


def test_upstream_options_match_model(charger_schema: dict[str, Any]) -> None:
    """The upstream choices and URL pattern in the schema equal the pydantic model's; its password is masked."""
    for key in ("upstream_mode", "upstream_authorization", "upstream_allow"):
        match = RE_SCHEMA_ELEMENT.match(_element(charger_schema[key]))
        assert match
        assert match["list"]
        annotation = ChargerOptions.model_fields[key].annotation
        if key == "upstream_allow":  # list[Literal[...]]
            annotation = typing.get_args(annotation)[0]
        choices = typing.get_args(annotation)
        assert match["list"].split("|") == list(choices), key
    url = RE_SCHEMA_ELEMENT.match(charger_schema["upstream_url"])
    assert url
    assert url["match"] == _options_module._UPSTREAM_URL
    assert _base_type(charger_schema["upstream_password"]) == "password"

"""The add-on options (``/data/options.json``), validated with pydantic.

The option names here are the single source of truth: ``config.yaml``,
``translations/en.yaml`` and ``DOCS.md`` use the same names, and a test keeps
them in sync.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

LogLevel = Literal["trace", "debug", "info", "notice", "warning", "error", "fatal"]

#: How the add-on log levels (bashio's names) map onto Python's logging levels.
LOG_LEVELS: dict[str, int] = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
}

MIN_CURRENT_A = 6
MAX_CURRENT_A = 80


class OptionsError(Exception):
    """The options file is missing, unreadable or holds a value that is not allowed."""


def _none_if_empty(value: object) -> object:
    """An empty secret option means none, as DOCS.md says (the Supervisor's form saves a cleared field as "")."""
    return None if value == "" else value


#: The upstream requests that pass in ``shared`` mode only when listed in ``upstream_allow``.
UpstreamAction = Literal[
    "Reset", "UpdateFirmware", "SetVariables", "SendLocalList", "ClearChargingProfile", "ClearCache"
]
UPSTREAM_ACTIONS: tuple[str, ...] = get_args(UpstreamAction)
#: An upstream URL: ws:// or wss://, a host, and a path whose last segment is the station id.
_UPSTREAM_URL = r"^wss?://[^\s/@]+/(\S*/)?[^\s/]+$"


class ChargerOptions(BaseModel):
    """One charger that may connect: its charging station id and its limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(min_length=1, max_length=48)]
    """Charging station id, exactly as the charger sends it in its URL (e.g. ``DE*BMW*E...``)."""
    name: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """Display name; defaults to ``BMW Wallbox``."""
    password: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """HTTP Basic Auth password (security profile 2); none means no authentication."""
    max_current: Annotated[int, Field(ge=MIN_CURRENT_A, le=MAX_CURRENT_A)] = 32
    """Highest current in A the installation allows for this charger."""
    upstream_url: Annotated[str, Field(pattern=_UPSTREAM_URL, max_length=512)] | None = None
    """A second backend (``wss://`` or ``ws://``, the path ending in its station id) the charger is forwarded to."""
    upstream_id: Annotated[str, Field(min_length=1, max_length=48)] | None = None
    """The Basic Auth username at the upstream; defaults to the charger's id."""
    upstream_password: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """Basic Auth password at the upstream; never logged or shown."""
    upstream_mode: Literal["mirror", "shared"] = "mirror"
    """``mirror``: the upstream only watches; ``shared``: some of its requests reach the charger."""
    upstream_authorization: Literal["local", "upstream"] = "local"
    """Who decides on cards: the token list (``local``) or the upstream, with the token list as fallback."""
    upstream_allow: list[UpstreamAction] = Field(default_factory=list, max_length=len(UPSTREAM_ACTIONS))
    """Upstream requests that pass in ``shared`` mode only when listed (reset, firmware, variables, local list)."""
    upstream_ca: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    """A CA file in the ssl folder that the upstream's certificate must chain to; default the system's CAs."""

    @field_validator("password", "upstream_password", "upstream_url", "upstream_id", "upstream_ca", mode="before")
    @classmethod
    def _empty_password_is_none(cls, value: object) -> object:
        return _none_if_empty(value)

    @field_validator("id")
    @classmethod
    def _no_slash(cls, value: str) -> str:
        if "/" in value or value != value.strip():
            raise ValueError("must not contain '/' or leading/trailing spaces")
        return value

    @property
    def display_name(self) -> str:
        """The name shown in Home Assistant and the panel."""
        return self.name or "BMW Wallbox"


#: A topic level or a path of levels: letters, digits, ``_`` and ``-``, separated by single ``/``.
_TOPIC_PATH = r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$"


class MqttOptions(BaseModel):
    """The optional MQTT broker settings; unset ones come from the Supervisor's MQTT service.

    Unset fields are left out of :meth:`model_dump`, as the Supervisor leaves them out of the options.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    server: Annotated[str, Field(max_length=255)] | None = None
    """Broker URL ``mqtt://host[:port]`` (default port 1883) or ``mqtts://host[:port]`` (TLS, default 8883)."""
    user: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    """User name at the broker."""
    password: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    """Password at the broker."""
    discovery_prefix: Annotated[str, Field(pattern=_TOPIC_PATH, max_length=64)] = "homeassistant"
    """Home Assistant's MQTT discovery prefix."""
    base_topic: Annotated[str, Field(pattern=_TOPIC_PATH, max_length=64)] = "bmw_wallbox"
    """First topic level of the add-on's own topics (states, commands, evcc)."""

    @field_validator("server", "user", "password", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return _none_if_empty(value)

    @field_validator("server")
    @classmethod
    def _broker_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"mqtts?://[^\s/@]+/?", value):
            raise ValueError(
                "must be mqtt://host[:port] or mqtts://host[:port]; user and password go into their own options"
            )
        return value

    @model_serializer(mode="wrap")
    def _without_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        return {key: value for key, value in handler(self).items() if value is not None}


#: A Home Assistant entity id (``sensor.grid_l1``).
_ENTITY_ID = r"^[a-z0-9_]+\.[a-z0-9_]+$"
EntityId = Annotated[str, Field(pattern=_ENTITY_ID, max_length=255)]


class SiteOptions(BaseModel):
    """The site power budget (see DOCS.md, option ``site``); off while ``main_fuse_a`` is not set.

    Unset fields are left out of :meth:`model_dump`, as the Supervisor leaves them out of the options.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    main_fuse_a: Annotated[int, Field(ge=6, le=250)] | None = None
    """Rating of the main fuse per phase in A; none turns the budget off."""
    phase_current_entities: Annotated[list[EntityId], Field(max_length=3)] = Field(default_factory=list)
    """Up to three entities with the grid current per phase in A (L1, L2, L3)."""
    grid_power_entity: EntityId | None = None
    """One entity with the grid import power in W (negative = export), for sites without per-phase currents."""
    safety_margin_a: Annotated[int, Field(ge=0, le=50)] = 1
    """Amps per phase kept free below the fuse rating."""
    failsafe_a: Annotated[int, Field(ge=0, le=80)] = 6
    """The limit of each charger while the meter cannot be seen; 0 pauses."""
    stale_after_s: Annotated[int, Field(ge=5, le=600)] = 30
    """A meter reading older than this (from Home Assistant's last_reported) counts as lost."""
    resume_after_s: Annotated[int, Field(ge=0, le=3600)] = 60
    """How long headroom must hold before a limit rises again or a budget pause ends."""

    @field_validator("main_fuse_a", "grid_power_entity", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return _none_if_empty(value)

    @field_validator("failsafe_a")
    @classmethod
    def _failsafe_is_a_charging_current(cls, value: int) -> int:
        if 0 < value < MIN_CURRENT_A:
            raise ValueError(f"must be 0 (pause) or at least {MIN_CURRENT_A} A: below that a car does not charge")
        return value

    @model_validator(mode="after")
    def _one_meter(self) -> SiteOptions:
        if self.main_fuse_a is None:
            return self
        if bool(self.phase_current_entities) == (self.grid_power_entity is not None):
            raise ValueError(
                "site: with main_fuse_a set, give either phase_current_entities (grid current per phase, A) "
                "or grid_power_entity (grid power, W), not both and not neither"
            )
        if self.failsafe_a > self.main_fuse_a - self.safety_margin_a:
            raise ValueError("site: failsafe_a must not exceed main_fuse_a minus safety_margin_a")
        return self

    @property
    def enabled(self) -> bool:
        """Whether the budget is on."""
        return self.main_fuse_a is not None

    @model_serializer(mode="wrap")
    def _without_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        return {key: value for key, value in handler(self).items() if value is not None}


class Options(BaseModel):
    """All add-on options, with the defaults the add-on ships with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ssl: bool = True
    """Serve ``wss://`` with the certificate files below (from the ``/ssl`` folder)."""
    certfile: Annotated[str, Field(min_length=1)] = "fullchain.pem"
    """Certificate chain file in the ssl folder."""
    keyfile: Annotated[str, Field(min_length=1)] = "privkey.pem"
    """Private key file in the ssl folder."""
    chargers: list[ChargerOptions] = Field(default_factory=list)
    """Chargers allowed to connect."""
    meter_interval: Annotated[int, Field(ge=1, le=3600)] = 10
    """Seconds between meter values during a session (``SampledDataCtrlr.TxUpdatedInterval``)."""
    log_level: LogLevel = "info"
    """Log level of the add-on."""
    id_token: Annotated[str, Field(min_length=1, max_length=36)] | None = None
    """idToken (type ``Central``) for remote starts; none means the built-in ``HomeAssistant``."""
    reset_recovery: bool = True
    """Allow an automatic reboot of the charger as the last resort when it stops obeying limits."""
    mqtt: MqttOptions = Field(default_factory=MqttOptions)
    """MQTT broker overrides; without ``server`` the Supervisor's MQTT service is used, if there is one."""
    site: SiteOptions = Field(default_factory=SiteOptions)
    """The site power budget that protects the main fuse; off while ``site.main_fuse_a`` is not set."""

    @field_validator("id_token", mode="before")
    @classmethod
    def _empty_id_token_is_none(cls, value: object) -> object:
        return _none_if_empty(value)

    @model_validator(mode="after")
    def _unique_ids(self) -> Options:
        seen: set[str] = set()
        for charger in self.chargers:
            if charger.id in seen:
                raise ValueError(f"chargers: the id {charger.id!r} is listed twice; list each charger once")
            seen.add(charger.id)
        return self

    def charger(self, charger_id: str) -> ChargerOptions | None:
        """Return the configured charger with this exact id, or None."""
        return next((c for c in self.chargers if c.id == charger_id), None)


#: Options whose values never appear in messages.
_SECRET_OPTIONS = frozenset(
    {"password", "id_token", "upstream_password"}
)  # also mqtt.password: the last part of its path
#: Longest value quoted in a message, and most problems listed in one.
_MAX_SHOWN_CHARS = 60
_MAX_PROBLEMS = 10


def _shown(value: object) -> str:
    """A bad value as a message quotes it: objects and lists (which may hold passwords) only by kind."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN_CHARS else text[: _MAX_SHOWN_CHARS - 3] + "..."


def _shown_key(part: object) -> str:
    """A part of an option's path; an unprintable or long one (an unknown key) quoted and cut."""
    text = str(part)
    return text if text.isprintable() and len(text) <= _MAX_SHOWN_CHARS else _shown(text)


def _describe(error: ValidationError) -> str:
    """Turn a pydantic error into one message per bad option, naming it and what is allowed."""
    lines = []
    problems = error.errors()
    for item in problems[:_MAX_PROBLEMS]:
        location = ".".join(_shown_key(part) for part in item["loc"]) or "options"
        message = item["msg"]
        lowered = message[:1].lower() + message[1:]  # only the first letter: the rest may quote a value
        if not item["loc"]:  # a rule across options (e.g. an id listed twice): its message says it all
            lines.append(lowered.removeprefix("value error, "))
            continue
        if item["loc"][-1] in _SECRET_OPTIONS or "@" in str(item.get("input", "")):
            item = {**item, "input": "***"}
        if item["type"] == "extra_forbidden":
            message = "is not an option of this add-on; remove it"
        elif item["type"] == "literal_error" or ("input" in item and item["type"] != "missing"):
            shown = "'***'" if item["input"] == "***" else _shown(item["input"])
            message = f"is {shown}; {lowered}"
        lines.append(f"option {location} {message}")
    if len(problems) > _MAX_PROBLEMS:
        lines.append(f"and {len(problems) - _MAX_PROBLEMS} more problems")
    return "Invalid add-on options: " + "; ".join(lines)


def parse_options(raw: object) -> Options:
    """Validate raw options (the decoded JSON); raise :class:`OptionsError` naming each bad option."""
    if not isinstance(raw, dict):
        raise OptionsError("Invalid add-on options: the options must be a JSON object")
    try:
        return Options.model_validate(raw)
    except ValidationError as err:
        raise OptionsError(_describe(err)) from None


def load_options(path: Path, *, missing_ok: bool = False) -> Options:
    """Read and validate the options file.

    With ``missing_ok`` a missing file gives the defaults (for running outside
    the container); otherwise it is an error.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return Options()
        raise OptionsError(f"Options file {path} not found; pass --options with the path of the options file") from None
    except OSError as err:
        raise OptionsError(f"Options file {path} cannot be read: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise OptionsError(f"Options file {path} is not UTF-8 text (byte {err.start})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise OptionsError(f"Options file {path} is not valid JSON: {err}") from None
    except RecursionError:
        raise OptionsError(f"Options file {path} nests lists or objects too deeply") from None
    return parse_options(raw)

"""The setup checklist the panel shows: decided here without I/O, from facts and the certificate info.

Each item has a ``status`` (``ok``, ``warn``, ``fail`` or ``info``), a short
title and a sentence that says what to do when it is not ok. Whether each
charger has connected is live data and is added by the page itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bmw_wallbox.certinfo import CertInfo

#: Warn this long before the certificate expires.
EXPIRY_WARNING = timedelta(days=14)
#: Shown instead of a hostname when the certificate names none.
HOST_PLACEHOLDER = "<your-hostname>"
#: Characters YAML reads as line breaks besides ``\n`` and ``\r`` (YAML 1.1); escaped in a quoted id.
_YAML_BREAKS = frozenset("\x85\u2028\u2029")


def charger_option_line(charger_id: str) -> str:
    """The line of the option ``chargers`` that adds this id (``  - id: "..."``), for the setup page to show.

    The id came from anyone who reached the OCPP port, so it is written as a
    YAML double-quoted scalar with every character that could end it or the
    line escaped (quotes, backslashes, control characters, line and
    paragraph separators, and anything not printable): the line always reads
    back as exactly this id, and adds nothing else to the configuration.
    """
    return f'  - id: "{"".join(_yaml_char(char) for char in charger_id)}"'


def _yaml_char(char: str) -> str:
    """One character inside a YAML double-quoted scalar."""
    if char in ('"', "\\"):
        return "\\" + char
    if char.isprintable() and char not in _YAML_BREAKS:
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


@dataclass(frozen=True, kw_only=True)
class SetupFacts:
    """What the setup checklist needs to know about the app's settings."""

    ssl: bool
    ssl_dir: Path
    certfile: str
    keyfile: str
    ocpp_port: int
    chargers: tuple[tuple[str, str, bool], ...]
    """(id, display name, has a password) per configured charger."""
    host_port_known: bool = False
    """True when the Supervisor told which host port is mapped (in the container)."""
    host_port: int | None = None
    """The host port mapped to the OCPP port; None with ``host_port_known`` means disabled."""
    state_problems: tuple[str, ...] = ()
    """What could not be loaded from the state files at start (see :attr:`bmw_wallbox.store.Store.problems`)."""
    data_dir_problem: str | None = None
    """Why the data dir cannot be written, when it cannot (checked at start)."""
    entities_via: str = "none"
    """How entities reach Home Assistant: ``mqtt`` (discovery), ``rest`` (the REST API) or ``none`` (no token)."""
    mqtt_broker: str | None = None
    """The broker in use and where it came from (``mqtt`` only), without credentials."""
    mqtt_state: str | None = None
    """The connection to the broker now: ``connected``, ``connecting``, ``unreachable``, ``refused the login``."""
    mqtt_integration: bool | None = None
    """Whether Home Assistant's MQTT integration is set up (``mqtt`` only; None when not known)."""
    mqtt_note: str | None = None
    """Why no broker is used (``rest`` and ``none``), when there is something to say."""
    entity_ids: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(charger id, its entity ids in Home Assistant) per charger; MQTT: as Home Assistant's registry has them."""

    @property
    def public_port(self) -> int:
        """The port the wallbox must use: the mapped host port when known, else the OCPP port."""
        return self.host_port if self.host_port_known and self.host_port is not None else self.ocpp_port

    @property
    def cert_path(self) -> Path:
        """The certificate chain file."""
        return self.ssl_dir / self.certfile

    @property
    def key_path(self) -> Path:
        """The private key file."""
        return self.ssl_dir / self.keyfile


def _item(key: str, status: str, title: str, detail: str = "") -> dict[str, str]:
    return {"key": key, "status": status, "title": title, "detail": detail}


def _certificate_items(cert: CertInfo, *, now: datetime) -> list[dict[str, str]]:
    """The items about the certificate and key files."""
    if not cert.cert_found:
        return [
            _item(
                "cert_file",
                "fail",
                f"Certificate file {cert.cert_path} not found",
                "Put the certificate chain there (for example with the Let's Encrypt app, DNS-01) "
                "or set the option certfile to its name in /ssl.",
            )
        ]
    if cert.error:
        return [_item("cert_file", "fail", f"Certificate file {cert.cert_path} is unreadable", cert.error)]
    items = [_item("cert_file", "ok", f"Certificate found: {cert.cert_path}")]
    if not cert.key_found:
        items.append(
            _item(
                "key_file", "fail", f"Key file {cert.key_path} not found", "Set the option keyfile to its name in /ssl."
            )
        )
    elif not cert.key_matches:
        items.append(
            _item(
                "key_file",
                "fail",
                f"Key file {cert.key_path} does not belong to the certificate",
                "Use the private key that was issued together with this certificate.",
            )
        )
    else:
        items.append(_item("key_file", "ok", "Private key found and matches the certificate"))
    if cert.hostnames:
        items.append(_item("names", "ok", f"Issued for {', '.join(cert.hostnames)}"))
    else:
        items.append(
            _item(
                "names",
                "fail",
                f"Issued for {', '.join(cert.names) or 'no name'}: no hostname",
                "The wallbox refuses URLs with an IP address; it needs a certificate for a hostname.",
            )
        )
    if cert.self_signed:
        items.append(
            _item(
                "issuer",
                "fail",
                "Self-signed certificate",
                "The wallbox refuses self-signed certificates; use a publicly trusted one, e.g. Let's Encrypt.",
            )
        )
    else:
        items.append(_item("issuer", "ok", f"Issued by {cert.issuer}"))
    if cert.trusted is True:
        items.append(_item("trusted", "ok", "Trusted by the public certificate authorities"))
    elif cert.trusted is False:
        items.append(
            _item(
                "trusted",
                "warn",
                "Not trusted by this system's certificate authorities",
                f"{cert.trust_error or 'unknown reason'}: the wallbox will probably refuse it. "
                "Is fullchain.pem the full chain (certificate plus intermediates)?",
            )
        )
    items.append(_expiry_item(cert, now=now))
    return items


def _expiry_item(cert: CertInfo, *, now: datetime) -> dict[str, str]:
    if cert.not_after is None:
        return _item("expiry", "warn", "Expiry date unknown")
    date = cert.not_after.date().isoformat()
    if cert.not_before is not None and now < cert.not_before:
        return _item("expiry", "fail", f"Not valid before {cert.not_before.date().isoformat()}")
    if now >= cert.not_after:
        return _item("expiry", "fail", f"Expired on {date}", "Renew the certificate and restart the app.")
    days = (cert.not_after - now).days
    if cert.not_after - now < EXPIRY_WARNING:
        return _item("expiry", "warn", f"Expires on {date} (in {days} days)", "Renew it soon, then restart the app.")
    return _item("expiry", "ok", f"Valid until {date} ({days} days)")


def connect_host(cert: CertInfo | None) -> str:
    """The hostname for the wallbox's URL: the certificate's first DNS name (a wildcard made concrete)."""
    names = cert.hostnames if cert is not None else []
    if not names:
        return HOST_PLACEHOLDER
    return names[0].replace("*", "wallbox", 1)


def build_setup(facts: SetupFacts, cert: CertInfo | None, *, now: datetime) -> dict[str, Any]:
    """The checklist, the URL per charger and the facts behind them, as the panel shows them."""
    items: list[dict[str, str]] = []
    if facts.ssl:
        items.append(_item("tls", "ok", "TLS is on (wss://)"))
        if cert is not None:
            items.extend(_certificate_items(cert, now=now))
    else:
        items.append(
            _item(
                "tls",
                "warn",
                "TLS is off (option ssl): chargers connect with ws:// without encryption",
                "The BMW wallbox accepts only wss:// with a trusted certificate.",
            )
        )
    items.append(_port_item(facts))
    if facts.data_dir_problem:
        items.append(
            _item(
                "data_dir",
                "fail",
                facts.data_dir_problem.split(":", 1)[0],
                "Make the app's data folder writable (free disk space, a read-only file system), then restart it.",
            )
        )
    if facts.chargers:
        items.append(_item("chargers", "ok", f"{len(facts.chargers)} charger(s) configured"))
    else:
        items.append(
            _item(
                "chargers",
                "fail",
                "No charger configured",
                "Add your wallbox's charging station id under the option chargers.",
            )
        )
    items.append(_entities_item(facts))
    for problem in facts.state_problems:
        items.append(
            _item(
                "state",
                "warn",
                "A saved state file could not be read completely",
                f"{problem}. A copy of the damaged file is kept next to it in the data folder.",
            )
        )
    entity_ids = dict(facts.entity_ids)
    host = connect_host(cert) if facts.ssl else HOST_PLACEHOLDER
    base_url = f"{'wss' if facts.ssl else 'ws'}://{host}:{facts.public_port}"
    return {
        "items": items,
        "host": host,
        "base_url": base_url,
        "ocpp_port": facts.public_port,
        "ssl": facts.ssl,
        "certificate": cert.to_json() if cert is not None else None,
        "chargers": [
            {
                "id": charger_id,
                "name": name,
                "password": has_password,
                "url": f"{base_url}/{charger_id}",
                "entity_ids": list(entity_ids.get(charger_id, ())),
            }
            for charger_id, name, has_password in facts.chargers
        ],
        "entities_via": facts.entities_via,
    }


def _entities_item(facts: SetupFacts) -> dict[str, str]:
    """The checklist line about how entities reach Home Assistant: MQTT discovery and the broker, or the REST API."""
    if facts.entities_via == "mqtt":
        if facts.mqtt_state == "connected" and facts.mqtt_integration is False:
            return _item(
                "entities",
                "warn",
                "Home Assistant's MQTT integration is not set up",
                f"The broker {facts.mqtt_broker} is connected, but Home Assistant shows the wallbox's device only "
                "once the MQTT integration is added: Settings > Devices & services (usually shown as discovered).",
            )
        if facts.mqtt_state == "connected":
            return _item(
                "entities",
                "ok",
                f"Entities through MQTT: broker {facts.mqtt_broker} connected",
                "One device per charger with its switch, number and buttons (Settings > Devices & services > MQTT).",
            )
        return _item(
            "entities",
            "fail",
            f"Entities through MQTT: broker {facts.mqtt_broker} {facts.mqtt_state or 'not connected'}",
            "Home Assistant shows the entities unavailable until the broker is back; check the broker app's log.",
        )
    detail = (facts.mqtt_note + ". ") if facts.mqtt_note else ""
    if facts.entities_via == "rest":
        return _item(
            "entities",
            "info",
            "Entities through Home Assistant's REST API",
            f"{detail}Install the Mosquitto broker app (Settings > Apps) and restart this app for a device "
            "with unique ids, its own switch, number and buttons, and evcc's topics.",
        )
    return _item(
        "entities",
        "info",
        "No Home Assistant entities",
        f"{detail}Running outside Home Assistant without a token or a broker.",
    )


def _port_item(facts: SetupFacts) -> dict[str, str]:
    """The checklist line about the port, with what the Supervisor said about the host port."""
    if not facts.host_port_known:
        return _item(
            "port",
            "info",
            f"OCPP port {facts.ocpp_port}",
            "If you mapped another host port under Network in the app's configuration, use that one.",
        )
    if facts.host_port is None:
        return _item(
            "port",
            "fail",
            "The OCPP port is disabled",
            "Set a host port for 9000/tcp under Network in the app's configuration, then restart the app.",
        )
    return _item(
        "port", "ok", f"OCPP port {facts.host_port} on the host", "Mapped under Network in the app's configuration."
    )

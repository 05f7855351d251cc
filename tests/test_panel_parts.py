"""The panel's building blocks without a server: log buffer, certificate reader, setup checklist, power history."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID

from bmw_wallbox.certinfo import CertificateFormatError, first_certificate, parse_certificate, read_cert_info
from bmw_wallbox.logbuffer import MASK, LogBuffer, level_number, mask_text
from bmw_wallbox.state import ChargerState, SampledValue
from bmw_wallbox.web.checklist import HOST_PLACEHOLDER, SetupFacts, build_setup, connect_host
from bmw_wallbox.web.history import PowerHistory

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

# --- log buffer ------------------------------------------------------------------------------


@pytest.fixture
def buffer() -> Iterator[LogBuffer]:
    """A log buffer on its own logger at DEBUG."""
    logger = logging.getLogger("test.panel.buffer")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logs = LogBuffer(size=5, secrets=["hunter2-known"])
    logs.attach(logger)
    yield logs
    logs.detach()


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("password=abc123", "abc123"),
        ('{"password": "abc123"}', "abc123"),
        ("token: eyJhbGciOi.x.y", "eyJhbGciOi.x.y"),
        ("Authorization: Basic ZGU6c2VjcmV0", "ZGU6c2VjcmV0"),
        ("Bearer abcdef.123", "abcdef.123"),
        ("url https://user:pa55word@example.com/x", "pa55word"),
        ("id_token=RFID-4711", "RFID-4711"),
        ("the value hunter2-known leaked", "hunter2-known"),
    ],
)
def test_mask_text_hides_credentials(text: str, hidden: str) -> None:
    """Anything that looks like a credential, and every known secret, is replaced by the mask."""
    masked = mask_text(text, ["hunter2-known"])
    assert hidden not in masked
    assert MASK in masked


def test_mask_text_keeps_ordinary_lines() -> None:
    """A line without credentials is kept as it is."""
    line = "[DE*BMW*E1] Limit 16.0 A applied as tx_default (in sync: True)"
    assert mask_text(line) == line


def test_buffer_keeps_masked_lines_newest_first(buffer: LogBuffer) -> None:
    """Records are stored masked, newest first."""
    logger = logging.getLogger("test.panel.buffer")
    logger.info("first")
    logger.warning("login with password=%s", "hunter2-known")
    lines = buffer.lines()
    assert [line.message for line in lines] == ["login with password=***", "first"]
    assert lines[0].level == "WARNING"
    assert lines[0].logger == "test.panel.buffer"


def test_buffer_is_a_ring(buffer: LogBuffer) -> None:
    """Only the last ``size`` records are kept."""
    logger = logging.getLogger("test.panel.buffer")
    for number in range(8):
        logger.info("line %d", number)
    assert [line.message for line in buffer.lines()] == [f"line {n}" for n in range(7, 2, -1)]


def test_buffer_filters_by_level_and_limit(buffer: LogBuffer) -> None:
    """``min_level`` drops lower levels and ``limit`` caps the count."""
    logger = logging.getLogger("test.panel.buffer")
    logger.debug("d")
    logger.info("i")
    logger.error("e1")
    logger.error("e2")
    assert [line.message for line in buffer.lines(min_level=level_number("warning"))] == ["e2", "e1"]
    assert [line.message for line in buffer.lines(limit=1)] == ["e2"]
    assert buffer.lines(limit=0) == []


def test_buffer_keeps_the_traceback(buffer: LogBuffer) -> None:
    """An exception's traceback is part of the kept line."""
    logger = logging.getLogger("test.panel.buffer")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    assert "ValueError: boom" in buffer.lines()[0].message


def test_buffer_tells_listeners_without_recursion(buffer: LogBuffer) -> None:
    """A listener hears each line; a listener that logs does not loop."""
    logger = logging.getLogger("test.panel.buffer")
    heard: list[str] = []

    def listener(line: object) -> None:
        heard.append(getattr(line, "message", ""))
        logger.info("logged from the listener")

    unsubscribe = buffer.subscribe(listener)
    logger.info("hello")
    unsubscribe()
    logger.info("after")
    assert heard == ["hello"]


def test_buffer_accepts_records_from_other_threads(buffer: LogBuffer) -> None:
    """Lines logged from another thread are kept too."""
    logger = logging.getLogger("test.panel.buffer")
    thread = threading.Thread(target=logger.warning, args=("from a thread",))
    thread.start()
    thread.join()
    assert buffer.lines()[0].message == "from a thread"


def test_level_number_of_unknown_name_is_notset() -> None:
    """An unknown or missing level name filters nothing."""
    assert (level_number(None), level_number("loud"), level_number("Error")) == (0, 0, logging.ERROR)


# --- certificate -----------------------------------------------------------------------------


def write_cert(folder: Path, cert: trustme.LeafCert) -> tuple[Path, Path]:
    """Write a trustme leaf as fullchain.pem and privkey.pem."""
    folder.mkdir(exist_ok=True)
    cert.private_key_pem.write_to_path(str(folder / "privkey.pem"))
    (folder / "fullchain.pem").write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    return folder / "fullchain.pem", folder / "privkey.pem"


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` with a CN and no SAN."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2027, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(exist_ok=True)
    (folder / "fullchain.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    (folder / "privkey.pem").write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return folder / "fullchain.pem", folder / "privkey.pem"


def test_cert_info_matches_the_cryptography_package(ca: trustme.CA, tmp_path: Path) -> None:
    """Names, issuer and dates read by the stdlib reader agree with the cryptography package."""
    cert_path, key_path = write_cert(
        tmp_path / "ssl", ca.issue_cert("wallbox.example.com", "*.home.example", "10.0.0.9")
    )
    info = read_cert_info(cert_path, key_path)
    reference = x509.load_pem_x509_certificate(cert_path.read_bytes())
    sans = reference.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert info.names == [*sans.get_values_for_type(x509.DNSName), "10.0.0.9"]
    assert info.hostnames == ["wallbox.example.com", "*.home.example"]
    assert info.not_after == reference.not_valid_after_utc
    assert info.not_before == reference.not_valid_before_utc
    assert info.issuer is not None
    assert str(reference.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value) in info.issuer
    assert (info.self_signed, info.key_matches, info.error) == (False, True, None)


def test_cert_from_unknown_ca_is_not_trusted(ca: trustme.CA, tmp_path: Path) -> None:
    """A certificate from a CA the system does not know is reported as untrusted, with the reason."""
    cert_path, key_path = write_cert(tmp_path / "ssl", ca.issue_cert("wallbox.example.com"))
    info = read_cert_info(cert_path, key_path)
    assert info.trusted is False
    assert info.trust_error


def test_cert_from_trusted_ca_is_trusted(ca: trustme.CA, tmp_path: Path) -> None:
    """With the CA among the trusted roots the in-memory handshake succeeds."""
    cert_path, key_path = write_cert(tmp_path / "ssl", ca.issue_cert("wallbox.example.com"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    info = read_cert_info(cert_path, key_path, cafile=tmp_path / "ca.pem")
    assert (info.trusted, info.trust_error) == (True, None)


def test_self_signed_cert_is_recognised(tmp_path: Path) -> None:
    """A self-signed certificate without SANs shows its common name and is flagged."""
    cert_path, key_path = self_signed(tmp_path / "ssl", "wallbox.local")
    info = read_cert_info(cert_path, key_path)
    assert (info.subject, info.names, info.self_signed) == ("wallbox.local", ["wallbox.local"], True)
    assert info.not_after == datetime(2027, 1, 1, tzinfo=UTC)


def test_key_of_another_cert_does_not_match(ca: trustme.CA, tmp_path: Path) -> None:
    """A key that belongs to another certificate is reported, and no trust check runs."""
    cert_path, _ = write_cert(tmp_path / "a", ca.issue_cert("a.example.com"))
    _, other_key = write_cert(tmp_path / "b", ca.issue_cert("b.example.com"))
    info = read_cert_info(cert_path, other_key)
    assert (info.key_matches, info.trusted) == (False, None)


def test_missing_files_are_reported(tmp_path: Path) -> None:
    """Missing files give an answer that says so, not an exception."""
    info = read_cert_info(tmp_path / "fullchain.pem", tmp_path / "privkey.pem")
    assert (info.cert_found, info.key_found, info.names) == (False, False, [])


@pytest.mark.parametrize(
    "content", [b"not a certificate", b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"]
)
def test_garbage_cert_file_gives_an_error(tmp_path: Path, content: bytes) -> None:
    """A file that holds no readable certificate is reported with an error message."""
    (tmp_path / "fullchain.pem").write_bytes(content)
    info = read_cert_info(tmp_path / "fullchain.pem", tmp_path / "privkey.pem")
    assert info.cert_found
    assert info.error is not None


def test_parse_rejects_truncated_der(ca: trustme.CA) -> None:
    """Truncated DER raises the reader's own error."""
    der = first_certificate(ca.issue_cert("x.example.com").cert_chain_pems[0].bytes())
    with pytest.raises(CertificateFormatError):
        parse_certificate(der[: len(der) // 2])


# --- checklist -------------------------------------------------------------------------------


def facts(tmp_path: Path, **changes: object) -> SetupFacts:
    """Setup facts for one charger with a password, TLS on."""
    base = SetupFacts(
        ssl=True,
        ssl_dir=tmp_path / "ssl",
        certfile="fullchain.pem",
        keyfile="privkey.pem",
        ocpp_port=9000,
        chargers=(("DE*BMW*E1", "Garage", True),),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def statuses(setup: dict[str, Any]) -> dict[str, str]:
    """Checklist key -> status."""
    return {item["key"]: item["status"] for item in setup["items"]}


def test_checklist_url_uses_the_certificate_hostname(ca: trustme.CA, tmp_path: Path) -> None:
    """The URL for the installer app is wss://<cert hostname>:<port>/<id>."""
    write_cert(tmp_path / "ssl", ca.issue_cert("wallbox.example.com"))
    f = facts(tmp_path)
    setup = build_setup(f, read_cert_info(f.cert_path, f.key_path), now=NOW)
    assert setup["chargers"] == [
        {
            "id": "DE*BMW*E1",
            "name": "Garage",
            "password": True,
            "url": "wss://wallbox.example.com:9000/DE*BMW*E1",
            "entity_ids": [],
        }
    ]
    assert statuses(setup) == {
        "tls": "ok",
        "cert_file": "ok",
        "key_file": "ok",
        "names": "ok",
        "issuer": "ok",
        "trusted": "warn",
        "expiry": "ok",
        "port": "info",
        "chargers": "ok",
        "entities": "info",
    }


def test_checklist_fails_on_missing_cert(tmp_path: Path) -> None:
    """A missing certificate fails the checklist and the URL has a placeholder host."""
    f = facts(tmp_path)
    setup = build_setup(f, read_cert_info(f.cert_path, f.key_path), now=NOW)
    assert statuses(setup)["cert_file"] == "fail"
    assert setup["host"] == HOST_PLACEHOLDER


def test_checklist_flags_self_signed_and_ip_only(tmp_path: Path) -> None:
    """Self-signed and IP-only certificates fail, as the wallbox refuses both."""
    self_signed(tmp_path / "ssl", "192.168.1.20")
    f = facts(tmp_path)
    result = statuses(build_setup(f, read_cert_info(f.cert_path, f.key_path), now=NOW))
    assert (result["issuer"], result["names"]) == ("fail", "fail")


@pytest.mark.parametrize(
    ("days_left", "status"), [(90, "ok"), (10, "warn"), (-1, "fail")], ids=["valid", "soon", "expired"]
)
def test_checklist_expiry(tmp_path: Path, days_left: int, status: str) -> None:
    """Expiry is ok, a warning within 14 days, and a failure once past."""
    self_signed(tmp_path / "ssl", "wallbox.example.com")
    f = facts(tmp_path)
    cert = read_cert_info(f.cert_path, f.key_path)
    assert cert.not_after is not None
    now = cert.not_after - timedelta(days=days_left)
    assert statuses(build_setup(f, cert, now=now))["expiry"] == status


def test_checklist_without_tls_warns_and_uses_ws(tmp_path: Path) -> None:
    """With option ssl off the checklist warns and the URL is ws://."""
    setup = build_setup(facts(tmp_path, ssl=False), None, now=NOW)
    assert statuses(setup)["tls"] == "warn"
    assert setup["chargers"][0]["url"].startswith("ws://")


def test_checklist_without_chargers_fails(tmp_path: Path) -> None:
    """No configured charger is a failure."""
    assert statuses(build_setup(facts(tmp_path, ssl=False, chargers=()), None, now=NOW))["chargers"] == "fail"


def test_wildcard_host_is_made_concrete(ca: trustme.CA, tmp_path: Path) -> None:
    """A wildcard certificate gives a concrete example hostname."""
    cert_path, key_path = write_cert(tmp_path / "ssl", ca.issue_cert("*.home.example"))
    assert connect_host(read_cert_info(cert_path, key_path)) == "wallbox.home.example"


# --- power history ---------------------------------------------------------------------------


class Clock:
    """A settable clock in seconds."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def reading(state: ChargerState, watts: float, clock: Clock) -> None:
    """Give the charger a new power reading at the clock's time."""
    at = datetime.fromtimestamp(clock.now, UTC)
    state.meter_values(1, [SampledValue(measurand="Power.Active.Import", value=watts)], at=at, now=at)


def test_history_adds_a_point_per_new_reading() -> None:
    """Each new reading is one point; an unchanged state adds none."""
    clock = Clock()
    history = PowerHistory(clock=clock)
    state = ChargerState(charger_id="c", name="c", max_current_a=16, connected=True)
    reading(state, 1000, clock)
    assert history.observe(state) is True
    assert history.observe(state) is False
    clock.now += 10
    reading(state, 2000, clock)
    history.observe(state)
    assert history.points("c") == [(1_000_000_000.0, 1000.0), (1_000_010_000.0, 2000.0)]
    assert history.points("c", after_ms=1_000_000_000.0) == [(1_000_010_000.0, 2000.0)]


def test_history_marks_a_gap_when_offline() -> None:
    """Going offline adds one gap point (None)."""
    clock = Clock()
    history = PowerHistory(clock=clock)
    state = ChargerState(charger_id="c", name="c", max_current_a=16, connected=True)
    reading(state, 1000, clock)
    history.observe(state)
    state.connected = False
    clock.now += 1
    history.observe(state)
    clock.now += 1
    state.last_seen = NOW
    history.observe(state)
    assert [w for _, w in history.points("c")] == [1000.0, None]


def test_history_forgets_points_older_than_an_hour() -> None:
    """Points older than the window are dropped."""
    clock = Clock()
    history = PowerHistory(clock=clock)
    state = ChargerState(charger_id="c", name="c", max_current_a=16, connected=True)
    for _ in range(5):
        reading(state, 500, clock)
        history.observe(state)
        clock.now += 1000
    assert [t for t, _ in history.points("c")] == [1_002_000_000.0, 1_003_000_000.0, 1_004_000_000.0]


def test_checklist_names_the_mqtt_broker_and_its_state(tmp_path: Path) -> None:
    """With MQTT the checklist says which broker carries the entities and whether it is connected."""
    connected = build_setup(
        facts(
            tmp_path,
            ssl=False,
            entities_via="mqtt",
            mqtt_broker="mqtt://core-mosquitto:1883 (x)",
            mqtt_state="connected",
        ),
        None,
        now=NOW,
    )
    lost = build_setup(facts(tmp_path, ssl=False, entities_via="mqtt", mqtt_state="unreachable"), None, now=NOW)
    item = next(i for i in connected["items"] if i["key"] == "entities")
    assert (item["status"], item["title"]) == (
        "ok",
        "Entities through MQTT: broker mqtt://core-mosquitto:1883 (x) connected",
    )
    assert statuses(lost)["entities"] == "fail"


def test_setup_lists_each_chargers_entity_ids(tmp_path: Path) -> None:
    """The setup report carries each charger's entity ids, for the panel to show."""
    f = facts(
        tmp_path, ssl=False, entity_ids=(("DE*BMW*E1", ("sensor.garage_power", "switch.garage_charging_enabled")),)
    )
    setup = build_setup(f, None, now=NOW)
    assert setup["chargers"][0]["entity_ids"] == ["sensor.garage_power", "switch.garage_charging_enabled"]

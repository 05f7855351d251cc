"""What the certificate in the ssl folder says, for the panel's setup checklist.

Only the standard library: a small DER reader takes the names, the issuer and
the validity out of the first certificate of the chain file, ``ssl`` checks
that the key belongs to it, and an in-memory TLS handshake against the
system's trusted roots tells whether a wallbox that checks the chain (the BMW
one does and refuses self-signed certificates) will accept it. Nothing here
raises for a missing or broken file: the answer says what is wrong.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import ssl
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.DOTALL)
_OID_COMMON_NAME = "2.5.4.3"
_OID_ORGANIZATION = "2.5.4.10"
_OID_SUBJECT_ALT_NAME = "2.5.29.17"


class CertificateFormatError(ValueError):
    """The file holds no certificate this reader understands."""


@dataclass(frozen=True, kw_only=True)
class CertInfo:
    """The certificate and key files as found; ``error`` says what is wrong, if anything."""

    cert_path: str
    key_path: str
    cert_found: bool
    key_found: bool
    subject: str | None = None
    names: list[str] = field(default_factory=list)
    issuer: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    self_signed: bool | None = None
    key_matches: bool | None = None
    trusted: bool | None = None
    trust_error: str | None = None
    error: str | None = None

    @property
    def hostnames(self) -> list[str]:
        """The DNS names (no IP addresses) the certificate is valid for, in its order."""
        return [name for name in self.names if not _is_ip(name)]

    def to_json(self) -> dict[str, Any]:
        """The JSON form for the panel."""
        return {
            "cert_path": self.cert_path,
            "key_path": self.key_path,
            "cert_found": self.cert_found,
            "key_found": self.key_found,
            "subject": self.subject,
            "names": self.names,
            "hostnames": self.hostnames,
            "issuer": self.issuer,
            "not_before": self.not_before.isoformat() if self.not_before else None,
            "not_after": self.not_after.isoformat() if self.not_after else None,
            "self_signed": self.self_signed,
            "key_matches": self.key_matches,
            "trusted": self.trusted,
            "trust_error": self.trust_error,
            "error": self.error,
        }


def read_cert_info(cert_path: Path, key_path: Path, *, cafile: Path | None = None) -> CertInfo:
    """Read the chain file and the key; ``cafile`` replaces the system roots for the trust check (tests)."""
    info = CertInfo(
        cert_path=str(cert_path), key_path=str(key_path), cert_found=cert_path.is_file(), key_found=key_path.is_file()
    )
    if not info.cert_found:
        return info
    try:
        details = parse_certificate(first_certificate(cert_path.read_bytes()))
    except (OSError, CertificateFormatError) as err:
        return replace(info, error=f"cannot read {cert_path.name}: {err}")
    info = replace(info, **details)
    if info.key_found:
        info = replace(info, key_matches=_key_matches(cert_path, key_path))
    if info.key_matches:
        trusted, why = _trusted(cert_path, key_path, info.hostnames, cafile)
        info = replace(info, trusted=trusted, trust_error=why)
    return info


def first_certificate(pem_or_der: bytes) -> bytes:
    """The DER bytes of the first certificate in a PEM chain (or of a DER file)."""
    match = _PEM_CERT.search(pem_or_der)
    if match is None:
        if pem_or_der[:1] == b"\x30":
            return pem_or_der
        raise CertificateFormatError("no PEM certificate in the file")
    try:
        return base64.b64decode(b"".join(match.group(1).split()), validate=True)
    except ValueError as err:
        raise CertificateFormatError("the PEM certificate is not valid base64") from err


def parse_certificate(der: bytes) -> dict[str, Any]:
    """Subject, names (SAN DNS names and IP addresses), issuer and validity of an X.509 certificate in DER."""
    try:
        tbs = _children(_one(der, 0x30))[0]
        fields = _children(tbs[1])
        if fields and fields[0][0] == 0xA0:  # explicit version tag
            fields = fields[1:]
        issuer, validity, subject = fields[2], fields[3], fields[4]
        not_before, not_after = (_time(tag, value) for tag, value in _children(validity[1]))
        subject_attrs, issuer_attrs = _name(subject[1]), _name(issuer[1])
        names: list[str] = []
        for tag, value in fields[6:]:
            if tag == 0xA3:  # extensions
                names = _subject_alt_names(_children(value)[0][1])
    except (IndexError, ValueError) as err:
        raise CertificateFormatError(f"not an X.509 certificate ({err})") from err
    common_name = subject_attrs.get(_OID_COMMON_NAME)
    if not names and common_name:
        names = [common_name]
    return {
        "subject": common_name or subject_attrs.get(_OID_ORGANIZATION) or _describe(subject_attrs),
        "names": names,
        "issuer": _describe(issuer_attrs),
        "not_before": not_before,
        "not_after": not_after,
        "self_signed": subject[1] == issuer[1],
    }


# --- DER ---------------------------------------------------------------------------------


def _read(data: bytes, offset: int) -> tuple[int, bytes, int]:
    """One TLV at ``offset``: (tag, value, offset after it)."""
    tag = data[offset]
    length = data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise ValueError("unsupported length")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    end = offset + length
    if end > len(data):
        raise ValueError("truncated")
    return tag, data[offset:end], end


def _one(data: bytes, tag: int) -> bytes:
    found, value, _ = _read(data, 0)
    if found != tag:
        raise ValueError(f"expected tag {tag:#x}, found {found:#x}")
    return value


def _children(data: bytes) -> list[tuple[int, bytes]]:
    items: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data):
        tag, value, offset = _read(data, offset)
        items.append((tag, value))
    return items


def _oid(value: bytes) -> str:
    parts = [value[0] // 40, value[0] % 40]
    number = 0
    for byte in value[1:]:
        number = (number << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(number)
            number = 0
    return ".".join(str(p) for p in parts)


def _text(tag: int, value: bytes) -> str:
    if tag == 0x1E:  # BMPString
        return value.decode("utf-16-be", "replace")
    return value.decode("utf-8", "replace")


def _name(value: bytes) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for _set_tag, rdn in _children(value):
        for _seq_tag, pair in _children(rdn):
            (_, oid), (tag, text) = _children(pair)[:2]
            attrs.setdefault(_oid(oid), _text(tag, text))
    return attrs


def _describe(attrs: dict[str, str]) -> str:
    """A readable name: ``CN (O)`` when both exist."""
    common, org = attrs.get(_OID_COMMON_NAME), attrs.get(_OID_ORGANIZATION)
    if common and org and org != common:
        return f"{common} ({org})"
    return common or org or ", ".join(attrs.values()) or "(empty)"


def _time(tag: int, value: bytes) -> datetime:
    text = value.decode("ascii")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, years 1950..2049
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def _subject_alt_names(extensions: bytes) -> list[str]:
    for _tag, extension in _children(extensions):
        parts = _children(extension)
        if _oid(parts[0][1]) != _OID_SUBJECT_ALT_NAME:
            continue
        names: list[str] = []
        for tag, value in _children(_one(parts[-1][1], 0x30)):
            if tag == 0x82:  # dNSName
                names.append(value.decode("ascii", "replace"))
            elif tag == 0x87:  # iPAddress
                names.append(str(ipaddress.ip_address(value)))
        return names
    return []


# --- checks ------------------------------------------------------------------------------


def _key_matches(cert_path: Path, key_path: Path) -> bool:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_path, key_path)
    except (ssl.SSLError, OSError):
        return False
    return True


def _trusted(cert_path: Path, key_path: Path, hostnames: list[str], cafile: Path | None) -> tuple[bool, str | None]:
    """Shake hands in memory as a client that trusts the system roots would; (ok, why not)."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_path, key_path)
    client_context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    hostname = next((h.replace("*", "wallbox", 1) for h in hostnames), None)
    if hostname is None:
        client_context.check_hostname = False
    buffers = [ssl.MemoryBIO() for _ in range(4)]
    client = client_context.wrap_bio(buffers[0], buffers[1], server_hostname=hostname)
    server = server_context.wrap_bio(buffers[2], buffers[3], server_side=True)
    pending = {client: True, server: True}
    for _round in range(10):
        for side in (client, server):
            if not pending[side]:
                continue
            try:
                side.do_handshake()
                pending[side] = False
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLCertVerificationError as err:
                return False, str(err.verify_message or err.reason)
            except ssl.SSLError as err:
                return False, str(err.reason or err)
        buffers[2].write(buffers[1].read())
        buffers[0].write(buffers[3].read())
        if not pending[client]:
            return True, None
    return False, "the handshake did not finish"


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True

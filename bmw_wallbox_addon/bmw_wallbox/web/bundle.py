"""The support bundle: ``GET /api/support_bundle`` returns one zip a user attaches to a bug report.

It holds the add-on's version, the options and the state files of the data
dir, the last trace frames and log lines, the setup checklist and each
charger's snapshot (the ``GET /api/chargers/{id}`` view). Every secret is
masked, with the add-on's one masking (:mod:`bmw_wallbox.masking`,
:mod:`bmw_wallbox.logsafe`, :mod:`bmw_wallbox.tokenvalues`):

- passwords (chargers, MQTT, an upstream CSMS), the MQTT and upstream user
  names, the Home Assistant token, the tokens of one-time transfer URLs: ``***``;
- idTokens (the ``id_token`` option, the token list, cards presented):
  only their last four characters (:func:`bmw_wallbox.tokenvalues.mask`);
- values of secret device-model variables (``BasicAuthPassword`` ...) and of
  secret keys in frames: ``***``.

JSON documents are masked by their structure first (any key that names a
password, secret or user), then every text in the zip goes through
:func:`redact`, which replaces each known secret value wherever it stands.
State files larger than ``MAX_STATE_FILE_BYTES`` are listed, not included.
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bmw_wallbox.hub import StateHub
from bmw_wallbox.logbuffer import LogBuffer
from bmw_wallbox.logsafe import mask_text
from bmw_wallbox.masking import MASK, mask_secrets, secret_variable
from bmw_wallbox.state import utcnow
from bmw_wallbox.tokenvalues import mask as mask_token
from bmw_wallbox.trace import Trace
from bmw_wallbox.web.views import charger_detail

#: State files bigger than this (bytes) are named in the bundle but not included.
MAX_STATE_FILE_BYTES = 2 * 1024 * 1024
#: State files included at most.
MAX_STATE_FILES = 100
#: Trace frames and log lines included (newest).
TRACE_FRAMES = 500
LOG_LINES = 1000
#: Folders of the data dir that hold charger uploads and firmware files, not state: left out.
SKIPPED_FOLDERS = frozenset({"maintenance"})
#: Option keys whose values are credentials wherever they stand (``user`` as in ``mqtt.user``).
_CREDENTIAL_KEYS = ("password", "secret", "user", "username", "credential")
#: Keys that hold an idToken: kept to their last four characters.
_TOKEN_KEYS = frozenset({"id_token"})

_README = """BMW Wallbox app support bundle

version.txt     the app's version and when the bundle was made
options.json    the app's options, secrets masked
state/          the state files of the data folder, secrets masked
chargers.json   each charger's snapshot as the panel shows it
setup.json      the setup checklist
trace.json      the last OCPP frames, newest first, secrets masked
log.txt         the last log lines, oldest first, secrets masked

Passwords, user names and tokens are masked (idTokens keep their last four characters).
"""


@dataclass(frozen=True, kw_only=True)
class BundleSources:
    """Where the bundle's parts come from; ``passwords`` and ``token_ids`` list the secret values to mask now."""

    version: str
    options: Callable[[], dict[str, Any]]
    data_dir: Path
    hub: StateHub
    trace: Trace
    logs: LogBuffer
    setup: Callable[[], Awaitable[dict[str, Any]]]
    passwords: Callable[[], list[str]]
    token_ids: Callable[[], list[str]]


def redact(text: str, *, passwords: list[str], token_ids: list[str]) -> str:
    """``text`` with each known token id cut to its last four characters and each known password ``***``.

    Token ids go first (longest first), then the passwords, so a password
    that contains a token id still disappears (as :func:`~bmw_wallbox.logsafe.mask_text`
    does, values shorter than 3 characters are left).
    """
    for token in sorted((t for t in token_ids if len(t) >= 3), key=len, reverse=True):
        text = text.replace(token, mask_token(token))
    for password in sorted((p for p in passwords if len(p) >= 3), key=len, reverse=True):
        text = text.replace(password, MASK)
    return text


def masked_json(value: Any) -> Any:
    """A JSON document with secret keys' values masked: credentials ``***``, idTokens to their last four."""
    if isinstance(value, list):
        return [masked_json(item) for item in value]
    if not isinstance(value, dict):
        return value
    masked: dict[str, Any] = {}
    for key, item in mask_secrets(value).items():
        lowered = str(key).lower()
        if isinstance(item, (dict, list)):
            masked[key] = masked_json(item)
        elif item is None or isinstance(item, bool):
            masked[key] = item
        elif any(word in lowered for word in _CREDENTIAL_KEYS) or secret_variable(str(key)):
            masked[key] = MASK
        elif key in _TOKEN_KEYS and isinstance(item, str):
            masked[key] = mask_token(item)
        else:
            masked[key] = item
    return masked


def credential_values(value: Any) -> list[str]:
    """Every text under a credential key (password, secret, user ...) in a JSON document: secrets to mask."""
    if isinstance(value, list):
        return [found for item in value for found in credential_values(item)]
    if not isinstance(value, dict):
        return []
    found: list[str] = []
    for key, item in value.items():
        if isinstance(item, (dict, list)):
            found += credential_values(item)
        elif isinstance(item, str) and any(word in str(key).lower() for word in _CREDENTIAL_KEYS):
            found.append(item)
    return found


def _state_files(data_dir: Path) -> list[Path]:
    """The JSON files of the data dir (not those of the skipped folders), sorted, at most ``MAX_STATE_FILES``."""
    try:
        found = sorted(
            p
            for p in data_dir.rglob("*.json")
            if p.is_file() and not SKIPPED_FOLDERS.intersection(p.relative_to(data_dir).parts[:1])
        )
    except OSError:
        return []
    return found[:MAX_STATE_FILES]


def _state_text(path: Path) -> str:
    """A state file's text with its secret keys masked (a file that is not JSON is masked as text only)."""
    try:
        if path.stat().st_size > MAX_STATE_FILE_BYTES:
            return f"(left out: larger than {MAX_STATE_FILE_BYTES} bytes)\n"
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        return f"(cannot be read: {err.strerror})\n"
    try:
        return json.dumps(masked_json(json.loads(text)), indent=1, sort_keys=True)
    except (ValueError, RecursionError):
        return text


def build_zip(parts: dict[str, str], *, passwords: list[str], token_ids: list[str]) -> bytes:
    """The zip of ``parts`` (name -> text), every name and text through :func:`redact`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            safe_name = redact(name, passwords=passwords, token_ids=token_ids)
            archive.writestr(safe_name, redact(text, passwords=passwords, token_ids=token_ids))
    return buffer.getvalue()


def _state_parts(data_dir: Path) -> dict[str, str]:
    return {f"state/{p.relative_to(data_dir).as_posix()}": _state_text(p) for p in _state_files(data_dir)}


async def support_bundle(sources: BundleSources) -> bytes:
    """Collect every part (the files in a worker thread) and zip them, masked."""
    now = utcnow()
    parts: dict[str, str] = {
        "README.txt": _README,
        "version.txt": f"{sources.version}\nmade at {now.isoformat()}\n",
        "options.json": json.dumps(masked_json(sources.options()), indent=1, sort_keys=True),
        "chargers.json": json.dumps([charger_detail(c) for c in sources.hub.chargers.values()], indent=1),
        "setup.json": json.dumps(await sources.setup(), indent=1),
        "trace.json": json.dumps([e.to_json() for e in sources.trace.entries()[:TRACE_FRAMES]], indent=1),
        "log.txt": mask_text(
            "".join(
                f"{line.at.isoformat()} {line.level} {line.logger}: {line.message}\n"
                for line in sources.logs.lines(limit=LOG_LINES)
            ),
            sources.passwords(),
        ),
    }
    passwords, token_ids = sources.passwords(), sources.token_ids()
    state = await asyncio.to_thread(_state_parts, sources.data_dir)
    return await asyncio.to_thread(build_zip, {**parts, **state}, passwords=passwords, token_ids=token_ids)


def install_bundle(app: web.Application, sources: BundleSources) -> None:
    """Serve ``GET /api/support_bundle`` on the panel's application."""

    async def get_bundle(request: web.Request) -> web.Response:
        """``GET /api/support_bundle``: the zip, as a download named after the time it was made."""
        body = await support_bundle(sources)
        name = f"bmw-wallbox-support-{utcnow().strftime('%Y%m%d-%H%M%S')}.zip"
        return web.Response(
            body=body,
            content_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )

    app.router.add_get("/api/support_bundle", get_bundle)

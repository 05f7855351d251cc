"""Problems found at start that the add-on can report but not fix, each as one clear sentence.

An expired (or not yet valid) certificate would otherwise show only on the
panel's checklist while the wallbox silently refuses the connection, and a data
dir that cannot be written would start fine and fail at every save. The
composition root calls :func:`report_at_start`, which logs each problem once,
as a WARNING.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path

from bmw_wallbox.certinfo import CertificateFormatError, first_certificate, parse_certificate

_LOGGER = logging.getLogger(__name__)


def report_at_start(*, cert_path: Path | None, data_dir: Path, now: datetime) -> str | None:
    """Log the certificate (None: TLS off) and data dir problems; return the data dir's, for the checklist."""
    problems = [certificate_problem(cert_path, now=now) if cert_path is not None else None, data_dir_problem(data_dir)]
    for problem in problems:
        if problem:
            _LOGGER.warning("%s", problem)
    return problems[1]


def certificate_problem(cert_path: Path, *, now: datetime) -> str | None:
    """Why the certificate in ``cert_path`` is not valid at ``now``, or None (also when it cannot be read)."""
    try:
        details = parse_certificate(first_certificate(cert_path.read_bytes()))
    except (OSError, CertificateFormatError):
        return None  # the TLS context refuses unreadable files with its own message
    not_before: datetime = details["not_before"]
    not_after: datetime = details["not_after"]
    if now >= not_after:
        return (
            f"The certificate {cert_path} expired on {not_after.date().isoformat()}: the wallbox refuses to connect. "
            "Renew it and restart the app"
        )
    if now < not_before:
        return (
            f"The certificate {cert_path} is not valid before {not_before.date().isoformat()}: the wallbox refuses "
            "to connect until then. Check the clock of the host"
        )
    return None


def data_dir_problem(data_dir: Path) -> str | None:
    """Why nothing can be saved in ``data_dir`` (a probe file is written and removed), or None."""
    probe = data_dir / f".write-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        return (
            f"Data dir {data_dir} is not writable ({err.strerror}): charger state, sessions and unknown ids "
            "will not be saved"
        )
    return None

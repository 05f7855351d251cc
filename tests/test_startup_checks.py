"""What the add-on can report but not fix is logged once at start: certificate dates, a read-only data dir."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme

from bmw_wallbox.web.checklist import SetupFacts, build_setup

from conftest import StartApp, api_get

NOW = datetime.now(UTC)


def write_cert(folder: Path, ca: trustme.CA, *, not_before: datetime, not_after: datetime) -> None:
    """fullchain.pem and privkey.pem for localhost with the given validity."""
    folder.mkdir(exist_ok=True)
    cert = ca.issue_cert("localhost", not_before=not_before, not_after=not_after)
    cert.private_key_pem.write_to_path(str(folder / "privkey.pem"))
    (folder / "fullchain.pem").write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The WARNING lines of the start-up checks."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "bmw_wallbox.startup_checks" and r.levelno == logging.WARNING
    ]


@pytest.mark.parametrize(
    ("not_before", "not_after", "fragment"),
    [
        pytest.param(NOW - timedelta(days=100), NOW - timedelta(days=10), "expired on", id="expired"),
        pytest.param(NOW + timedelta(days=2), NOW + timedelta(days=100), "is not valid before", id="not-yet-valid"),
    ],
)
async def test_unusable_certificate_dates_are_a_warning_at_start(
    start_app: StartApp,
    ca: trustme.CA,
    ssl_dir: Path,
    caplog: pytest.LogCaptureFixture,
    not_before: datetime,
    not_after: datetime,
    fragment: str,
) -> None:
    """A certificate outside its validity starts the add-on with one WARNING that names the file and the date."""
    write_cert(ssl_dir, ca, not_before=not_before, not_after=not_after)
    with caplog.at_level(logging.WARNING):
        await start_app()
    [line] = [w for w in warnings(caplog) if "certificate" in w]
    assert f"{ssl_dir / 'fullchain.pem'} {fragment}" in line
    assert "the wallbox refuses" in line


async def test_valid_certificate_gives_no_warning(start_app: StartApp, caplog: pytest.LogCaptureFixture) -> None:
    """The test certificate (valid now) starts without a certificate warning."""
    with caplog.at_level(logging.WARNING):
        await start_app()
    assert [w for w in warnings(caplog) if "certificate" in w] == []


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A data dir nobody may write to (made immutable when the tests run as root, who ignores permissions)."""
    folder = tmp_path / "read-only-data"
    folder.mkdir()
    root = os.geteuid() == 0
    chattr = shutil.which("chattr")
    if root:
        if chattr is None or subprocess.run([chattr, "+i", str(folder)], check=False, capture_output=True).returncode:
            pytest.skip("cannot make a folder read-only for root here (chattr +i)")
    else:
        folder.chmod(0o555)
    yield folder
    if root:
        assert chattr is not None
        subprocess.run([chattr, "-i", str(folder)], check=True)
    else:
        folder.chmod(0o755)


async def test_read_only_data_dir_is_a_warning_and_a_checklist_item(
    start_app: StartApp, read_only_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A data dir that cannot be written starts the add-on with one WARNING and a failed checklist item."""
    with caplog.at_level(logging.WARNING):
        app = await start_app(data_dir=read_only_dir)
    [line] = [w for w in warnings(caplog) if "Data dir" in w]
    assert line.startswith(f"Data dir {read_only_dir} is not writable (")
    assert "will not be saved" in line
    setup = await api_get(app, "/api/setup")
    item = next(i for i in setup["items"] if i["key"] == "data_dir")
    assert item["status"] == "fail"


async def test_writable_data_dir_gives_no_warning(start_app: StartApp, caplog: pytest.LogCaptureFixture) -> None:
    """A writable data dir gives no warning and leaves no probe file behind."""
    with caplog.at_level(logging.WARNING):
        app = await start_app()
    assert [w for w in warnings(caplog) if "Data dir" in w] == []
    assert [p.name for p in app.settings.data_dir.iterdir() if p.name.startswith(".")] == []


def test_checklist_lists_the_data_dir_only_when_it_fails(tmp_path: Path) -> None:
    """The checklist shows the data dir item only when it cannot be written."""
    facts = SetupFacts(ssl=False, ssl_dir=tmp_path, certfile="c", keyfile="k", ocpp_port=9000, chargers=())
    assert "data_dir" not in [i["key"] for i in build_setup(facts, None, now=NOW)["items"]]
    failing = SetupFacts(
        ssl=False,
        ssl_dir=tmp_path,
        certfile="c",
        keyfile="k",
        ocpp_port=9000,
        chargers=(),
        data_dir_problem="Data dir /data is not writable (Read-only file system)",
    )
    [item] = [i for i in build_setup(failing, None, now=NOW)["items"] if i["key"] == "data_dir"]
    assert (item["status"], item["title"]) == ("fail", "Data dir /data is not writable (Read-only file system)")

# ruff: noqa: S607 - a test harness: runs pyenv and pip on this machine
"""Home Assistant Core for tests, installed once into a cached venv.

``ensure_installed()`` builds ``~/.cache/bmw-wallbox/ha-<version>/venv`` with the
Python 3.13.0 that pyenv has on these machines (``$BMW_WALLBOX_HA_PYTHON``
overrides it, ``$BMW_WALLBOX_CACHE`` moves the cache), installs Home Assistant
Core and the requirements of every integration the test configuration loads,
starts it once so that anything still missing is installed then, and only after
all that writes the marker file. A file lock keeps parallel runs from building
the same venv twice. The first build takes about five minutes and 800 MB; later
runs reuse it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from ha_process import HomeAssistantCore, HomeAssistantStartError, clean_env, run_sync

HA_VERSION = "2025.4.4"
CACHE_ROOT = Path(os.environ.get("BMW_WALLBOX_CACHE", Path.home() / ".cache" / "bmw-wallbox"))
HA_DIR = CACHE_ROOT / f"ha-{HA_VERSION}"
VENV = HA_DIR / "venv"
MARKER = HA_DIR / "installed"
LOCK = CACHE_ROOT / f"ha-{HA_VERSION}.lock"

#: Integrations the test configuration names (besides the ones Core always loads).
CONFIGURED = ("http", "recorder", "history", "api", "websocket_api", "onboarding", "auth", "sensor", "binary_sensor")
#: What HA 2025.4 sets up even with a minimal configuration (``bootstrap.DEFAULT_INTEGRATIONS`` and stage 0).
ALWAYS = (
    "homeassistant", "persistent_notification", "isal", "logger", "network", "system_log", "frontend",
    "analytics", "application_credentials", "backup", "hardware", "system_health", "automation", "person",
    "scene", "script", "tag", "zone", "counter", "input_boolean", "input_button", "input_datetime",
    "input_number", "input_select", "input_text", "schedule", "timer", "mqtt",
)  # fmt: skip

#: Collects the pip requirements of the integrations above and their dependencies, run inside the HA venv.
_REQUIREMENTS_SCRIPT = """
import json, pathlib, sys
import homeassistant.components as components
root = pathlib.Path(components.__path__[0])
todo, seen, reqs = list(sys.argv[1:]), set(), []
while todo:
    domain = todo.pop()
    if domain in seen or not (root / domain / "manifest.json").exists():
        continue
    seen.add(domain)
    manifest = json.loads((root / domain / "manifest.json").read_text())
    reqs += manifest.get("requirements", [])
    todo += manifest.get("dependencies", [])
print("\\n".join(sorted(set(reqs))))
"""


def base_python() -> Path:
    """The interpreter for the HA venv: ``$BMW_WALLBOX_HA_PYTHON``, pyenv's 3.13.0, or this one if it is 3.13."""
    if override := os.environ.get("BMW_WALLBOX_HA_PYTHON"):
        return Path(override)
    pyenv_root = os.environ.get("PYENV_ROOT")
    if not pyenv_root and shutil.which("pyenv"):
        pyenv_root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
    candidate = Path(pyenv_root or Path.home() / ".pyenv") / "versions" / "3.13.0" / "bin" / "python3"
    if candidate.exists():
        return candidate
    if sys.version_info[:2] == (3, 13):
        return Path(sys.executable)
    raise HomeAssistantStartError(f"no Python 3.13 for Home Assistant {HA_VERSION}: {candidate} is missing")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pip(*args: str) -> None:
    subprocess.run(
        [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
        check=True,
        env=clean_env(),
    )


async def _warm_up(hass: Path) -> None:
    """Start Core once, so it installs whatever the manifests did not name and test runs never reach for PyPI."""
    async with HomeAssistantCore(hass, HA_DIR / "warmup").running():
        pass


def ensure_installed() -> Path:
    """Install Home Assistant Core into the cached venv unless the marker says it is there; return ``hass``."""
    hass = VENV / "bin" / "hass"
    if MARKER.exists():
        return hass
    with _file_lock(LOCK):
        if MARKER.exists():
            return hass
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([str(base_python()), "-m", "venv", str(VENV)], check=True, env=clean_env())
        _pip(f"homeassistant=={HA_VERSION}")
        found = subprocess.run(
            [str(VENV / "bin" / "python"), "-c", _REQUIREMENTS_SCRIPT, *CONFIGURED, *ALWAYS],
            capture_output=True, text=True, check=True, env=clean_env(),
        )  # fmt: skip
        requirements = found.stdout.split()
        constraints = next(VENV.glob("lib/python3*/site-packages/homeassistant/package_constraints.txt"))
        _pip("-c", str(constraints), *requirements)
        run_sync(_warm_up(hass))
        shutil.rmtree(HA_DIR / "warmup", ignore_errors=True)
        MARKER.write_text(f"Home Assistant {HA_VERSION}\n")
    return hass


#: The requirement of Home Assistant 2025.4.4's MQTT integration (its manifest), installed into the cached venv.
PAHO = "paho-mqtt==2.1.0"


def ensure_mqtt_requirement() -> None:
    """Install the MQTT integration's requirement into Home Assistant's venv once (test runs never need PyPI later)."""
    python = str(VENV / "bin" / "python")
    if subprocess.run([python, "-c", "import paho.mqtt"], env=clean_env(), check=False).returncode == 0:
        return
    constraints = next(VENV.glob("lib/python3*/site-packages/homeassistant/package_constraints.txt"))
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-c", str(constraints), PAHO],
        check=True,
        env=clean_env(),
    )

# ruff: noqa: S103, S607 - a test harness: runs Debian's mosquitto on 127.0.0.1
"""A real Mosquitto broker for tests: Debian's ``mosquitto``, on 127.0.0.1 and a free port, with a password.

:class:`Mosquitto` writes its config and password file (``mosquitto_passwd``)
into a folder of its own under ``/tmp``. Started as root, mosquitto drops to
the ``mosquitto`` user, so that folder belongs to that user and is reachable
(``/tmp`` is; pytest's ``tmp_path`` is not). Retained messages persist across
:meth:`Mosquitto.restart` (``persistence true``), as with the broker app.

:class:`Watcher` is a plain MQTT client (aiomqtt) that collects what it sees,
for tests that look at the broker from outside (as Home Assistant or evcc would).

The ``mosquitto`` fixture (session scope) is loaded with
``pytest_plugins = ["mosquitto"]``; ``make test`` installs the Debian package.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from helpers import free_port

USER = "addon"
PASSWORD = "broker-pass-4321"


class MosquittoMissingError(RuntimeError):
    """Debian's mosquitto is not installed (``make test`` installs it)."""


class Mosquitto:
    """One mosquitto process with its own folder, port and password file."""

    def __init__(self, *, port: int | None = None) -> None:
        if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
            raise MosquittoMissingError("mosquitto is not installed: apt-get install mosquitto (make test does)")
        self.port = port or free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="bmw-wallbox-mosquitto-"))
        self.config = self.folder / "mosquitto.conf"
        self.log = self.folder / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._write_files()

    @property
    def url(self) -> str:
        """``mqtt://user:password@127.0.0.1:port`` (the form ``--mqtt-url`` takes)."""
        return f"mqtt://{USER}:{PASSWORD}@127.0.0.1:{self.port}"

    def _write_files(self) -> None:
        passwords = self.folder / "passwords"
        subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), USER, PASSWORD], check=True)
        data = self.folder / "data"
        data.mkdir()
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous false\n"
            f"password_file {passwords}\n"
            "persistence true\n"
            f"persistence_location {data}/\n"
            "autosave_interval 1\n"
            f"log_dest file {self.log}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )
        self.log.touch()
        os.chmod(self.folder, 0o755)
        if os.geteuid() == 0:  # mosquitto drops to this user and must read (and write) its folder
            for path in (self.folder, passwords, data, self.config, self.log):
                shutil.chown(path, "mosquitto", "mosquitto")

    def start(self, *, timeout_s: float = 10.0) -> None:
        """Start mosquitto and wait until its port accepts connections."""
        self._process = subprocess.Popen(
            ["mosquitto", "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise RuntimeError(f"mosquitto exited with {self._process.returncode}: {err}{self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout_s} s\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop mosquitto (SIGTERM: it saves the retained messages), then wait for it."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def restart(self) -> None:
        """Stop and start again on the same port, with the same retained messages."""
        self.stop()
        self.start()

    def log_tail(self, lines: int = 20) -> str:
        """The end of mosquitto's log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def remove(self) -> None:
        """Stop and delete the folder."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class Watcher:
    """A client that subscribes to topics and keeps the latest payload per topic (and every message in order)."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.latest: dict[str, str] = {}
        self.messages: list[tuple[str, str]] = []
        self._changed = asyncio.Condition()

    async def pump(self) -> None:
        async for message in self.client.messages:
            payload = message.payload
            text = payload.decode() if isinstance(payload, bytes | bytearray) else str(payload or "")
            async with self._changed:
                self.latest[message.topic.value] = text
                self.messages.append((message.topic.value, text))
                self._changed.notify_all()

    async def wait_for(self, topic: str, check: Any = lambda payload: True, *, timeout_s: float = 10.0) -> str:
        """The latest payload of ``topic`` once ``check(payload)`` holds; the last payload is in the timeout message."""
        try:
            async with asyncio.timeout(timeout_s), self._changed:
                while not (topic in self.latest and check(self.latest[topic])):
                    await self._changed.wait()
                return self.latest[topic]
        except TimeoutError:
            last = self.latest.get(topic)
            raise AssertionError(f"{topic} did not reach the expected payload; last: {last!r}") from None

    async def wait_for_sequence(self, topic: str, payloads: list[str], *, since: int, timeout_s: float = 10.0) -> None:
        """Wait until ``topic`` got ``payloads`` in this order (others between allowed) from message index ``since``."""

        def seen() -> list[str]:
            return [text for name, text in self.messages[since:] if name == topic]

        def arrived() -> bool:
            wanted = iter(payloads)
            target = next(wanted, None)
            for text in seen():
                if text == target:
                    target = next(wanted, None)
            return target is None

        try:
            async with asyncio.timeout(timeout_s), self._changed:
                while not arrived():
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"{topic} did not go through {payloads}; it got {seen()}") from None

    def json(self, topic: str) -> Any:
        """The latest payload of ``topic``, decoded."""
        return json.loads(self.latest[topic])

    async def publish(self, topic: str, payload: str, *, retain: bool = False) -> None:
        """Publish as another client would (Home Assistant, evcc)."""
        await self.client.publish(topic, payload, retain=retain)


@contextlib.asynccontextmanager
async def watching(broker: Mosquitto, *topics: str) -> AsyncIterator[Watcher]:
    """A :class:`Watcher` subscribed to ``topics`` for as long as the block runs."""
    async with aiomqtt.Client("127.0.0.1", broker.port, username=USER, password=PASSWORD) as client:
        watcher = Watcher(client)
        for topic in topics:
            await client.subscribe(topic)
        task = asyncio.create_task(watcher.pump())
        try:
            yield watcher
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[Mosquitto]:
    """A running broker on 127.0.0.1 that wants user ``addon`` with its password."""
    broker = Mosquitto()
    broker.start()
    yield broker
    broker.remove()

"""What reaches the log from the network: escaped and cut (no forged lines), and never a secret."""

from __future__ import annotations

import base64
import io
import itertools
import json
import logging
import re
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from ocpp.v201 import call as ocpp_call
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from bmw_wallbox.app import Application
from bmw_wallbox.logsafe import MASK, MAX_MESSAGE_CHARS, LogSafety, mask_text, shown

from conftest import AUTH_CHARGER_ID, CHARGER_ID, PASSWORD, StartApp, default_options
from helpers import eventually
from peer import library_charger, raw_socket

#: What every line of the add-on log starts with (cli.configure_logging's format).
LINE_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) \(")
ID_TOKEN_OPTION = "OPTION-TOKEN-77"
FORGED = "1999-01-01 00:00:00 WARNING (bmw_wallbox) forged"


# --- the helpers, without sockets ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("DE*BMW*E1", "DE*BMW*E1"),
        ("a\nb", "a\\nb"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("nul\x00", "nul\\x00"),
        ("line\u2028sep", "line\\u2028sep"),
        ("bidi\u202eevil", "bidi\\u202eevil"),
        ("x" * 100, "x" * 64 + "..."),
        (None, "None"),
        (7, "7"),
    ],
)
def test_shown_escapes_and_cuts(value: object, expected: str) -> None:
    """A network value is shown escaped repr-style (no raw control character) and cut at the limit."""
    assert shown(value, limit=64) == expected


def test_shown_cuts_before_escaping_grows_it() -> None:
    """A value of control characters cannot grow past the limit by being escaped."""
    assert len(shown("\x00" * 1000, limit=20)) <= 20 + len("...")


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ('{"idToken":{"idToken":"RFID 47 11","type":"ISO14443"}}', "RFID 47 11"),
        ("{'id_token': {'id_token': 'RFID-4711', 'type': 'Central'}}", "RFID-4711"),
        ('"additionalInfo":[{"additionalIdToken":"EXTRA-1","type":"x"}]', "EXTRA-1"),
        (
            '{"component":{"name":"SecurityCtrlr"},"variable":{"name":"BasicAuthPassword"},'
            '"variableAttribute":[{"type":"Actual","value":"hunter2-secret","mutability":"WriteOnly"}]}',
            "hunter2-secret",
        ),
        (
            "{'component': {'name': 'SecurityCtrlr'}, 'variable': {'name': 'BasicAuthPassword'}, "
            "'variable_attribute': [{'type': 'Actual', 'value': 'hunter2-secret'}]}",
            "hunter2-secret",
        ),
        ('{"variable":{"name":"BasicAuthPassword"},"attributeValue":"pw-set-1"}', "pw-set-1"),
        ('{"actualValue":"pw-event-1","variable":{"name":"BasicAuthPassword"}}', "pw-event-1"),
        ("< Authorization: Basic REUqQk1XKkUxOnNlY3JldA==", "REUqQk1XKkUxOnNlY3JldA=="),
        ("Event SecurityCtrlr.BasicAuthPassword = hunter2-event (Alerting)", "hunter2-event"),
        ("Event SecurityCtrlr.IdentityKey = key-material-1 (Alerting)", "key-material-1"),
    ],
)
def test_mask_text_hides_secret_keys_and_variables(text: str, hidden: str) -> None:
    """idTokens, Authorization headers and secret device-model variables are masked in any text form."""
    masked = mask_text(text)
    assert hidden not in masked
    assert MASK in masked


def test_mask_text_hides_a_value_cut_before_its_closing_quote() -> None:
    """A frame cut in the middle of an idToken still has the visible part masked."""
    assert (
        mask_text('[2,"x","Authorize",{"idToken":{"idToken":"RFID-47')
        == f'[2,"x","Authorize",{{"idToken":{{"idToken":"{MASK}"'
    )


def test_mask_text_takes_linear_time_on_hostile_text() -> None:
    """Thousands of keys with unterminated values are masked in well under a second."""
    text = 'token:"x ' * 20000
    started = time.monotonic()
    mask_text(text)
    assert time.monotonic() - started < 1.0


def test_mask_text_leaves_other_variables_alone() -> None:
    """Only the secret variable's value is masked, not the value of the variable after it."""
    text = (
        '[{"variable":{"name":"BasicAuthPassword"},"variableAttribute":[{"mutability":"WriteOnly"}]},'
        '{"component":{"name":"OCPPCommCtrlr"},"variable":{"name":"MessageTimeout"},"variableAttribute":[{"value":"30"}]}]'
    )
    assert '"value":"30"' in mask_text(text)


def test_filter_rewrites_message_and_traceback() -> None:
    """The filter masks known secrets and escapes control characters in the message and the traceback."""
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "got %s", ("pw-777\nforged",), None)
    try:
        raise ValueError("bad pw-777")
    except ValueError:
        record.exc_info = sys.exc_info()
    assert LogSafety(["pw-777"]).filter(record)
    formatted = logging.Formatter().format(record)
    assert "pw-777" not in formatted
    assert formatted.splitlines()[0] == f"got {MASK}\\nforged"


# --- the live add-on -------------------------------------------------------------------------------


@pytest.fixture
def log_text(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """The add-on log as the Supervisor shows it (a stream handler on the root logger with its format), at DEBUG."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s (%(name)s) %(message)s", "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.addHandler(handler)
    caplog.set_level(logging.DEBUG)
    for name in ("websockets", "ocpp"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield stream
    root.removeHandler(handler)


def assert_clean(text: str) -> None:
    """Every line of the log is a real log line and holds no control character."""
    lines = text.split("\n")[:-1]
    assert lines
    for line in lines:
        assert line.isprintable(), repr(line)
        assert LINE_START.match(line), repr(line)
        assert not line.startswith(FORGED[:10]), repr(line)


@pytest.mark.parametrize(
    "path_id",
    [
        pytest.param("%0A" + FORGED.replace(" ", "%20"), id="newline"),
        pytest.param("X%0D%0A" + FORGED.replace(" ", "%20"), id="crlf"),
        pytest.param("%1B%5B2J%1B%5B31mred", id="escape"),
        pytest.param("A%00B", id="nul"),
        pytest.param("A%E2%80%A8" + FORGED.replace(" ", "%20"), id="line-separator"),
        pytest.param("A%C2%85B", id="next-line"),
        pytest.param("L" * 5000, id="long"),
    ],
)
async def test_unknown_id_cannot_forge_log_lines(start_app: StartApp, log_text: io.StringIO, path_id: str) -> None:
    """An unknown charging station id with control characters is refused 404 and logged escaped, on one line."""
    app = await start_app(options=default_options(ssl=False))
    with pytest.raises(InvalidStatus) as info:
        async with connect(f"ws://127.0.0.1:{app.ocpp_port}/{path_id}", subprotocols=["ocpp2.0.1"]):  # type: ignore[list-item]
            pass
    assert info.value.response.status_code == 404
    text = log_text.getvalue()
    assert "Refused unknown charging station id" in text
    assert_clean(text)
    refusal = next(line for line in text.split("\n") if "Refused unknown charging station id" in line)
    assert len(refusal) < 400
    assert max(len(line) for line in text.split("\n")) < MAX_MESSAGE_CHARS + 100


class Peer:
    """A raw socket that sends hand-made frames and waits for their answers."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._probes = itertools.count()

    async def exchange(self, frame: str) -> list[Any] | None:
        """Send ``frame`` then a Heartbeat; the answer to ``frame`` (None when only the Heartbeat's came)."""
        probe = f"probe-{next(self._probes)}"
        await self.ws.send(frame)
        await self.ws.send(json.dumps([2, probe, "Heartbeat", {}]))
        answers = []
        while True:
            message = json.loads(await self.ws.recv())
            if message[0] == 2:  # the CSMS's own connect-time requests
                continue
            if message[1] == probe:
                return answers[0] if answers else None
            answers.append(message)


@pytest.fixture
async def peer(start_app: StartApp) -> AsyncIterator[tuple[Application, Peer]]:
    """The add-on (plain ws, with an id_token option) and a raw socket connected as the open charger."""
    app = await start_app(options=default_options(ssl=False, id_token=ID_TOKEN_OPTION))
    async with raw_socket(f"ws://127.0.0.1:{app.ocpp_port}", CHARGER_ID) as ws:
        yield app, Peer(ws)


def call(unique_id: str, action: str, payload: dict[str, Any]) -> str:
    """A CALL frame (JSON escapes the control characters; the server decodes them)."""
    return json.dumps([2, unique_id, action, payload])


NOW = "2026-11-26T00:00:00Z"
NASTY = "x\n" + FORGED + "\x1b[2J\x00"


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(call("m1", "Evil\x1b[2J\n" + FORGED[:20], {}), id="unknown-action"),
        pytest.param(json.dumps([3, "m2\n" + FORGED[:30], {}]), id="answer-to-no-call"),
        pytest.param(call("m3\x00\x1b\n" + FORGED[:20], "Heartbeat", {}), id="message-id"),
        pytest.param('[2,\n"m4",\r\n"Heartbeat",\n{}]', id="raw-newlines-in-frame"),
        pytest.param(call("m5", "Heartbeat", {"k\n" + FORGED[:30]: 1}), id="dropped-field-name"),
        pytest.param(
            call(
                "m6",
                "BootNotification",
                {
                    "reason": "PowerUp",
                    "chargingStation": {"vendorName": NASTY[:50], "model": "M\x1b[31m", "firmwareVersion": "F\x00\n"},
                },
            ),
            id="boot-strings",
        ),
        pytest.param(call("m7", "SecurityEventNotification", {"type": NASTY[:50], "timestamp": NOW}), id="security"),
        pytest.param(call("m8", "DataTransfer", {"vendorId": NASTY[:255]}), id="data-transfer"),
        pytest.param(call("m9", "FirmwareStatusNotification", {"status": NASTY}), id="firmware-status"),
        pytest.param(
            call(
                "m10",
                "NotifyEvent",
                {
                    "generatedAt": NOW,
                    "seqNo": 0,
                    "eventData": [
                        {
                            "eventId": 1,
                            "timestamp": NOW,
                            "trigger": "Alerting",
                            "actualValue": NASTY,
                            "eventNotificationType": "HardWiredNotification",
                            "component": {"name": "C\x1b"},
                            "variable": {"name": "V\n" + FORGED[:40]},
                        }
                    ],
                },
            ),
            id="notify-event",
        ),
        pytest.param(
            call(
                "m11",
                "TransactionEvent",
                {
                    "eventType": "Started",
                    "timestamp": NOW,
                    "triggerReason": "CablePluggedIn",
                    "seqNo": 0,
                    "transactionInfo": {"transactionId": "T\n" + FORGED[:30]},
                },
            ),
            id="transaction-id",
        ),
    ],
)
async def test_frames_cannot_forge_log_lines(peer: tuple[Application, Peer], log_text: io.StringIO, frame: str) -> None:
    """Message ids, action names and charger strings with control characters are logged escaped, on one line."""
    _, socket = peer
    await socket.exchange(frame)
    assert_clean(log_text.getvalue())


# --- secrets -----------------------------------------------------------------------------------------

LONG_TOKEN = "TOPSECRET-" * 5


async def test_rejected_id_token_is_not_echoed(peer: tuple[Application, Peer], log_text: io.StringIO) -> None:
    """An idToken that breaks the schema is named in the CALLERROR but never quoted, nor in the trace or log."""
    app, socket = peer
    answer = await socket.exchange(call("a1", "Authorize", {"idToken": {"idToken": LONG_TOKEN, "type": "Central"}}))
    assert answer is not None
    assert answer[:3] == [4, "a1", "TypeConstraintViolation"]
    assert answer[3] == "Authorize: idToken/idToken: is longer than 36 characters"
    traced = [entry.direction for entry in app.trace.entries() if entry.action == "Authorize"]
    assert traced == ["out", "in"]  # the frames are in the trace (so the next line can fail)
    assert "TOPSECRET" not in json.dumps([entry.to_json() for entry in app.trace.entries()])
    assert "TOPSECRET" not in log_text.getvalue()
    assert "TOPSECRET" not in json.dumps([line.to_json() for line in app.logs.lines()])


async def test_known_secrets_are_masked_in_the_trace(peer: tuple[Application, Peer]) -> None:
    """A configured secret the charger sends under any key is masked in the trace by its value."""
    app, socket = peer
    await socket.exchange(
        call("d1", "DataTransfer", {"vendorId": "x", "data": f"token {ID_TOKEN_OPTION} and {PASSWORD}"})
    )
    frames = json.dumps([entry.to_json() for entry in app.trace.entries()])
    assert ID_TOKEN_OPTION not in frames
    assert PASSWORD not in frames
    assert MASK in frames


async def test_trace_level_log_has_no_credentials_or_id_tokens(start_app: StartApp, log_text: io.StringIO) -> None:
    """At log_level trace the handshake headers and raw frames are logged, but no password, header or idToken."""
    app = await start_app(options=default_options(ssl=False, id_token=ID_TOKEN_OPTION))
    url = f"ws://127.0.0.1:{app.ocpp_port}"
    async with library_charger(url, AUTH_CHARGER_ID, password=PASSWORD) as charger:
        await charger.call(ocpp_call.Authorize(id_token={"id_token": "RFID-0042-SECRET", "type": "ISO14443"}))
        await charger.call(ocpp_call.Authorize(id_token={"id_token": ID_TOKEN_OPTION, "type": "Central"}))
        await charger.next_call("TriggerMessage")
    text = log_text.getvalue()
    assert "Authorization" in text  # the handshake headers are there, so the check below means something
    header = base64.b64encode(f"{AUTH_CHARGER_ID}:{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, header, "RFID-0042-SECRET", ID_TOKEN_OPTION, "hunter2-secret"):
        assert secret not in text, secret


async def test_logs_view_never_shows_the_reported_basic_auth_password(
    start_app: StartApp, log_text: io.StringIO
) -> None:
    """The BasicAuthPassword value of a NotifyReport shows in neither the Logs view nor the trace, at any level."""
    app = await start_app(options=default_options(ssl=False))
    async with library_charger(f"ws://127.0.0.1:{app.ocpp_port}", CHARGER_ID) as charger:
        await charger.next_call("TriggerMessage")
        # The password comes in the second NotifyReport of the peer's report: wait for that one, and its log line.
        await eventually(
            lambda: any(e.action == "NotifyReport" and "BasicAuthPassword" in e.frame for e in app.trace.entries()),
            what="the NotifyReport with the password in the trace",
        )
        await eventually(
            lambda: "BasicAuthPassword" in json.dumps([line.to_json() for line in app.logs.lines()]),
            what="the NotifyReport with the password in the Logs view",
        )
    shown_lines = json.dumps([line.to_json() for line in app.logs.lines()])
    assert "BasicAuthPassword" in shown_lines  # the report was logged, masked
    assert "hunter2-secret" not in shown_lines
    assert "hunter2-secret" not in json.dumps([entry.to_json() for entry in app.trace.entries()])
    assert "hunter2-secret" not in log_text.getvalue()

"""Hostile input to the JSON API and to the options file: a clear error, never a server error or a traceback.

The normal suite runs ``FUZZ_EXAMPLES`` examples per property (default 150);
``FUZZ_EXAMPLES=20000 pytest tests/test_fuzz_api.py`` for a long run.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bmw_wallbox.app import Application
from bmw_wallbox.options import Options, OptionsError, load_options, parse_options

from conftest import AUTH_CHARGER_ID, CHARGER_ID, StartApp, api_send, ocpp_url
from peer import library_charger

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=15,
)

# --------------------------------------------------------------------------------------
# JSON API
# --------------------------------------------------------------------------------------

COMMANDS = ["start", "pause", "resume", "stop", "reset", "current_limit", "sessions.csv"]
#: Outcomes the API may honestly report with a 5xx status (the charger's answer, not a server fault).
CHARGER_OUTCOMES = {502: {"rejected"}, 503: {"not_connected", "not_ready"}, 504: {"timeout"}}


@dataclass
class Api:
    """The app with one connected library charger, and an HTTP client."""

    app: Application
    http: aiohttp.ClientSession

    @property
    def base(self) -> str:
        """The JSON API's base URL."""
        return f"http://127.0.0.1:{self.app.panel_port}"


@pytest.fixture
async def api(start_app: StartApp, client_ssl: ssl.SSLContext) -> AsyncIterator[Api]:
    """The add-on with CHARGER_ID connected (a faithful library charger) and AUTH_CHARGER_ID offline."""
    app = await start_app()
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        await charger.next_call("TriggerMessage")
        async with aiohttp.ClientSession() as http:
            yield Api(app=app, http=http)


charger_ids = st.sampled_from([CHARGER_ID, AUTH_CHARGER_ID]) | st.text(max_size=40)
paths = st.one_of(
    st.builds(
        lambda cid, cmd: f"/api/chargers/{quote(cid, safe='')}/{cmd}",
        charger_ids,
        st.sampled_from(COMMANDS) | st.text(max_size=20).map(lambda t: quote(t, safe="")),
    ),
    st.builds(lambda cid: f"/api/chargers/{quote(cid, safe='')}", charger_ids),
    st.sampled_from(["/api/chargers", "/api/trace", "/api/unknown_chargers", "/healthz", "/api"]),
    st.builds(
        lambda query: "/api/trace?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items()),
        st.dictionaries(st.sampled_from(["charger", "action", "x"]), st.text(max_size=20), max_size=3),
    ),
)
bodies = st.one_of(
    st.builds(lambda amps: json.dumps({"amps": amps}).encode(), json_values),
    st.builds(lambda value: json.dumps(value).encode(), json_values),
    st.binary(max_size=100),
    st.just(b""),
)


def server_fault(status: int, content_type: str, text: str) -> str | None:
    """What makes an answer a server fault (a traceback, or a 5xx that is no charger outcome in JSON), or None."""
    if "Traceback" in text:
        return f"a traceback in a {status} answer: {text}"
    if status < 500:
        return None
    if status not in CHARGER_OUTCOMES or content_type != "application/json":
        return f"{status} {content_type}: {text}"
    outcome = json.loads(text).get("outcome")
    return None if outcome in CHARGER_OUTCOMES[status] else f"{status} with outcome {outcome!r}: {text}"


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    path=paths,
    body=bodies,
    content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]),
)
async def test_api_never_answers_with_a_server_error(
    api: Api, method: str, path: str, body: bytes, content_type: str
) -> None:
    """Random methods, paths and bodies get a clear answer: never 500, never a traceback."""
    async with api.http.request(method, api.base + path, data=body, headers={"Content-Type": content_type}) as response:
        fault = server_fault(response.status, response.content_type, await response.text())
    assert fault is None


@FUZZ
@given(amps=json_values)
async def test_bad_limit_is_a_422_that_says_what_is_allowed(api: Api, amps: Any) -> None:
    """A limit that is not a number from 0 up gets 422 with a JSON detail naming the range; a number is applied."""
    status, body = await api_send(
        api.app, "PUT", f"/api/chargers/{quote(CHARGER_ID, safe='')}/current_limit", {"amps": amps}
    )
    if _a_limit(amps):
        assert status == 200, body
        assert body["outcome"] == "accepted"
    else:
        assert status == 422, body
        assert body["outcome"] == "invalid"
        assert "send 0 (pause) or 6 to 32 A" in body["detail"]


def _a_limit(amps: Any) -> bool:
    """A number from 0 up, or text that reads as one (what a Home Assistant template renders)."""
    if isinstance(amps, str):
        try:
            amps = float(amps.strip())
        except ValueError:
            return False
    return isinstance(amps, (int, float)) and not isinstance(amps, bool) and 0 <= amps < float("inf")


async def test_limit_with_400_digits_is_a_422(api: Api) -> None:
    """An integer limit too large for a float is invalid (422), not a server error."""
    async with api.http.put(
        f"{api.base}/api/chargers/{quote(CHARGER_ID, safe='')}/current_limit",
        data=b'{"amps": ' + b"9" * 400 + b"}",
        headers={"Content-Type": "application/json"},
    ) as response:
        assert response.status == 422


async def test_limit_body_nested_200000_deep_is_a_422(api: Api) -> None:
    """A body nested deeper than the JSON parser recurses is a 422 like any other unreadable body."""
    async with api.http.put(
        f"{api.base}/api/chargers/{quote(CHARGER_ID, safe='')}/current_limit",
        data=b"[" * 200_000 + b"]" * 200_000,
        headers={"Content-Type": "application/json"},
    ) as response:
        assert response.status == 422


# --------------------------------------------------------------------------------------
# /data/options.json
# --------------------------------------------------------------------------------------

SECRET = "SECRET-"
secrets = st.text(min_size=1, max_size=20).map(lambda text: SECRET + text)
charger_entries = st.dictionaries(
    st.sampled_from(["id", "name", "password", "max_current", "port"]),
    json_values,
    max_size=5,
).flatmap(
    lambda entry: st.one_of(
        st.just(entry),
        secrets.map(lambda secret: {**entry, "password": secret}),
    )
)
option_values: dict[str, st.SearchStrategy[Any]] = {
    "ssl": st.booleans() | json_values,
    "certfile": st.text(max_size=30) | json_values,
    "keyfile": st.text(max_size=30) | json_values,
    "chargers": st.lists(charger_entries | json_values, max_size=4) | json_values,
    "meter_interval": st.integers(-10, 5000) | json_values,
    "log_level": st.sampled_from(["info", "trace", "loud"]) | json_values,
    "id_token": secrets | json_values,
    "reset_recovery": st.booleans() | json_values,
    "unknown_option": json_values,
}
raw_options = st.fixed_dictionaries({}, optional=option_values) | json_values


def unclear(message: str) -> list[str]:
    """What keeps an options error from being one short clear line without a secret (empty when nothing)."""
    problems = {
        "not an options error": not message.startswith(("Invalid add-on options: ", "Options file ")),
        "quotes a secret": SECRET in message,
        "more than one line": "\n" in message,
        "too long": len(message) >= 2000,
    }
    return [problem for problem, found in problems.items() if found]


@FUZZ
@given(raw=raw_options)
def test_options_give_options_or_one_clear_error(raw: Any) -> None:
    """Any decoded JSON either validates or raises OptionsError with a short message that leaks no secret."""
    try:
        outcome: Options | list[str] = parse_options(raw)
    except OptionsError as err:
        outcome = unclear(str(err))
    assert outcome == [] or isinstance(outcome, Options)


@FUZZ
@given(
    content=st.one_of(
        raw_options.map(lambda raw: json.dumps(raw).encode()),
        st.binary(max_size=200),
        st.integers(1, 200_000).map(lambda depth: b"[" * depth + b"]" * depth),
    )
)
def test_options_file_gives_options_or_one_clear_error(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    """Any file content (bytes, deep nesting) either loads or raises OptionsError with one short message."""
    path = tmp_path_factory.mktemp("options") / "options.json"
    path.write_bytes(content)
    try:
        outcome: Options | list[str] = load_options(path)
    except OptionsError as err:
        outcome = unclear(str(err))
    assert outcome == [] or isinstance(outcome, Options)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"chargers": [{"id": "A", "password": "SECRET-1"}, {"id": "A"}]},
            "Invalid add-on options: chargers: the id 'A' is listed twice; list each charger once",
        ),
        (
            {"chargers": {"id": "A", "password": "SECRET-1"}},
            "Invalid add-on options: option chargers is an object; input should be a valid list",
        ),
        (
            {"meter_interval": "x" * 1000},
            "Invalid add-on options: option meter_interval is '" + "x" * 56 + "...; input should be a valid "
            "integer, unable to parse string as an integer",
        ),
    ],
)
def test_option_error_quotes_no_secret_and_no_huge_value(raw: dict[str, Any], message: str) -> None:
    """Errors about whole objects name their kind only (they may hold passwords); long values are cut."""
    with pytest.raises(OptionsError) as info:
        parse_options(raw)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe{}", "is not UTF-8 text (byte 0)"),
        (b"[" * 100_000 + b"]" * 100_000, "nests lists or objects too deeply"),
    ],
)
def test_unreadable_options_file_is_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    """An options file that is not UTF-8 or nests too deeply gives OptionsError, not a traceback."""
    path = tmp_path / "options.json"
    path.write_bytes(content)
    with pytest.raises(OptionsError) as info:
        load_options(path)
    assert str(info.value) == f"Options file {path} {message}"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/api/nothing-here", 404), ("DELETE", "/api/chargers", 405), ("GET", "/api/chargers/X/start", 405)],
)
async def test_api_errors_are_json(api: Api, method: str, path: str, status: int) -> None:
    """Unknown API routes and wrong methods answer with a JSON error body, like every other API error."""
    async with api.http.request(method, f"{api.base}{path}") as response:
        assert response.status == status
        assert response.content_type == "application/json"
        assert (await response.json())["status"] == status

"""Random damage to the two data files (tokens.json and a charger's state file): the add-on starts, the JSON API and
the files it writes stay valid JSON, a blocked card is never accepted, and whatever the load changed is reported on
the setup page with a copy of the damaged file kept.

Damage, one kind per case, from a seeded generator (``FUZZ_EXAMPLES`` cases per file, 40 unless set): the text cut
short; a value replaced by one of another kind, by NaN or by a huge number; a key removed; a key added.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bmw_wallbox.app import Application
from bmw_wallbox.saved import to_json
from bmw_wallbox.tokenbook import AuthStatus, Presented
from bmw_wallbox.tokens.store import serialise

from conftest import AUTH_CHARGER_ID, CHARGER_ID, StartApp, api_get

CASES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
SEED = 17_2026
NOW = datetime.now(UTC).replace(microsecond=0)
STATE_FILE = "DE%2ABMW%2AETEST0001.json"
ALLOWED = Presented(value="04ALLOWED0001", kind="ISO14443")
BLOCKED = Presented(value="04BLOCKED0001", kind="ISO14443")


def ago(**delta: float) -> str:
    """An ISO time that long before the test started."""
    return (NOW - timedelta(**delta)).isoformat()


def good_tokens() -> dict[str, Any]:
    """A tokens.json as the add-on writes it: an allowed card with a group, a blocked card, an unknown card."""
    token = {"type": "ISO14443", "added_at": ago(days=3)}
    return {
        "schema": 1,
        "tokens": [
            {**token, "ref": "t1", "name": "Anna", "id_token": ALLOWED.value, "allowed": True, "group": "family"},
            {**token, "ref": "t2", "name": "Lost card", "id_token": BLOCKED.value, "allowed": False, "group": None},
        ],
        "remote_start": "t1",
        "unknown": [
            {
                "ref": "u1",
                "id_token": "04STRANGER",
                "type": "ISO14443",
                "charger": CHARGER_ID,
                "first_seen": ago(hours=5),
                "last_seen": ago(hours=1),
                "attempts": 2,
                "status": "Accepted",
            }
        ],
        "chargers": {
            CHARGER_ID: {
                "policy": "accept_all",
                "local_list": {
                    "version": 3,
                    "entries": [{"id_token": BLOCKED.value, "type": "ISO14443", "status": "Blocked", "group": None}],
                },
            }
        },
    }


def good_state() -> dict[str, Any]:
    """A charger state file as the add-on writes it: a paused limit, a register with an offset, a running
    transaction, a finished session."""
    session = {
        "evse_id": 1,
        "transaction_id": "tx-1",
        "started_at": ago(hours=30),
        "ended_at": ago(hours=28),
        "energy_wh": 12_345.0,
        "energy_kwh": 12.345,
        "duration_s": 7200,
        "stopped_reason": "EVDisconnected",
        "start_register_wh": 1_000_000.0,
        "token": {"ref": "t1", "name": "Anna", "masked": "…0001"},
        "token_name": "Anna",
        "token_masked": "…0001",
    }
    return {
        "schema": 2,
        "id": CHARGER_ID,
        "boot": {"vendor": "Delta", "model": "EIAW-E22KTSE6B04", "firmware": "01.20.06.71", "serial": "S1"},
        "capabilities": {"measurands": ["Voltage"], "max_current_a": 32.0, "phases": 3, "triggers": {"X": True}},
        "setpoint": {"limit_a": 10.0, "paused": True},
        "profile_strategy": "tx_default",
        "installed_profiles": ["tx_default"],
        "sessions": [session],
        "last_auto_reset_at": ago(days=2),
        "evses": {
            "1": {
                "connector_status": "Occupied",
                "register_wh": 1_234_567.0,
                "offset_wh": 250.0,
                "register_read_at": ago(minutes=5),
                "register_seen_at": ago(minutes=5),
                "transaction": {
                    "transaction_id": "tx-2",
                    "started_at": ago(hours=1),
                    "charging_state": "Charging",
                    "start_register_wh": 1_230_000.0,
                    "interval_wh": 0.0,
                    "metered": True,
                    "remote_start_id": 7,
                    "seen_at": ago(minutes=5),
                    "token": None,
                },
                "last_session": session,
            }
        },
    }


# --- damage ------------------------------------------------------------------------------------------


def slots(data: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in ``data``, depth first."""
    found: list[tuple[Any, Any]] = []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    for key, value in items:
        found.append((data, key))
        found.extend(slots(value))
    return found


def other_kind(rng: random.Random, value: object) -> object:
    """A value of another kind than ``value`` (never one a field of that kind could validly hold)."""
    choices: list[object] = [
        "text" if not isinstance(value, str) else 17,
        [1, "two"],
        {"nested": True},
        -3 if isinstance(value, (str, bool, list, dict)) or value is None else "3",
        True if not isinstance(value, bool) and value is not None else 2.5,
    ]
    return rng.choice(choices)  # never None: where None is a valid value, it is no damage


def damage(rng: random.Random, good: dict[str, Any]) -> tuple[str, str]:
    """One random damage to ``good``: its kind and the damaged file's text."""
    kind = rng.choice(["truncate", "other_kind", "nan", "huge", "missing_key", "extra_key"])
    text = json.dumps(good)
    if kind == "truncate":
        return kind, text[: rng.randrange(1, len(text))]
    data = copy.deepcopy(good)
    if kind == "extra_key":
        container = rng.choice([c for c, _ in slots(data) if isinstance(c, dict)] + [data])
        container[f"extra_{rng.randrange(100)}"] = rng.choice([1, "x", None, [1], {"a": 1}])
    elif kind == "missing_key":
        # Entries of maps keyed by id (EVSEs, chargers, triggers) are data, not keys of the form: a charger that
        # never reported has no EVSE, so losing one cannot be told from that.
        maps = [data.get("evses"), data.get("chargers"), (data.get("capabilities") or {}).get("triggers")]
        keys = [(c, k) for c, k in slots(data) if isinstance(c, dict) and not any(c is m for m in maps)]
        container, key = rng.choice(keys)
        del container[key]
    else:
        container, key = rng.choice(slots(data))
        bad = {"nan": float("nan"), "huge": rng.choice([1e300, float("inf"), -1e300, 10**40])}
        container[key] = bad[kind] if kind in bad else other_kind(rng, container[key])
    return kind, json.dumps(data)


CASES_TOKENS = [damage(random.Random(SEED + n), good_tokens()) for n in range(CASES)]
CASES_STATE = [damage(random.Random(SEED + 10_000 + n), good_state()) for n in range(CASES)]


# --- what must hold whatever the damage --------------------------------------------------------------------


def strict(text: str) -> Any:
    """Parse JSON refusing NaN and Infinity."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in JSON")

    return json.loads(text, parse_constant=refuse)


async def started_with(start_app: StartApp, data_dir: Path) -> tuple[Application, list[str]]:
    """The add-on started on ``data_dir``; the setup page's details about data files (strict JSON throughout)."""
    app = await start_app(data_dir=data_dir)
    for path in ("/api/chargers", "/api/tokens", "/api/unknown_chargers"):
        strict(json.dumps(await api_get(app, path), allow_nan=True))
    setup = await api_get(app, "/api/setup")
    return app, [item["detail"] for item in setup["items"] if item["key"] == "state"]


def tokens_that_matter(app: Application) -> object:
    """What the token list decides: each token's name, id, kind, status and group; the policies; remote starts."""
    data = serialise(app.hub.tokens)
    tokens = sorted((t["name"], t["id_token"], t["type"], t["allowed"], t["group"]) for t in data["tokens"])
    policies = [app.hub.tokens.charger(charger_id).policy for charger_id in (CHARGER_ID, AUTH_CHARGER_ID)]
    return tokens, policies, data["remote_start"] is not None


def state_that_matters(app: Application) -> object:
    """What a restart must keep of a charger: limit, register and offset, running transaction, sessions' energy."""
    data = to_json(app.hub.chargers[CHARGER_ID].saved(), CHARGER_ID)
    evses = {
        k: (e["register_wh"], e["offset_wh"], (e["transaction"] or {}).get("transaction_id"))
        for k, e in data["evses"].items()
    }
    sessions = [(s["transaction_id"], round(s["energy_wh"] or 0)) for s in data["sessions"]]
    return data["setpoint"], evses, sessions


async def check_case(
    start_app: StartApp,
    tmp_path: Path,
    name: str,
    text: str,
    good: dict[str, Any],
    matters: Callable[[Application], object],
) -> Application:
    """Start on the damaged file ``name`` and check what must hold; the app is returned for more checks."""
    reference = tmp_path / "reference"
    folder = Path(name).parent
    (reference / folder).mkdir(parents=True)
    (reference / name).write_text(json.dumps(good), encoding="utf-8")
    expected = matters(await start_app(data_dir=reference))
    data_dir = tmp_path / "damaged"
    (data_dir / folder).mkdir(parents=True)
    path = data_dir / name
    path.write_text(text, encoding="utf-8")
    app, problems = await started_with(start_app, data_dir)
    file_name = Path(name).name
    mine = [p for p in problems if p.startswith(f"{file_name}:")]
    assert [
        p.split(". A copy of the damaged file")[0] for p in problems
    ] == app.store.problems + app.token_store.problems
    if matters(app) != expected:
        assert mine, f"the load changed what matters without a word: {matters(app)!r} != {expected!r}"
    if mine and "newer version" not in mine[0]:
        assert list(path.parent.glob(f"{file_name}.corrupt-*")), "no copy of the damaged file was kept"
    await app.stop()
    written = path.read_text(encoding="utf-8") if path.exists() else text
    if written != text:
        strict(written)  # what the add-on wrote holds no NaN or Infinity
    return app


@pytest.mark.parametrize(
    "text", [t for _, t in CASES_TOKENS], ids=[f"{n}-{k}" for n, (k, _) in enumerate(CASES_TOKENS)]
)
async def test_a_damaged_token_list_fails_closed(start_app: StartApp, tmp_path: Path, text: str) -> None:
    """Whatever the damage to tokens.json, the blocked card is never accepted, on any charger."""
    app = await check_case(start_app, tmp_path, "tokens.json", text, good_tokens(), tokens_that_matter)
    for charger_id in (CHARGER_ID, AUTH_CHARGER_ID):
        assert app.hub.tokens.authorize(charger_id, BLOCKED).status is not AuthStatus.ACCEPTED


@pytest.mark.parametrize("text", [t for _, t in CASES_STATE], ids=[f"{n}-{k}" for n, (k, _) in enumerate(CASES_STATE)])
async def test_a_damaged_state_file_is_salvaged(start_app: StartApp, tmp_path: Path, text: str) -> None:
    """Whatever the damage to a charger's state file, every number loaded is finite and within its bounds."""
    app = await check_case(start_app, tmp_path, f"chargers/{STATE_FILE}", text, good_state(), state_that_matters)
    state = app.hub.chargers[CHARGER_ID]
    numbers = [state.desired.limit_a] + [
        value
        for evse in state.evses.values()
        for value in (evse.meter.register_wh, evse.meter.offset_wh, evse.session_energy_wh)
        if value is not None
    ]
    assert all(math.isfinite(n) and 0 <= n <= 1e10 for n in numbers)
    assert 0 <= state.desired.limit_a <= state.max_current_a

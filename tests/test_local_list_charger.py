"""The local list against the simulated Delta over real sockets: full then differential updates, the Delta's size
limits, a list that is off or missing, a restart of the add-on, and cards that work while the add-on is down."""

from __future__ import annotations

import ssl
from dataclasses import replace
from typing import Any

from bmw_wallbox.app import Application
from bmw_wallbox.simulator import DELTA, WallboxSimulator

from conftest import CHARGER_ID, StartApp, api_get, api_send, ocpp_url, running
from helpers import eventually

TOKENS_PATH = "/api/tokens"


def delta(app: Application, client_ssl: ssl.SSLContext, *, list_on: bool = True, **kwargs: Any) -> WallboxSimulator:
    """The simulated Delta, its local list switched on (it ships off) unless ``list_on`` is False."""
    sim = WallboxSimulator(ocpp_url(app), CHARGER_ID, ssl=client_ssl, time_scale=60.0, **kwargs)
    if list_on and sim.personality.local_auth_list:
        sim.variables.put("LocalAuthListCtrlr", "Enabled", "true")
    return sim


def add_cards(app: Application, count: int, *, start: int = 0) -> None:
    """Add ``count`` allowed cards to the list."""
    for number in range(start, start + count):
        app.tokens.add(f"Card {number}", f"04CARD{number:04d}", "ISO14443")


def local_list_messages(sim: WallboxSimulator, after: int = 0) -> list[tuple[str, int, int]]:
    """(updateType, versionNumber, items) of each SendLocalList the simulator received from index ``after``."""
    return [
        (p["updateType"], p["versionNumber"], len(p.get("localAuthorizationList") or []))
        for action, p in sim.received[after:]
        if action == "SendLocalList"
    ]


async def local_list_view(app: Application) -> dict[str, Any]:
    """The charger's local list as ``GET /api/tokens`` shows it."""
    view: dict[str, Any] = (await api_get(app, TOKENS_PATH))["chargers"][0]["local_list"]
    return view


async def test_a_connecting_charger_gets_the_whole_list_in_chunks(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """20 cards reach the Delta as one full update of 8 and two differential ones, versions 1 to 3."""
    app = await start_app()
    add_cards(app, 20)
    async with running(delta(app, client_ssl)) as sim:
        await eventually(
            lambda: app.hub.tokens.charger(CHARGER_ID).local_list.status,
            until=lambda value: value == "in_sync",
            what="the local list in sync",
        )
        view = await local_list_view(app)
    assert local_list_messages(sim) == [("Full", 1, 8), ("Differential", 2, 8), ("Differential", 3, 4)]
    assert (sim.local_list.version, len(sim.local_list.entries)) == (3, 20)
    assert (view["version"], view["entries"], view["max_entries"], view["per_message"]) == (3, 20, 32, 8)


async def test_edits_reach_the_charger_as_differential_updates(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Adding, blocking and deleting a card each reach the charger as one differential update, one version up."""
    app = await start_app()
    add_cards(app, 2)
    async with running(delta(app, client_ssl)) as sim:
        await eventually(
            lambda: sim.local_list.version, until=lambda value: value == 1, what="local list version 1 on the charger"
        )
        after = len(sim.received)
        status, added = await api_send(
            app, "POST", TOKENS_PATH, {"name": "New card", "id_token": "04NEW001", "type": "ISO14443"}
        )
        await eventually(
            lambda: sim.local_list.version, until=lambda value: value == 2, what="local list version 2 on the charger"
        )
        await api_send(app, "PATCH", f"{TOKENS_PATH}/{added['ref']}", {"allowed": False})
        await eventually(
            lambda: sim.local_list.version, until=lambda value: value == 3, what="local list version 3 on the charger"
        )
        blocked = sim.local_list.lookup("04NEW001", "ISO14443")
        await api_send(app, "DELETE", f"{TOKENS_PATH}/{added['ref']}")
        await eventually(
            lambda: sim.local_list.version, until=lambda value: value == 4, what="local list version 4 on the charger"
        )
    assert status == 201
    assert local_list_messages(sim, after) == [("Differential", 2, 1), ("Differential", 3, 1), ("Differential", 4, 1)]
    assert (blocked, sim.local_list.lookup("04NEW001", "ISO14443"), len(sim.local_list.entries)) == ("Blocked", None, 2)


async def test_the_delta_keeps_32_cards_and_the_panel_says_how_many_did_not_fit(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """With 40 allowed cards the Delta gets 32, no message has more than 8, and the view counts 8 left out."""
    app = await start_app()
    add_cards(app, 40)
    async with running(delta(app, client_ssl)) as sim:
        await eventually(
            lambda: app.hub.tokens.charger(CHARGER_ID).local_list.status,
            until=lambda value: value == "in_sync",
            what="the local list in sync",
        )
        view = await local_list_view(app)
    assert max(items for _, _, items in local_list_messages(sim)) == 8
    assert (len(sim.local_list.entries), view["left_out"]) == (32, 8)
    assert "8 allowed token(s) did not fit" in view["detail"]


async def test_a_list_that_is_off_is_left_alone_and_can_be_switched_on(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """As the Delta ships (list off) nothing is sent and the view says disabled; switched on, the list follows."""
    app = await start_app()
    add_cards(app, 3)
    async with running(delta(app, client_ssl, list_on=False)) as sim:
        await eventually(
            lambda: app.hub.tokens.charger(CHARGER_ID).local_list.status,
            until=lambda value: value == "disabled",
            what="the local list shown as off",
        )
        sent_while_off = local_list_messages(sim)
        status, result = await api_send(app, "PUT", f"/api/chargers/{CHARGER_ID}/local_list", {"enabled": True})
        await eventually(
            lambda: len(sim.local_list.entries),
            until=lambda value: value == 3,
            what="three tokens in the charger's list",
        )
    assert (sent_while_off, status, result["outcome"]) == ([], 200, "accepted")


async def test_a_charger_without_a_local_list_gets_none(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """A charger whose device model has no LocalAuthListCtrlr is never sent a list; the view says unsupported."""
    app = await start_app()
    add_cards(app, 3)
    personality = replace(DELTA, local_auth_list=False)
    async with running(delta(app, client_ssl, personality=personality)) as sim:
        await eventually(
            lambda: app.hub.tokens.charger(CHARGER_ID).local_list.status,
            until=lambda value: value == "unsupported",
            what="the local list shown as missing",
        )
        status, result = await api_send(app, "POST", f"/api/chargers/{CHARGER_ID}/local_list/sync")
    assert (sim.received_count("SendLocalList"), sim.received_count("GetLocalListVersion")) == (0, 0)
    assert (status, result["outcome"]) == (501, "not_supported")


async def test_after_a_restart_a_charger_in_step_gets_nothing(
    start_app: StartApp, client_ssl: ssl.SSLContext, tmp_path: Any
) -> None:
    """The recorded version survives a restart: the charger that holds it is asked its version and sent nothing."""
    data_dir = tmp_path / "restart-data"
    first = await start_app(data_dir=data_dir)
    add_cards(first, 3)
    async with running(delta(first, client_ssl)) as sim:
        await eventually(
            lambda: first.hub.tokens.charger(CHARGER_ID).local_list.version,
            until=lambda value: value == 1 and sim.local_list.version == 1,
            what="local list version 1 on the charger and recorded by the add-on",
        )
        await first.stop()
        after = len(sim.received)
        second = await start_app(data_dir=data_dir, ocpp_port=first.ocpp_port)
        await eventually(
            lambda: second.hub.tokens.charger(CHARGER_ID).local_list.status,
            until=lambda value: value == "in_sync",
            what="the local list in sync after the restart",
        )
    asked = [action for action, _ in sim.received[after:] if action in ("GetLocalListVersion", "SendLocalList")]
    assert asked == ["GetLocalListVersion"]


async def test_cards_work_while_the_add_on_is_down(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """With the add-on stopped, a listed card is accepted from the charger's list and the car charges; others not."""
    app = await start_app()
    add_cards(app, 2)
    sim = delta(app, client_ssl)
    sim.variables.put("AuthCtrlr", "Enabled", "true")
    async with running(sim):
        await eventually(
            lambda: sim.local_list.version, until=lambda value: value == 1, what="local list version 1 on the charger"
        )
        await app.stop()
        await eventually(lambda: not sim.connected, what="the simulator offline")
        await sim.plug_in()
        stranger = await sim.present_token("04STRANGER")
        listed = await sim.present_token("04CARD0001")
        await eventually(lambda: sim.charging_state, until=lambda value: value == "Charging", what="the car charging")
    assert (stranger, listed) == ("Invalid", "Accepted")
    assert sim.presented[-1] == ("ISO14443", "Accepted", "local list (offline)")

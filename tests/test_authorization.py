"""Authorization over real sockets: what Authorize and TransactionEvent answer per policy, whom a session belongs to,
remote starts under "known only", and a card tapped at the simulated wallbox."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from ocpp.v201 import call

from bmw_wallbox.app import Application
from bmw_wallbox.simulator import WallboxSimulator

from conftest import CHARGER_ID, StartApp, api_get, api_send, charger_snapshot, ocpp_url, running
from helpers import eventually
from peer import LibraryCharger, library_charger

ANNA = {"id_token": "04A1B2C3D4E5F6", "type": "ISO14443"}
OLD = {"id_token": "04FFEEDDCCBBAA", "type": "ISO14443"}
STRANGER = {"id_token": "0499887766AA", "type": "ISO14443"}
REMOTE = {"id_token": "HomeAssistant", "type": "Central"}
ANONYMOUS = {"id_token": "", "type": "NoAuthorization"}
TOKENS_PATH = "/api/tokens"


async def app_with_tokens(start_app: StartApp, policy: str = "accept_all") -> Application:
    """The add-on with Anna's card (group family), a blocked old card, and ``policy`` for the open charger."""
    app = await start_app()
    anna = app.tokens.add("Anna's card", ANNA["id_token"], ANNA["type"])
    app.tokens.update(anna.ref, group="family")
    app.tokens.add("Old card", OLD["id_token"], OLD["type"], allowed=False)
    app.tokens.set_policy(CHARGER_ID, policy)
    return app


async def authorize(charger: LibraryCharger, id_token: dict[str, str]) -> dict[str, Any]:
    """Send Authorize and return the idTokenInfo of the answer."""
    result = await charger.call(call.Authorize(id_token=id_token), suppress=False)
    info: dict[str, Any] = result.id_token_info
    return info


async def transaction(charger: LibraryCharger, event_type: str, register_wh: float, **extra: Any) -> Any:
    """Send one TransactionEvent of transaction tx-1 with an energy register reading."""
    return await charger.call(
        call.TransactionEvent(
            event_type=event_type,
            timestamp="2026-11-26T10:00:00Z" if event_type == "Started" else "2026-11-26T11:00:00Z",
            trigger_reason="Authorized" if "id_token" in extra else "EVCommunicationLost",
            seq_no=0 if event_type == "Started" else 1,
            transaction_info={"transaction_id": "tx-1"},
            evse={"id": 1, "connector_id": 1},
            meter_value=[
                {
                    "timestamp": "2026-11-26T10:00:00Z",
                    "sampled_value": [{"value": register_wh, "measurand": "Energy.Active.Import.Register"}],
                }
            ],
            **extra,
        ),
        suppress=False,
    )


@pytest.mark.parametrize(
    ("policy", "id_token", "status"),
    [
        ("accept_all", ANNA, "Accepted"),
        ("known_only", ANNA, "Accepted"),
        ("accept_all", OLD, "Blocked"),
        ("known_only", OLD, "Blocked"),
        ("accept_all", STRANGER, "Accepted"),
        ("known_only", STRANGER, "Invalid"),
        ("accept_all", ANONYMOUS, "Accepted"),
        ("known_only", ANONYMOUS, "Unknown"),
        ("known_only", REMOTE, "Accepted"),
    ],
)
async def test_authorize_answers_by_the_list(
    start_app: StartApp, client_ssl: ssl.SSLContext, policy: str, id_token: dict[str, str], status: str
) -> None:
    """Authorize gets Accepted, Blocked, Invalid or Unknown as the policy and the list say."""
    app = await app_with_tokens(start_app, policy)
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        info = await authorize(charger, id_token)
    assert info["status"] == status


async def test_an_allowed_token_gets_its_group(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """An allowed token with a group is answered with that group as groupIdToken."""
    app = await app_with_tokens(start_app, "known_only")
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        info = await authorize(charger, ANNA)
    assert info == {"status": "Accepted", "group_id_token": {"id_token": "family", "type": "Central"}}


async def test_a_transaction_event_with_a_token_attributes_the_session(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """A session started with Anna's card is recorded under her name, and the charger is told Accepted."""
    app = await app_with_tokens(start_app, "known_only")
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        started = await transaction(charger, "Started", 1000.0, id_token=ANNA)
        await transaction(charger, "Ended", 8400.0)
    last = (await charger_snapshot(app))["last_session"]
    assert started.id_token_info["status"] == "Accepted"
    assert (last["token_name"], last["token_masked"], last["energy_kwh"]) == ("Anna's card", "…E5F6", 7.4)


async def test_an_unknown_token_in_a_transaction_event_is_invalid_under_known_only(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """Under known only an unlisted token in a TransactionEvent is answered Invalid and listed masked as unknown."""
    app = await app_with_tokens(start_app, "known_only")
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        started = await transaction(charger, "Started", 1000.0, id_token=STRANGER)
    tokens = await api_get(app, TOKENS_PATH)
    assert started.id_token_info == {"status": "Invalid"}
    assert [(u["masked"], u["status"], u["charger"]) for u in tokens["unknown"]] == [("…66AA", "Invalid", CHARGER_ID)]
    assert STRANGER["id_token"] not in str(tokens)


async def test_a_session_without_a_token_is_attributed_to_no_token(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """A session whose events carry no idToken is recorded as ``no token``."""
    app = await app_with_tokens(start_app)
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        await transaction(charger, "Started", 1000.0)
        await transaction(charger, "Ended", 2000.0)
    assert (await charger_snapshot(app))["last_session"]["token_name"] == "no token"


async def test_remote_start_works_under_known_only(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """The built-in remote-start token is accepted under known only, and its session is Home Assistant's."""
    app = await app_with_tokens(start_app, "known_only")
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        await charger.call(
            call.StatusNotification(
                timestamp="2026-11-26T10:00:00Z", connector_status="Occupied", evse_id=1, connector_id=1
            )
        )
        result = await app.controller.start(CHARGER_ID)
        sent = await charger.next_call("RequestStartTransaction")
        info = await authorize(charger, sent["id_token"])
        started = await transaction(charger, "Started", 1000.0, id_token=sent["id_token"])
    assert (result.outcome, sent["id_token"], info["status"]) == ("accepted", REMOTE, "Accepted")
    assert started.id_token_info["status"] == "Accepted"
    assert (await charger_snapshot(app))["transaction_id"] == "tx-1"
    assert app.hub.chargers[CHARGER_ID].main_evse.transaction.token.name == "Home Assistant"  # type: ignore[union-attr]


async def test_remote_start_carries_the_token_chosen_for_it(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """A listed token chosen for remote starts is the one RequestStartTransaction carries."""
    app = await app_with_tokens(start_app, "known_only")
    anna = next(t for t in app.hub.tokens.tokens.values() if t.name == "Anna's card")
    status, _ = await api_send(app, "PATCH", f"{TOKENS_PATH}/{anna.ref}", {"remote_start": True})
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        await charger.call(
            call.StatusNotification(
                timestamp="2026-11-26T10:00:00Z", connector_status="Occupied", evse_id=1, connector_id=1
            )
        )
        await app.controller.start(CHARGER_ID)
        sent = await charger.next_call("RequestStartTransaction")
    assert (status, sent["id_token"]) == (200, ANNA)


# --- the simulated wallbox ---------------------------------------------------------------------------


def delta(app: Application, client_ssl: ssl.SSLContext, **kwargs: Any) -> WallboxSimulator:
    """The simulated Delta wallbox for the open charger, at 60 simulated seconds per second."""
    return WallboxSimulator(ocpp_url(app), CHARGER_ID, ssl=client_ssl, time_scale=60.0, **kwargs)


async def test_a_tapped_unknown_card_is_invalid_until_added(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Known only: an unknown card is told Invalid and listed masked; added, the next tap is Accepted."""
    app = await start_app()
    app.tokens.set_policy(CHARGER_ID, "known_only")
    async with running(delta(app, client_ssl)) as sim:
        first = await sim.present_token(STRANGER["id_token"])
        tokens = await api_get(app, TOKENS_PATH)
        (unknown,) = tokens["unknown"]
        status, added = await api_send(app, "POST", TOKENS_PATH, {"name": "Guest card", "unknown": unknown["ref"]})
        second = await sim.present_token(STRANGER["id_token"])
    assert (first, unknown["masked"], unknown["status"]) == ("Invalid", "…66AA", "Invalid")
    assert (status, added["name"], added["masked"], second) == (201, "Guest card", "…66AA", "Accepted")
    assert (await api_get(app, TOKENS_PATH))["unknown"] == []


async def test_a_charger_that_does_not_ask_is_shown_and_can_be_switched(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """The Delta ships with AuthCtrlr.Enabled=false: the view says so, and switching it on reaches the charger."""
    app = await start_app()
    async with running(delta(app, client_ssl)) as sim:
        await eventually(
            lambda: app.hub.chargers[CHARGER_ID].capabilities.reported_at,
            until=lambda value: value is not None,
            what="the charger's device-model report",
        )
        before = (await api_get(app, TOKENS_PATH))["chargers"][0]
        status, result = await api_send(
            app, "PUT", f"/api/chargers/{CHARGER_ID}/charger_authorization", {"enabled": True}
        )
        after = (await api_get(app, TOKENS_PATH))["chargers"][0]
        value = sim.variables.value("AuthCtrlr", "Enabled")
    assert (before["charger_asks"], before["charger_asks_writable"]) == (False, True)
    assert (status, result["outcome"], after["charger_asks"], value) == (200, "accepted", True, "true")


async def test_with_authorization_on_a_session_charges_only_after_a_card(
    start_app: StartApp, client_ssl: ssl.SSLContext
) -> None:
    """With AuthCtrlr.Enabled the plugged-in car waits; Anna's card makes it charge and names the session."""
    app = await start_app()
    app.tokens.add("Anna's card", ANNA["id_token"], ANNA["type"])
    sim = delta(app, client_ssl)
    sim.variables.put("AuthCtrlr", "Enabled", "true")
    async with running(sim):
        await sim.plug_in()
        waiting = sim.charging_state
        await sim.present_token(ANNA["id_token"])
        await eventually(lambda: sim.charging_state, until=lambda value: value == "Charging", what="the car charging")
        await eventually(
            lambda: app.hub.chargers[CHARGER_ID].main_evse.transaction.token,
            until=lambda value: value is not None,
            what="the session's token",
        )  # type: ignore[union-attr]
        await sim.unplug()
    assert waiting == "EVConnected"
    assert (await charger_snapshot(app))["last_session"]["token_name"] == "Anna's card"


async def test_tokens_never_appear_in_the_trace_or_the_log(start_app: StartApp, client_ssl: ssl.SSLContext) -> None:
    """Presented and listed idTokens are masked in the OCPP trace and the panel's log lines."""
    app = await app_with_tokens(start_app, "known_only")
    async with library_charger(ocpp_url(app), CHARGER_ID, ssl_context=client_ssl) as charger:
        await authorize(charger, ANNA)
        await authorize(charger, STRANGER)
        await transaction(charger, "Started", 1000.0, id_token=STRANGER)
    await eventually(lambda: not app.hub.chargers[CHARGER_ID].connected, what="the add-on to see the charger leave")
    shown = str(await api_get(app, "/api/trace")) + str(await api_get(app, "/api/logs?limit=1000"))
    assert "Authorize" in shown
    assert [t["id_token"] for t in (ANNA, STRANGER) if t["id_token"] in shown] == []

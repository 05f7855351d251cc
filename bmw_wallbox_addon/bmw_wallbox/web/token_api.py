"""The JSON API of the token list and of each charger's authorization (routes added to the panel port's app).

=========================================================  ==========================================================
Request                                                    Answer
=========================================================  ==========================================================
``GET /api/tokens``                                        the list (masked), unknown tokens, each charger's
                                                           authorization (:func:`~.token_views.tokens_view`)
``POST /api/tokens`` ``{"name", "id_token", "type"}``      201 and the new token (``type`` ISO14443 and ``allowed``
                                                           true unless given)
``POST /api/tokens`` ``{"name", "unknown": ref}``          201: a token a charger presented, added under ``name``
``PATCH /api/tokens/{ref}``                                the token after ``name``, ``allowed``, ``group`` or
                                                           ``remote_start`` changed
``DELETE /api/tokens/{ref}``                               the deleted token (its sessions keep its name)
``DELETE /api/tokens/unknown/{ref}``                       forget a presented token
``GET /api/tokens/energy?month=YYYY-MM&tz=Europe/Berlin``  energy per token and month (all months without ``month``)
``PUT /api/chargers/{id}/authorization`` ``{"policy"}``    the charger's authorization after the change
``PUT /api/chargers/{id}/charger_authorization``           ``{"enabled": true}``: switch AuthCtrlr.Enabled; the
                                                           command's honest result
``PUT /api/chargers/{id}/local_list`` ``{"enabled"}``      switch LocalAuthListCtrlr.Enabled; the result
``POST /api/chargers/{id}/local_list/sync``                send the whole list again now; the result
=========================================================  ==========================================================

A refused edit answers with ``{"error": code, "detail": sentence}``: 422
``invalid``, 409 ``duplicate`` or ``full``, 404 ``not_found``. Results of the
charger commands use the HTTP status of :data:`~bmw_wallbox.web.api.HTTP_STATUS`.
Every write inherits the panel port's access policy (same origin, JSON bodies).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bmw_wallbox.tokenbook import TokenError
from bmw_wallbox.tokens import TokenService
from bmw_wallbox.web.api import command_answer
from bmw_wallbox.web.token_views import (
    authorization_view,
    energy_by_token,
    time_zone,
    token_view,
    tokens_view,
    valid_month,
)

TOKENS_KEY = web.AppKey("tokens", TokenService)

_ERROR_STATUS = {"invalid": 422, "duplicate": 409, "full": 409, "not_found": 404}


def _error(err: TokenError) -> web.Response:
    return web.json_response({"error": err.code, "detail": str(err)}, status=_ERROR_STATUS.get(err.code, 422))


def _invalid(detail: str) -> web.Response:
    return _error(TokenError("invalid", detail))


async def _body(request: web.Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


async def list_tokens(request: web.Request) -> web.Response:
    """``GET /api/tokens``."""
    return web.json_response(tokens_view(request.app[TOKENS_KEY].hub))


async def add_token(request: web.Request) -> web.Response:
    """``POST /api/tokens``: a new token, or one presented lately (``unknown``)."""
    service = request.app[TOKENS_KEY]
    body = await _body(request)
    if body is None:
        return _invalid('send a JSON object like {"name": "Anna\'s card", "id_token": "04A1B2C3", "type": "ISO14443"}')
    allowed = body.get("allowed", True)
    if not isinstance(allowed, bool):
        return _invalid("allowed must be true or false")
    try:
        if "unknown" in body:
            token = service.add_unknown(str(body["unknown"]), body.get("name"), allowed=allowed)
        else:
            token = service.add(body.get("name"), body.get("id_token"), body.get("type", "ISO14443"), allowed=allowed)
    except TokenError as err:
        return _error(err)
    return web.json_response(token_view(token, service.book), status=201)


async def change_token(request: web.Request) -> web.Response:
    """``PATCH /api/tokens/{ref}``: rename, allow or block, regroup, choose for remote starts."""
    service = request.app[TOKENS_KEY]
    body = await _body(request)
    known = {"name", "allowed", "group", "remote_start"}
    if body is None or not body or set(body) - known:
        return _invalid(f"send a JSON object with any of {', '.join(sorted(known))}")
    for flag in ("allowed", "remote_start"):
        if flag in body and not isinstance(body[flag], bool):
            return _invalid(f"{flag} must be true or false")
    group = body.get("group", False)
    if group is not False and group is not None and (not isinstance(group, str) or len(group) > 36):
        return _invalid("group must be text of at most 36 characters, or null")
    try:
        token = service.update(
            request.match_info["ref"],
            name=body.get("name"),
            allowed=body.get("allowed"),
            group=group,
            remote_start=body.get("remote_start"),
        )
    except TokenError as err:
        return _error(err)
    return web.json_response(token_view(token, service.book))


async def delete_token(request: web.Request) -> web.Response:
    """``DELETE /api/tokens/{ref}``."""
    service = request.app[TOKENS_KEY]
    try:
        token = service.delete(request.match_info["ref"])
    except TokenError as err:
        return _error(err)
    return web.json_response(token_view(token, service.book))


async def dismiss_unknown(request: web.Request) -> web.Response:
    """``DELETE /api/tokens/unknown/{ref}``."""
    try:
        request.app[TOKENS_KEY].dismiss_unknown(request.match_info["ref"])
    except TokenError as err:
        return _error(err)
    return web.json_response({"dismissed": request.match_info["ref"]})


async def energy(request: web.Request) -> web.Response:
    """``GET /api/tokens/energy``: energy per token and month (see :func:`~.token_views.energy_by_token`)."""
    month = request.query.get("month") or None
    if month is not None and not valid_month(month):
        return _invalid("month must be written YYYY-MM")
    zone = time_zone(request.query.get("tz"))
    chargers = request.app[TOKENS_KEY].hub.chargers.values()
    return web.json_response({"tz": str(zone), "rows": energy_by_token(chargers, zone=zone, month=month)})


async def set_policy(request: web.Request) -> web.Response:
    """``PUT /api/chargers/{id}/authorization`` with ``{"policy": "accept_all" | "known_only"}``."""
    service = request.app[TOKENS_KEY]
    body = await _body(request)
    if body is None or "policy" not in body:
        return _invalid('send a JSON object like {"policy": "known_only"}')
    charger_id = request.match_info["charger_id"]
    try:
        service.set_policy(charger_id, body["policy"])
    except TokenError as err:
        return _error(err)
    return web.json_response(authorization_view(service.hub.chargers[charger_id], service.book))


def _switch(setting: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        body = await _body(request)
        if body is None or not isinstance(body.get("enabled"), bool):
            return _invalid('send a JSON object like {"enabled": true}')
        service = request.app[TOKENS_KEY]
        return command_answer(await service.switch(request.match_info["charger_id"], setting, body["enabled"]))

    handler.__doc__ = f'``PUT /api/chargers/{{id}}/{setting}`` with ``{{"enabled": bool}}``: the honest result.'
    return handler


async def sync_local_list(request: web.Request) -> web.Response:
    """``POST /api/chargers/{id}/local_list/sync``: a full update now."""
    return command_answer(await request.app[TOKENS_KEY].send_list(request.match_info["charger_id"]))


def install_token_api(app: web.Application, tokens: TokenService) -> None:
    """Add the token routes to the panel port's application."""
    app[TOKENS_KEY] = tokens
    app.router.add_get("/api/tokens", list_tokens)
    app.router.add_post("/api/tokens", add_token)
    app.router.add_get("/api/tokens/energy", energy)
    app.router.add_delete("/api/tokens/unknown/{ref}", dismiss_unknown)
    app.router.add_patch("/api/tokens/{ref}", change_token)
    app.router.add_delete("/api/tokens/{ref}", delete_token)
    app.router.add_put("/api/chargers/{charger_id}/authorization", set_policy)
    app.router.add_put("/api/chargers/{charger_id}/charger_authorization", _switch("charger_authorization"))
    app.router.add_put("/api/chargers/{charger_id}/local_list", _switch("local_list"))
    app.router.add_post("/api/chargers/{charger_id}/local_list/sync", sync_local_list)

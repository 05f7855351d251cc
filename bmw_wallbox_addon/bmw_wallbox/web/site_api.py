"""``GET /api/site``: the site power budget as the panel and people see it."""

from __future__ import annotations

from aiohttp import web

from bmw_wallbox.site.service import SiteBudget

SITE_KEY = web.AppKey("site", SiteBudget)


async def get_site(request: web.Request) -> web.Response:
    """The budget now: fuse, grid and household per phase, headroom, meter age, state and each charger's share."""
    return web.json_response(request.app[SITE_KEY].view().to_json())


def install_site_api(app: web.Application, site: SiteBudget) -> None:
    """Add the site route to the JSON API."""
    app[SITE_KEY] = site
    app.router.add_get("/api/site", get_site)

"""The settings page as a sub-application mounted at /settings, served on app.<base domain> only."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.dashboard.account_routes import routes as account_routes
from gateway.dashboard.customer_routes import routes as customer_routes
from gateway.dashboard.domain_routes import routes as domain_routes
from gateway.dashboard.legal_routes import routes as legal_routes
from gateway.dashboard.renewal_routes import routes as renewal_routes
from gateway.dashboard.setting_routes import routes as setting_routes
from gateway.edge import keys
from gateway.edge.errors import NotFound

STATIC_DIRECTORY = Path(__file__).parent / "static"
TEMPLATE_DIRECTORY = Path(__file__).parent / "templates"


@web.middleware
async def app_host_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The settings page exists on app.<base domain> and nowhere else (not on tenant hosts)."""
    if request.get(keys.CANONICAL_HOST) != request.config_dict[keys.SETTINGS].app_host:
        raise NotFound("there is nothing at this address")
    return await handler(request)


def create_dashboard_app() -> web.Application:
    """The settings page's routes and static files; mount with `app.add_subapp(PREFIX, ...)`."""
    app = web.Application(middlewares=[app_host_only])
    for table in (
        account_routes,
        domain_routes,
        setting_routes,
        legal_routes,
        renewal_routes,
        customer_routes,
    ):
        app.router.add_routes(table)
    app.router.add_static("/static", STATIC_DIRECTORY, name="static", append_version=True)
    return app

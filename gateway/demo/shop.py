"""The demo merchant's own website: where the demo checkout returns after paying or leaving.

A real tenant's checkout returns to the tenant's site (the session's `success_url`
and `cancel_url`). `make run` has no such site, so the demo serves two small pages
on a loopback port and the gateway proxies `/demo-shop` on the tenant hosts to it
(GATEWAY_UPSTREAMS), as a deployment fronting a tenant's site would. The pages
are the merchant's, in the merchant's words (English), not the gateway's: the
gateway's own receipt is the completed checkout page they link to.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace

from aiohttp import web

from gateway.settings import Settings

PREFIX = "/demo-shop"
SESSION_ID = re.compile(r"^cs_[0-9A-Za-z]{22,}$")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body>
<main><h1>{title}</h1>{body}
<p><small>This page stands for the merchant's own website, where a hosted checkout returns.
It is part of the demo only.</small></p></main></body></html>
"""


def thanks_page(session_id: str | None) -> str:
    """The success page; links to the gateway's receipt of `session_id` when it is one."""
    body = "<p>Thank you for your order. Your subscription is set up.</p>"
    if session_id is not None and SESSION_ID.match(session_id):
        receipt = html.escape(f"/checkout/{session_id}")
        body += f'<p><a href="{receipt}">See what you paid and what comes next</a></p>'
    return PAGE.format(title="Thank you", body=body)


def left_page() -> str:
    """The cancel page: the customer left the checkout."""
    return PAGE.format(
        title="Checkout left",
        body="<p>You left the checkout. Nothing was charged.</p>",
    )


async def _thanks(request: web.Request) -> web.Response:
    return web.Response(text=thanks_page(request.query.get("session")), content_type="text/html")


async def _left(request: web.Request) -> web.Response:
    return web.Response(text=left_page(), content_type="text/html")


def shop_app() -> web.Application:
    app = web.Application()
    app.router.add_get(PREFIX + "/thanks", _thanks)
    app.router.add_get(PREFIX + "/", _left)
    app.router.add_get(PREFIX, _left)
    return app


@dataclass
class DemoShop:
    """The shop served from this process on 127.0.0.1:`port`; `close()` stops it."""

    runner: web.AppRunner
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings_for(self, settings: Settings) -> Settings:
        """`settings` with `/demo-shop` proxied to this shop, after any upstream of their own."""
        others = tuple(route for route in settings.upstreams if route[0] != PREFIX)
        return replace(settings, upstreams=(*others, (PREFIX, self.url)))

    async def close(self) -> None:
        await self.runner.cleanup()


def upstreams_value(settings: Settings) -> str:
    """`settings.upstreams` written as GATEWAY_UPSTREAMS reads it (for worker processes)."""
    return ",".join(f"{prefix}={url}" for prefix, url in settings.upstreams)


async def start_demo_shop(*, port: int = 0) -> DemoShop:
    """Serve the shop on 127.0.0.1:`port` (0: any free port)."""
    runner = web.AppRunner(shop_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return DemoShop(runner, int(runner.addresses[0][1]))

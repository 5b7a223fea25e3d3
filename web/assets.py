"""The shared web layer's static files (the billing form's script), served on every host."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_PREFIX = "/web-static"
STATIC_DIRECTORY = Path(__file__).parent / "static"
BILLING_FORM_SCRIPT = f"{STATIC_PREFIX}/billing_form.js"

routes = web.RouteTableDef()
routes.static(STATIC_PREFIX, STATIC_DIRECTORY)

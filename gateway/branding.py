"""The tenant's brand on the web: the icon route and the brand context every page template uses."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.helpers import ETAG_ANY

from gateway import keys
from gateway.errors import NotFound
from gateway.tenants.brand import contrast_color
from gateway.tenants.models import Tenant

ICON_PATH = "/brand/icon"
# The icon URL carries its ETag (`?v=`), so a changed icon is a new URL: cache forever.
IMMUTABLE = "public, max-age=31536000, immutable"
# Any other spelling of the URL (a bare /brand/icon) must notice a change: revalidate each time.
REVALIDATE = "public, no-cache"

# Used for pages that belong to no tenant (unknown hosts): names nobody.
NEUTRAL_COLOR = "#374151"

routes = web.RouteTableDef()


def brand_context(tenant: Tenant | None) -> dict[str, Any]:
    """What templates need to draw `tenant`'s brand; a neutral brand naming nobody for None."""
    if tenant is None:
        return {
            "name": None,
            "color": NEUTRAL_COLOR,
            "contrast": contrast_color(NEUTRAL_COLOR),
            "icon_url": None,
            "icon_type": None,
        }
    icon_url = None
    if tenant.icon_type is not None and tenant.icon_etag is not None:
        icon_url = f"{ICON_PATH}?v={quote(tenant.icon_etag.strip(chr(34)), safe='')}"
    return {
        "name": tenant.name,
        "color": tenant.brand_color,
        "contrast": contrast_color(tenant.brand_color),
        "icon_url": icon_url,
        "icon_type": tenant.icon_type,
    }


@routes.get(ICON_PATH)
async def brand_icon(request: web.Request) -> web.StreamResponse:
    """The tenant's icon with a strong ETag; 304 when the browser already has it."""
    tenant: Tenant | None = request.get(keys.TENANT)
    if tenant is None:
        raise NotFound("there is no icon here")
    row = await request.config_dict[keys.POOL].fetchrow(
        "SELECT icon, icon_type, icon_etag FROM tenants WHERE id = $1", tenant.id
    )
    if row is None or row["icon"] is None:
        raise NotFound("this site has no icon")
    icon: bytes = row["icon"]
    tag = (row["icon_etag"] or hashlib.sha256(icon).hexdigest()).strip('"')
    headers = {
        "ETag": f'"{tag}"',
        "Cache-Control": IMMUTABLE if request.query.get("v") == tag else REVALIDATE,
    }
    # RFC 9110 13.1.2: If-None-Match compares weakly and "*" matches any current icon.
    for candidate in request.if_none_match or ():
        if candidate.value in (tag, ETAG_ANY):
            return web.Response(status=304, headers=headers)
    return web.Response(body=icon, content_type=row["icon_type"], headers=headers)

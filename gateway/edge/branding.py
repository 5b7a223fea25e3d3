"""The tenant's brand on the web: the icon route and the brand context every page template uses."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import hdrs, web
from aiohttp.helpers import ETAG_ANY

from gateway.edge import keys
from gateway.edge.errors import NotFound
from gateway.tenants.icons import tenant_icon
from gateway.tenants.models import Tenant
from kernel.colors import contrast_color
from kernel.db import Db

ICON_PATH = "/brand/icon"
# The icon URL carries its ETag (`?v=`), so a changed icon is a new URL: cache forever.
IMMUTABLE = "public, max-age=31536000, immutable"
# Any other spelling of the URL (a bare /brand/icon) must notice a change: revalidate each time.
REVALIDATE = "public, no-cache"
# Icons are at most 256 KB each (the settings page's limit); most are a few KB.
ICON_CACHE_BYTES = 16 * 1024 * 1024

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


@dataclass(frozen=True)
class StoredIcon:
    """A tenant's icon as served: its bytes, media type and (unquoted) entity tag."""

    data: bytes
    content_type: str
    tag: str


class IconCache:
    """Icons by (tenant id, entity tag), least recently used dropped past `max_bytes`.

    An entity tag names the icon's content (a hash of it): a changed icon is a
    new key, so an entry is never stale, only unused.
    """

    def __init__(self, *, max_bytes: int = ICON_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._icons: OrderedDict[tuple[int, str], StoredIcon] = OrderedDict()
        self._bytes = 0

    def get(self, tenant_id: int, tag: str) -> StoredIcon | None:
        icon = self._icons.get((tenant_id, tag))
        if icon is not None:
            self._icons.move_to_end((tenant_id, tag))
        return icon

    def put(self, tenant_id: int, icon: StoredIcon) -> None:
        if len(icon.data) > self.max_bytes:
            return
        previous = self._icons.pop((tenant_id, icon.tag), None)
        if previous is not None:
            self._bytes -= len(previous.data)
        self._icons[(tenant_id, icon.tag)] = icon
        self._bytes += len(icon.data)
        while self._bytes > self.max_bytes:
            _, dropped = self._icons.popitem(last=False)
            self._bytes -= len(dropped.data)


# Per process: every app of a process shares it, which is safe because keys name content.
icon_cache = IconCache()


async def load_icon(db: Db, tenant_id: int) -> StoredIcon | None:
    """The tenant's icon as stored now, or None when it has none."""
    icon = await tenant_icon(db, tenant_id=tenant_id)
    if icon is None:
        return None
    tag = (icon.etag or hashlib.sha256(icon.data).hexdigest()).strip('"')
    return StoredIcon(data=icon.data, content_type=icon.content_type, tag=tag)


def _icon_headers(request: web.Request, tag: str) -> dict[str, str]:
    # The query is parsed only when there is one: a bare /brand/icon is the common request.
    versioned = bool(request.query_string) and request.query.get("v") == tag
    return {"ETag": f'"{tag}"', "Cache-Control": IMMUTABLE if versioned else REVALIDATE}


def _already_has(request: web.Request, tag: str) -> bool:
    if hdrs.IF_NONE_MATCH not in request.headers:
        return False
    # RFC 9110 13.1.2: If-None-Match compares weakly and "*" matches any current icon.
    return any(candidate.value in (tag, ETAG_ANY) for candidate in request.if_none_match or ())


@routes.get(ICON_PATH)
async def brand_icon(request: web.Request) -> web.StreamResponse:
    """The tenant's icon with a strong ETag; 304 when the browser already has it.

    The host index's tenant carries the current entity tag, so a revalidation
    and every request after the first are answered from memory. The database is
    read on a cache miss, and when the index does not know of an icon yet (it
    reloads shortly after a change).
    """
    tenant: Tenant | None = request.get(keys.TENANT)
    if tenant is None:
        raise NotFound("there is no icon here")
    current = tenant.icon_etag.strip('"') if tenant.icon_etag is not None else None
    icon = None
    if current is not None:
        if _already_has(request, current):
            return web.Response(status=304, headers=_icon_headers(request, current))
        icon = icon_cache.get(tenant.id, current)
    if icon is None:
        icon = await load_icon(request.config_dict[keys.POOL], tenant.id)
        if icon is None:
            raise NotFound("this site has no icon")
        icon_cache.put(tenant.id, icon)
        if _already_has(request, icon.tag):
            return web.Response(status=304, headers=_icon_headers(request, icon.tag))
    headers = _icon_headers(request, icon.tag)
    # As a header rather than `content_type=`, which aiohttp would parse and rebuild.
    headers[hdrs.CONTENT_TYPE] = icon.content_type
    return web.Response(body=icon.data, headers=headers)

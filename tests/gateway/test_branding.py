"""The tenant's icon: served from memory after the first request, and a new icon shows at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.app import create_app
from gateway.demo.icon import brand_icon
from gateway.edge import keys
from gateway.edge.branding import IconCache, StoredIcon
from gateway.settings import Settings
from gateway.tenants.icons import set_icon
from gateway.tenants.registry import create_tenant
from tests.conftest import eventually

Client = TestClient[web.Request, web.Application]
HOST = {"Host": "alpeak.localhost:8080"}
RED = brand_icon((0xAA, 0x00, 0x00))
BLUE = brand_icon((0x00, 0x00, 0xAA))


async def test_after_the_first_request_the_icon_costs_no_database_query(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    settings: Settings,
    pool: asyncpg.Pool,
) -> None:
    tenant = await create_tenant(pool, slug="alpeak", name="Alpeak", brand_color="#aa0000")
    tenant = await set_icon(pool, tenant_id=tenant.id, data=RED, max_bytes=262_144)
    client = await aiohttp_client(create_app(settings, domain_worker=False, outbox_delivery=False))
    index = client.app[keys.HOST_INDEX]
    found = await eventually(
        lambda: _lookup(index), lambda found: found is not None and found.icon_etag is not None
    )
    assert found is not None
    assert found.icon_etag == tenant.icon_etag

    first = await client.get(f"/brand/icon?v={tenant.icon_etag}", headers=HOST)
    assert first.status == 200
    assert await first.read() == RED
    # The stored bytes change behind the gateway's back while the tag stays: from here
    # on, a request that read the database would get the blue icon.
    await pool.execute("UPDATE tenants SET icon = $1 WHERE id = $2", BLUE, tenant.id)

    again = await client.get(f"/brand/icon?v={tenant.icon_etag}", headers=HOST)
    assert again.status == 200
    assert await again.read() == RED
    assert again.headers["Content-Type"] == "image/png"
    assert again.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    revalidated = await client.get(
        "/brand/icon", headers={**HOST, "If-None-Match": f'"{tenant.icon_etag}"'}
    )
    assert revalidated.status == 304
    assert revalidated.headers["ETag"] == f'"{tenant.icon_etag}"'
    for _ in range(3):
        served = await client.get(f"/brand/icon?v={tenant.icon_etag}", headers=HOST)
        assert await served.read() == RED


async def test_a_changed_icon_is_served_with_its_new_etag(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    settings: Settings,
    pool: asyncpg.Pool,
) -> None:
    tenant = await create_tenant(pool, slug="alpeak", name="Alpeak", brand_color="#aa0000")
    red = await set_icon(pool, tenant_id=tenant.id, data=RED, max_bytes=262_144)
    client = await aiohttp_client(create_app(settings, domain_worker=False, outbox_delivery=False))
    first = await client.get("/brand/icon", headers=HOST)
    assert await first.read() == RED
    assert first.headers["ETag"] == f'"{red.icon_etag}"'

    blue = await set_icon(pool, tenant_id=tenant.id, data=BLUE, max_bytes=262_144)
    assert blue.icon_etag != red.icon_etag

    async def fetch() -> tuple[int, bytes, str]:
        response = await client.get(
            "/brand/icon", headers={**HOST, "If-None-Match": f'"{red.icon_etag}"'}
        )
        return response.status, await response.read(), response.headers["ETag"]

    status, body, etag = await eventually(fetch, lambda answer: answer[1] == BLUE)
    assert (status, body, etag) == (200, BLUE, f'"{blue.icon_etag}"')


async def test_a_tenant_whose_icon_was_removed_has_none(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    settings: Settings,
    pool: asyncpg.Pool,
) -> None:
    tenant = await create_tenant(pool, slug="alpeak", name="Alpeak", brand_color="#aa0000")
    await set_icon(pool, tenant_id=tenant.id, data=RED, max_bytes=262_144)
    client = await aiohttp_client(create_app(settings, domain_worker=False, outbox_delivery=False))
    assert (await client.get("/brand/icon", headers=HOST)).status == 200

    await pool.execute(
        "UPDATE tenants SET icon = NULL, icon_type = NULL, icon_etag = NULL WHERE id = $1",
        tenant.id,
    )

    async def status() -> int:
        return (await client.get("/brand/icon", headers=HOST)).status

    assert await eventually(status, lambda code: code == 404) == 404


def test_the_icon_cache_keeps_the_recently_used_icons_within_its_budget() -> None:
    cache = IconCache(max_bytes=10)
    cache.put(1, StoredIcon(data=b"aaaa", content_type="image/png", tag="a"))
    cache.put(2, StoredIcon(data=b"bbbb", content_type="image/png", tag="b"))
    assert cache.get(1, "a") is not None  # now the most recently used
    cache.put(3, StoredIcon(data=b"cccc", content_type="image/png", tag="c"))

    assert cache.get(2, "b") is None
    assert cache.get(1, "a") is not None
    assert cache.get(3, "c") is not None
    assert cache.get(1, "b") is None  # another tenant's tag is another key
    cache.put(4, StoredIcon(data=b"x" * 11, content_type="image/png", tag="big"))
    assert cache.get(4, "big") is None


async def _lookup(index: Any) -> Any:
    return index.lookup("alpeak.localhost")

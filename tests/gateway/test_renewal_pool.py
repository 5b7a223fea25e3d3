"""The renewal job's database connections are its own: a busy job never makes pages wait."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.app import create_app
from gateway.edge import keys
from gateway.settings import Settings
from tests.portal.seed import ALPEAK, seed_tenants

Client = TestClient[web.Request, web.Application]


async def test_pages_are_served_while_the_renewal_job_holds_all_its_connections(
    pool: asyncpg.Pool,
    settings: Settings,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> None:
    seeded = await seed_tenants(pool)
    client = await aiohttp_client(create_app(replace(settings, db_job_pool_max=3)))
    app = client.app
    renewal_pool = app[keys.RENEWAL_POOL]
    assert renewal_pool is not app[keys.POOL]
    assert renewal_pool.get_max_size() == 3
    held: list[Any] = []
    async with contextlib.AsyncExitStack() as stack:
        # Take every connection the job could get (its listener may hold one already).
        while True:
            try:
                connection = await asyncio.wait_for(renewal_pool.acquire(), 1.0)
            except TimeoutError:
                break
            held.append(connection)
            stack.push_async_callback(renewal_pool.release, connection)
        assert renewal_pool.get_size() == 3
        # A batch of renewals in the same state: every page still gets a connection.
        for path in (f"/portal/{seeded.customer_id}", f"/portal/{seeded.customer_id}/invoices"):
            response = await asyncio.wait_for(client.get(path, headers=ALPEAK), 10)
            assert response.status == 200, await response.text()
    assert held

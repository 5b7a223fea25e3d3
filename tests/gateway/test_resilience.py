"""PostgreSQL stopped and restarted under requests: the gateway degrades to 503s and recovers.

This test runs a PostgreSQL server of its own: stopping the session's shared
server would break every other test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.database.embedded import EmbeddedPostgres, free_port
from gateway.edge import keys
from gateway.settings import Settings
from gateway.tenants.api_keys import create_api_key
from gateway.tenants.registry import create_tenant
from tests.gateway.ops_gateway import observed_app

Client = TestClient[web.Request, web.Application]
TENANT_HOST = {"Host": "acme.localhost:8080"}
# Generous for a loaded 2-core machine; what matters is seconds, not minutes.
FAIL_FAST_SECONDS = 5.0
RECOVERY_SECONDS = 45.0

pytestmark = pytest.mark.slow


@pytest.fixture
def own_postgres() -> Iterator[tuple[EmbeddedPostgres, str]]:
    """A PostgreSQL server for this test alone, on a fixed port so a restart keeps its URL."""
    directory = Path(tempfile.mkdtemp(prefix="gateway-resilience-pg-"))
    directory.chmod(0o755)  # as root, the server runs as postgres and must reach its cluster
    server = EmbeddedPostgres(directory, port=free_port())
    try:
        yield server, server.start()
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def client(
    own_postgres: tuple[EmbeddedPostgres, str],
    tmp_path: Path,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> Client:
    settings = Settings(
        database_url=own_postgres[1],
        data_dir=tmp_path,
        kek=os.urandom(32),
        http_port=8080,
        redirect_http=False,
        db_command_timeout=5.0,
    )
    return await aiohttp_client(observed_app(settings))


async def until(probe: Callable[[], Awaitable[bool]], *, within: float, what: str) -> float:
    """Seconds until `probe` is true; fails the test after `within` seconds."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not await probe():
        assert loop.time() - started < within, f"{what} did not happen within {within} s"
        await asyncio.sleep(0.1)
    return loop.time() - started


class Traffic:
    """Requests sent without pause during the outage; every answer is recorded."""

    def __init__(self, client: Client, headers: dict[str, str], wallet: str) -> None:
        self.client = client
        self.headers = headers
        self.wallet = wallet
        self.statuses: list[int] = []
        self.slowest = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            response = await self.client.get(f"/api/v1/wallets/{self.wallet}", headers=self.headers)
            await response.read()
            self.statuses.append(response.status)
            self.slowest = max(self.slowest, loop.time() - started)
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(traffic: Traffic) -> AsyncIterator[None]:
    task = asyncio.create_task(traffic.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_postgresql_restart_degrades_to_branded_503s_and_recovers_without_losing_credit(
    client: Client, own_postgres: tuple[EmbeddedPostgres, str]
) -> None:
    server, _ = own_postgres
    app = client.app
    pool = app[keys.POOL]
    tenant = await create_tenant(pool, slug="acme", name="Acme Outdoor", brand_color="#0a7d32")
    _, key = await create_api_key(pool, tenant_id=tenant.id)
    api = {"Host": "api.localhost:8080", "Authorization": f"Bearer {key}"}
    await until(
        lambda: _true(app[keys.HOST_INDEX].lookup("acme.localhost") is not None),
        within=15,
        what="the tenant reaching the host index",
    )
    response = await client.post("/api/v1/customers", json={"name": "Jo Walker"}, headers=api)
    assert response.status == 201, await response.text()
    customer = (await response.json())["id"]
    response = await client.post(
        "/api/v1/wallets", json={"customer": customer, "currency": "EUR"}, headers=api
    )
    assert response.status == 201, await response.text()
    wallet = (await response.json())["id"]
    credit = {"Idempotency-Key": "topup-2026-11-17", **api}

    traffic = Traffic(client, api, wallet)
    async with running(traffic):
        await asyncio.to_thread(server.stop)

        # Cached tenants still resolve (the page names and brands the tenant), but what
        # needs the database is a prompt, branded 503.
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await client.get(f"/portal/{customer}", headers=TENANT_HOST)
        assert loop.time() - started < FAIL_FAST_SECONDS
        assert response.status == 503
        page = await response.text()
        assert "--brand: #0a7d32" in page
        assert "Acme Outdoor" in page

        response = await client.post(
            f"/api/v1/wallets/{wallet}/credits", json={"amount": 2500}, headers=credit
        )
        assert response.status == 503
        assert (await response.json())["title"] == "Service unavailable"

        response = await client.get("/readyz")
        assert response.status == 503
        assert (await client.get("/healthz")).status == 200

        await asyncio.to_thread(server.start)

        async def ready() -> bool:
            return (await client.get("/readyz")).status == 200

        await until(ready, within=RECOVERY_SECONDS, what="readiness after the restart")

        async def wallet_served() -> bool:
            return traffic.statuses[-1:] == [200]

        await until(wallet_served, within=RECOVERY_SECONDS, what="API answers after the restart")

    # Never a 500 while PostgreSQL was away, and never a hang.
    assert set(traffic.statuses) <= {200, 503}, traffic.statuses
    assert 503 in traffic.statuses
    assert traffic.slowest < FAIL_FAST_SECONDS + 5

    # The client retries its credit with the same key after recovery: credited exactly once.
    first = await client.post(
        f"/api/v1/wallets/{wallet}/credits", json={"amount": 2500}, headers=credit
    )
    assert first.status == 201, await first.text()
    again = await client.post(
        f"/api/v1/wallets/{wallet}/credits", json={"amount": 2500}, headers=credit
    )
    assert again.status == 201
    body: dict[str, Any] = await first.json()
    assert (await again.json())["transaction"]["id"] == body["transaction"]["id"]
    assert body["wallet"]["balance"] == 2500
    entries = await pool.fetchval(
        "SELECT count(*) FROM wallet_ledger WHERE tenant_id = $1 AND wallet_id = $2",
        tenant.id,
        wallet,
    )
    assert entries == 1

    # The host index follows changes again (its listener reconnected by itself).
    await create_tenant(pool, slug="newcomer", name="Newcomer", brand_color="#123456")
    await until(
        lambda: _true(app[keys.HOST_INDEX].lookup("newcomer.localhost") is not None),
        within=RECOVERY_SECONDS,
        what="a new tenant reaching the host index after the restart",
    )
    response = await client.get(f"/portal/{customer}", headers=TENANT_HOST)
    assert response.status in (200, 302, 303, 403, 404)


async def _true(value: bool) -> bool:
    return value

"""Certificate choice refuses names it does not serve from memory, without asking PostgreSQL.

A real gateway on free ports; every use of its database pool is counted by a
wrapper put in front of the pool before the HTTPS listener starts.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from aiohttp import web

from gateway.edge import keys
from gateway.settings import Settings
from gateway.tenants.registry import create_tenant
from kernel.ids import new_id
from tests.conftest import eventually
from tests.gateway.https_gateway import (
    HttpsConnection,
    gateway_app,
    running_gateway,
    trusting,
    with_free_ports,
)
from tests.tls.clients import client_hello

UNKNOWN_NAMES = 10_000
CONCURRENCY = 32
# Statements the gateway may run meanwhile whatever the flood (a background job's poll).
BACKGROUND_ALLOWANCE = 20


class CountingPool:
    """An asyncpg pool that counts each statement and each connection taken from it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.uses = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    def _counted(self, name: str) -> Any:
        self.uses += 1
        return getattr(self._pool, name)

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await self._counted("execute")(*args, **kwargs)

    async def executemany(self, *args: Any, **kwargs: Any) -> Any:
        return await self._counted("executemany")(*args, **kwargs)

    async def fetch(self, *args: Any, **kwargs: Any) -> Any:
        return await self._counted("fetch")(*args, **kwargs)

    async def fetchrow(self, *args: Any, **kwargs: Any) -> Any:
        return await self._counted("fetchrow")(*args, **kwargs)

    async def fetchval(self, *args: Any, **kwargs: Any) -> Any:
        return await self._counted("fetchval")(*args, **kwargs)

    def acquire(self, *args: Any, **kwargs: Any) -> Any:
        return self._counted("acquire")(*args, **kwargs)


def counted_app(settings: Settings) -> tuple[web.Application, list[CountingPool]]:
    app = gateway_app(settings)
    counters: list[CountingPool] = []

    async def count_pool(app: web.Application) -> AsyncIterator[None]:
        pool = app[keys.POOL]
        counter = CountingPool(pool)
        counters.append(counter)
        app[keys.POOL] = counter  # type: ignore[misc]
        yield  # the database context closes the real pool itself

    app.cleanup_ctx.append(count_pool)
    return app, counters


async def refused(port: int, hello: bytes) -> bytes:
    """Send a ClientHello, return what the server answers before it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(hello)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()


async def handshake(port: int, client: ssl.SSLContext, name: str) -> str:
    connection = await HttpsConnection.open(port, client, name)
    serial = connection.serial
    await connection.close()
    return serial


async def root_of(pool: asyncpg.Pool, settings: Settings) -> str:
    from certs.internal_ca import InternalCA
    from kernel.sealing import Sealer

    assert settings.kek is not None
    authority = await InternalCA.load_or_create(
        pool, Sealer(settings.kek), permitted_names=settings.internal_ca_permitted_names
    )
    return authority.root_pem


async def test_ten_thousand_unknown_names_run_no_statement_while_known_names_handshake(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    await create_tenant(pool, slug="alpeak", name="Alpeak", brand_color="#0e7c66")
    settings = with_free_ports(settings)
    app, counters = counted_app(settings)
    async with running_gateway(settings, app=app):
        (counter,) = counters
        port = settings.https_port
        client = trusting(await root_of(pool, settings))
        known = "alpeak.localhost"
        serial = await handshake(port, client, known)  # issued and cached now
        before = counter.uses
        # Random names anywhere, and random tenant slugs under the base domain (these
        # used to be looked up as tenants created a moment ago).
        names = [
            f"{secrets.token_hex(8)}.example" if i % 2 else f"t{secrets.token_hex(6)}.localhost"
            for i in range(UNKNOWN_NAMES)
        ]
        assert len(set(names)) == UNKNOWN_NAMES
        gate = asyncio.Semaphore(CONCURRENCY)
        answers: list[bytes] = []

        async def one(name: str) -> None:
            async with gate:
                answers.append(await refused(port, client_hello(name)))

        started = time.monotonic()
        handshakes: list[str] = []
        flood = asyncio.gather(*(one(name) for name in names))
        while not flood.done():
            handshakes.append(await handshake(port, client, known))
            await asyncio.wait({flood}, timeout=0.2)
        await flood
        elapsed = time.monotonic() - started
        used = counter.uses - before
    print(
        f"{UNKNOWN_NAMES} unknown names refused in {elapsed:.1f} s with {used} pool uses;"
        f" {len(handshakes)} known-name handshakes meanwhile"
    )

    # unrecognized_name is a fatal alert (21 = alert record, level 2, description 112).
    assert len(answers) == UNKNOWN_NAMES
    assert all(answer[:1] == b"\x15" and answer[5:7] == b"\x02\x70" for answer in answers)
    assert used <= BACKGROUND_ALLOWANCE, f"{used} pool uses for {UNKNOWN_NAMES} unknown names"
    assert len(handshakes) >= 2, f"the flood took {elapsed:.1f} s"
    assert set(handshakes) == {serial}


async def test_a_newly_activated_domain_handshakes_as_soon_as_the_index_learns_it(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    tenant = await create_tenant(pool, slug="alpeak", name="Alpeak", brand_color="#0e7c66")
    # The custom domain is issued by the internal CA, whose root must permit it.
    settings = with_free_ports(settings, internal_ca_names=("alpeak.test",))
    name = "billing.alpeak.test"
    async with running_gateway(settings):
        client = trusting(await root_of(pool, settings))
        answer = await refused(settings.https_port, client_hello(name))
        assert answer[5:7] == b"\x02\x70"

        # Proven and verified, as the domain worker leaves it: due for its first certificate.
        changed = time.monotonic()
        await pool.execute(
            "INSERT INTO domains (id, tenant_id, name, status, proven_at)"
            " VALUES ($1, $2, $3, 'verified', now())",
            new_id("dom"),
            tenant.id,
            name,
        )

        async def attempt() -> str | None:
            try:
                return await handshake(settings.https_port, client, name)
            except (ssl.SSLError, ConnectionError):
                return None

        serial = await eventually(attempt, lambda result: result is not None)
        waited = time.monotonic() - changed

    assert serial is not None
    print(f"first handshake {waited:.2f} s after the domain was verified")

"""The domain worker against real Pebble and pebble-challtestsrv, driven one pass at a time.

Names resolve through challtestsrv (127.0.0.1 for any name it was not told
about); a test points a name at cname.localhost with a CNAME. Pebble's
validator reaches the HTTP-01 responder below on its httpPort.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from certs.challenges import http01_response
from gateway.database.pool import create_pool
from gateway.issuers import build_issuer
from gateway.jobs.domain_worker import DomainWorker
from gateway.settings import Settings
from gateway.tenants import domains
from gateway.tenants.domains import Domain
from gateway.tenants.lifecycle import LifecycleServices, latest_certificate
from gateway.tenants.registry import create_tenant
from kernel.sealing import Sealer
from tests.conftest import eventually
from tests.fixtures.pebble import Pebble, challtestsrv, pebble

__all__ = ["challtestsrv", "pebble"]

pytestmark = pytest.mark.slow


def unique_name() -> str:
    return f"billing-{secrets.token_hex(4)}.alpeak.test"


@pytest.fixture
def acme_settings(settings: Settings, pebble: Pebble) -> Settings:
    return dataclasses.replace(
        settings,
        issuer="acme",
        acme_directory_url=pebble.directory_url,
        acme_ca_bundle=pebble.ca_bundle,
        acme_challenges=("http-01",),
        dns_resolver=("127.0.0.1", pebble.dns.dns_port),
    )


@pytest.fixture
def sealer() -> Sealer:
    return Sealer(os.urandom(32))


async def make_worker(pool: Any, sealer: Sealer, settings: Settings) -> DomainWorker:
    issuer = await build_issuer(settings, pool, sealer)
    return DomainWorker(
        LifecycleServices.build(pool=pool, sealer=sealer, settings=settings, issuer=issuer)
    )


@pytest.fixture
async def worker(pool: asyncpg.Pool, sealer: Sealer, acme_settings: Settings) -> DomainWorker:
    return await make_worker(pool, sealer, acme_settings)


@pytest.fixture
async def http01_responder(aiohttp_server: Any, pool: asyncpg.Pool, pebble: Pebble) -> None:
    """Answers Pebble's HTTP-01 validator from the challenge store, as the port-80 route does."""

    async def challenge(request: web.Request) -> web.Response:
        host = request.host.rsplit(":", 1)[0]
        answer = await http01_response(pool, request.match_info["token"], name=host)
        if answer is None:
            raise web.HTTPNotFound()
        return web.Response(text=answer)

    app = web.Application()
    app.router.add_get("/.well-known/acme-challenge/{token}", challenge)
    await aiohttp_server(app, host="127.0.0.1", port=pebble.http_port)


@pytest.fixture
async def tenant_id(pool: asyncpg.Pool) -> int:
    tenant = await create_tenant(pool, slug="alpeak", name="Alpeak", brand_color="#0e7c66")
    return tenant.id


async def reload(pool: asyncpg.Pool, domain: Domain) -> Domain:
    return await domains.get_domain(pool, tenant_id=domain.tenant_id, name=domain.name)


async def orders(pool: asyncpg.Pool, name: str) -> list[str]:
    rows = await pool.fetch("SELECT outcome FROM acme_orders WHERE name = $1 ORDER BY id", name)
    return [row["outcome"] for row in rows]


async def test_a_domain_goes_from_pending_dns_to_active_with_a_pebble_certificate_then_moved(
    pool: asyncpg.Pool,
    worker: DomainWorker,
    http01_responder: None,
    pebble: Pebble,
    tenant_id: int,
) -> None:
    name = unique_name()
    domain = await domains.add_domain(pool, tenant_id=tenant_id, name=name, base_domain="localhost")
    clock = datetime.now(UTC)

    assert await worker.run_due(clock) == 1
    pending = await reload(pool, domain)
    assert pending.status == "pending_dns"
    assert pending.diagnosis["problems"][0]["code"] == "address_elsewhere"
    assert "cname.localhost" in pending.diagnosis["problems"][0]["message"]
    assert await orders(pool, name) == []  # a name not pointed at us places no order
    assert pending.next_check_at is not None
    assert pending.next_check_at > clock

    pebble.dns.set_cname(name, "cname.localhost")
    pebble.dns.set_txt(domain.proof_record_name, domain.proof_token)
    clock = pending.next_check_at + timedelta(seconds=1)
    assert await worker.run_due(clock) == 1
    active = await reload(pool, domain)
    certificate = await latest_certificate(pool, active)

    assert active.status == "active", active.failure_reason
    assert certificate is not None
    assert certificate.issuer == "acme"
    assert await orders(pool, name) == ["valid"]
    assert active.next_check_at is not None

    pebble.dns.clear_cname(name)
    assert await worker.run_due(active.next_check_at + timedelta(seconds=1)) == 1
    moved = await reload(pool, domain)
    assert moved.status == "moved"
    assert moved.moved_at is not None
    assert await orders(pool, name) == ["valid"]


async def test_a_rejected_challenge_fails_with_the_reason_and_the_budget_stops_a_retry_storm(
    pool: asyncpg.Pool, worker: DomainWorker, pebble: Pebble, tenant_id: int
) -> None:
    # Nothing answers on Pebble's httpPort: every validation fails.
    name = unique_name()
    pebble.dns.set_cname(name, "cname.localhost")
    domain = await domains.add_domain(pool, tenant_id=tenant_id, name=name, base_domain="localhost")
    pebble.dns.set_txt(domain.proof_record_name, domain.proof_token)
    clock = datetime.now(UTC)

    await worker.run_due(clock)
    failed = await reload(pool, domain)
    assert failed.status == "failed"
    assert failed.failure_reason
    assert name in failed.failure_reason
    assert failed.next_check_at is not None
    assert failed.next_check_at - clock == timedelta(minutes=1)
    assert await orders(pool, name) == ["invalid"]

    # The schedule retries; the failed-validation budget (5 per name per hour) ends it.
    for _ in range(10):
        clock = failed.next_check_at + timedelta(seconds=1)
        await worker.run_due(clock)
        failed = await reload(pool, domain)
        assert failed.next_check_at is not None
        if failed.failure_reason and failed.failure_reason.startswith("held back until"):
            break
    assert failed.status == "failed"
    assert failed.failure_reason is not None
    assert failed.failure_reason.startswith("held back until")
    assert await orders(pool, name) == ["invalid"] * 5
    held_until = failed.next_check_at
    assert held_until is not None
    assert held_until > datetime.now(UTC) + timedelta(minutes=50)

    # Within the hour, no further order whatever the worker does.
    await worker.run_due(datetime.now(UTC) + timedelta(minutes=10))
    assert await orders(pool, name) == ["invalid"] * 5


@pytest.fixture
async def second_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(database_url, min_size=1, max_size=5)
    try:
        yield created
    finally:
        await created.close()


async def test_two_workers_on_two_pools_at_once_place_exactly_one_order(
    pool: asyncpg.Pool,
    second_pool: asyncpg.Pool,
    sealer: Sealer,
    acme_settings: Settings,
    http01_responder: None,
    pebble: Pebble,
    tenant_id: int,
) -> None:
    name = unique_name()
    pebble.dns.set_cname(name, "cname.localhost")
    domain = await domains.add_domain(pool, tenant_id=tenant_id, name=name, base_domain="localhost")
    pebble.dns.set_txt(domain.proof_record_name, domain.proof_token)
    first = await make_worker(pool, sealer, acme_settings)
    second = await make_worker(second_pool, sealer, acme_settings)
    clock = datetime.now(UTC)

    handled = await asyncio.gather(first.run_due(clock), second.run_due(clock))

    assert sorted(handled) == [0, 1]
    assert (await reload(pool, domain)).status == "active"
    assert await orders(pool, name) == ["valid"]
    assert (
        await pool.fetchval("SELECT count(*) FROM certificates WHERE domain_id = $1", domain.id)
        == 1
    )


async def listener_pids(pool: asyncpg.Pool, role: str) -> list[int]:
    rows = await pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1", f"gateway {role}"
    )
    return [row["pid"] for row in rows]


async def test_a_domain_added_after_the_workers_connection_was_lost_is_checked_at_once(
    pool: asyncpg.Pool, worker: DomainWorker, tenant_id: int
) -> None:
    worker.interval = 3600.0  # only a NOTIFY can start a pass in this test
    running = asyncio.create_task(worker.run())
    try:
        [lost] = await eventually(lambda: listener_pids(pool, "domain worker"), bool, within=30)
        await pool.execute("SELECT pg_terminate_backend($1)", lost)
        back = await eventually(
            lambda: listener_pids(pool, "domain worker"),
            lambda pids: bool(pids) and lost not in pids,
            within=30,
        )
        assert back
        name = unique_name()
        domain = await domains.add_domain(
            pool, tenant_id=tenant_id, name=name, base_domain="localhost"
        )
        checked = await eventually(
            lambda: reload(pool, domain), lambda found: bool(found.diagnosis), within=30
        )
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert checked.status == "pending_dns"
    assert checked.diagnosis["problems"][0]["code"] == "address_elsewhere"

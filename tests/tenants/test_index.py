"""The host index: tenants and served domains resolve from memory and follow changes live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from gateway.tenants.index import HostIndex
from kernel.ids import new_id

# Generous: the test machine may be loaded; a passing run takes a fraction of a second.
PATIENCE_SECONDS = 10.0


async def insert_tenant(pool: asyncpg.Pool, slug: str, color: str = "#112233") -> int:
    tenant_id: int = await pool.fetchval(
        "INSERT INTO tenants (slug, name, brand_color) VALUES ($1, $2, $3) RETURNING id",
        slug,
        slug.title(),
        color,
    )
    return tenant_id


async def insert_domain(pool: asyncpg.Pool, tenant_id: int, name: str, status: str) -> str:
    domain_id = new_id("dom")
    await pool.execute(
        """INSERT INTO domains (id, tenant_id, name, status, proven_at)
           VALUES ($1, $2, $3, $4, CASE WHEN $4 = 'pending_dns' THEN NULL ELSE now() END)""",
        domain_id,
        tenant_id,
        name,
        status,
    )
    return domain_id


async def eventually(condition: Callable[[], bool]) -> None:
    deadline = asyncio.get_running_loop().time() + PATIENCE_SECONDS
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"not true after {PATIENCE_SECONDS} s")
        await asyncio.sleep(0.05)


@pytest.fixture
async def index(pool: asyncpg.Pool) -> AsyncIterator[HostIndex]:
    host_index = HostIndex(base_domain="localhost", retry_initial_seconds=0.1)
    await host_index.load(pool)
    await host_index.listen(pool)
    try:
        yield host_index
    finally:
        await host_index.close()


def slug_of(index: HostIndex, host: str) -> Any:
    tenant = index.lookup(host)
    return None if tenant is None else tenant.slug


async def test_default_subdomains_and_served_domains_resolve_after_load(
    pool: asyncpg.Pool,
) -> None:
    alpeak = await insert_tenant(pool, "alpeak")
    await insert_tenant(pool, "bergwerk")
    await insert_domain(pool, alpeak, "billing.alpeak.com", "active")
    await insert_domain(pool, alpeak, "pay.alpeak.com", "renewing")
    await insert_domain(pool, alpeak, "new.alpeak.com", "pending_dns")
    await insert_domain(pool, alpeak, "old.alpeak.com", "moved")
    index = HostIndex(base_domain="localhost")
    await index.load(pool)
    assert slug_of(index, "alpeak.localhost") == "alpeak"
    assert slug_of(index, "bergwerk.localhost") == "bergwerk"
    assert slug_of(index, "billing.alpeak.com") == "alpeak"
    assert slug_of(index, "pay.alpeak.com") == "alpeak"
    assert index.lookup("new.alpeak.com") is None
    assert index.lookup("old.alpeak.com") is None
    assert index.lookup("nobody.localhost") is None
    assert index.lookup("localhost") is None


async def test_a_new_tenant_resolves_without_restart(pool: asyncpg.Pool, index: HostIndex) -> None:
    assert index.lookup("alpeak.localhost") is None
    await insert_tenant(pool, "alpeak")
    await eventually(lambda: slug_of(index, "alpeak.localhost") == "alpeak")


async def test_a_renamed_tenant_moves_to_its_new_host_without_restart(
    pool: asyncpg.Pool, index: HostIndex
) -> None:
    await insert_tenant(pool, "alpeak")
    await eventually(lambda: index.lookup("alpeak.localhost") is not None)
    await pool.execute("UPDATE tenants SET slug = 'alpeak-ag' WHERE slug = 'alpeak'")
    await eventually(lambda: slug_of(index, "alpeak-ag.localhost") == "alpeak-ag")
    assert index.lookup("alpeak.localhost") is None


async def test_a_brand_change_reaches_the_index_without_restart(
    pool: asyncpg.Pool, index: HostIndex
) -> None:
    await insert_tenant(pool, "alpeak", color="#112233")
    await eventually(lambda: index.lookup("alpeak.localhost") is not None)
    await pool.execute("UPDATE tenants SET brand_color = '#aa0000' WHERE slug = 'alpeak'")

    def recoloured() -> bool:
        tenant = index.lookup("alpeak.localhost")
        return tenant is not None and tenant.brand_color == "#aa0000"

    await eventually(recoloured)


async def test_an_activated_domain_resolves_and_a_moved_one_stops(
    pool: asyncpg.Pool, index: HostIndex
) -> None:
    tenant_id = await insert_tenant(pool, "alpeak")
    domain_id = await insert_domain(pool, tenant_id, "billing.alpeak.com", "issuing")
    await eventually(lambda: index.lookup("alpeak.localhost") is not None)
    assert index.lookup("billing.alpeak.com") is None
    await pool.execute("UPDATE domains SET status = 'active' WHERE id = $1", domain_id)
    await eventually(lambda: slug_of(index, "billing.alpeak.com") == "alpeak")
    await pool.execute("UPDATE domains SET status = 'moved' WHERE id = $1", domain_id)
    await eventually(lambda: index.lookup("billing.alpeak.com") is None)


async def test_the_index_keeps_following_after_its_connection_is_killed(
    pool: asyncpg.Pool, index: HostIndex
) -> None:
    async def listener_pids() -> list[int]:
        rows = await pool.fetch(
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = 'gateway host index' AND datname = current_database()"
        )
        return [row["pid"] for row in rows]

    deadline = asyncio.get_running_loop().time() + PATIENCE_SECONDS
    while not (pids := await listener_pids()):
        assert asyncio.get_running_loop().time() < deadline, "the listener never connected"
        await asyncio.sleep(0.05)
    for pid in pids:
        await pool.execute("SELECT pg_terminate_backend($1)", pid)
    # Changes made while the listener is down are picked up by the reload on reconnect.
    await insert_tenant(pool, "alpeak")
    await eventually(lambda: slug_of(index, "alpeak.localhost") == "alpeak")
    await insert_tenant(pool, "bergwerk")
    await eventually(lambda: slug_of(index, "bergwerk.localhost") == "bergwerk")


async def test_a_reload_shows_one_tenants_change_on_all_its_hosts_and_keeps_the_others(
    pool: asyncpg.Pool,
) -> None:
    alpeak = await insert_tenant(pool, "alpeak", color="#112233")
    bergwerk = await insert_tenant(pool, "bergwerk", color="#445566")
    for name in ("billing.alpeak.com", "pay.alpeak.com", "eu.alpeak.com"):
        await insert_domain(pool, alpeak, name, "active")
    await insert_domain(pool, alpeak, "soon.alpeak.com", "verified")
    await insert_domain(pool, bergwerk, "billing.bergwerk.de", "active")
    index = HostIndex(base_domain="localhost")
    await index.load(pool)
    # A column the NOTIFY trigger does not list is still read on the next load.
    await pool.execute(
        "UPDATE tenants SET webhook_url = 'https://a.example/hook' WHERE id = $1", alpeak
    )
    await pool.execute("UPDATE tenants SET brand_color = '#aa0000' WHERE id = $1", alpeak)
    await index.load(pool)
    for host in ("alpeak.localhost", "billing.alpeak.com", "pay.alpeak.com", "eu.alpeak.com"):
        tenant = index.lookup(host)
        assert tenant is not None
        assert (tenant.brand_color, tenant.webhook_url) == ("#aa0000", "https://a.example/hook")
    awaiting = index.awaiting_certificate("soon.alpeak.com")
    assert awaiting is not None
    assert awaiting.brand_color == "#aa0000"
    assert index.lookup("soon.alpeak.com") is None
    other = index.lookup("billing.bergwerk.de")
    assert other is not None
    assert (other.slug, other.brand_color) == ("bergwerk", "#445566")
    await pool.execute("DELETE FROM tenants WHERE id = $1", bergwerk)
    await index.load(pool)
    assert index.lookup("bergwerk.localhost") is None
    assert index.lookup("billing.bergwerk.de") is None


class CountingIndex(HostIndex):
    """A host index that counts its loads and can commit a change while one runs."""

    def __init__(self, pool: asyncpg.Pool, *, change_during_first_load: str | None = None) -> None:
        super().__init__(base_domain="localhost", debounce_seconds=0.05)
        self.pool = pool
        self.loads = 0
        self.change_during_first_load = change_during_first_load

    async def load(self, pool: asyncpg.Pool[Any]) -> None:
        self.loads += 1
        await super().load(pool)

    async def _load_tenants(self, connection: Any) -> dict[int, Any]:
        tenants = await super()._load_tenants(connection)  # the snapshot is taken
        slug, self.change_during_first_load = self.change_during_first_load, None
        if slug is not None:
            await insert_tenant(self.pool, slug)  # committed after it: not in this load
        return tenants


async def test_start_up_builds_the_map_once_and_then_follows_changes(pool: asyncpg.Pool) -> None:
    await insert_tenant(pool, "alpeak")
    index = CountingIndex(pool)
    await index.start(pool)
    try:
        assert slug_of(index, "alpeak.localhost") == "alpeak"
        # The first LISTEN came before the load, so no reload follows it (a million
        # domains are read and built once at start-up, not twice).
        await asyncio.sleep(0.5)
        assert index.loads == 1
        await insert_tenant(pool, "bergwerk")
        await eventually(lambda: slug_of(index, "bergwerk.localhost") == "bergwerk")
        assert index.loads == 2
    finally:
        await index.close()


async def test_a_change_committed_while_the_first_load_runs_is_read_by_a_reload(
    pool: asyncpg.Pool,
) -> None:
    index = CountingIndex(pool, change_during_first_load="alpeak")
    await index.start(pool)
    try:
        assert slug_of(index, "alpeak.localhost") is None  # after the load's snapshot
        await eventually(lambda: slug_of(index, "alpeak.localhost") == "alpeak")
    finally:
        await index.close()


async def test_tenants_with_equal_settings_share_them_in_memory(pool: asyncpg.Pool) -> None:
    for slug in ("alpeak", "bergwerk", "corvid"):
        await insert_tenant(pool, slug)
    await pool.execute("UPDATE tenants SET wallet_topup_min = 700 WHERE slug = 'corvid'")
    index = HostIndex(base_domain="localhost")
    await index.load(pool)
    alpeak, bergwerk, corvid = (
        index.lookup(f"{s}.localhost") for s in ("alpeak", "bergwerk", "corvid")
    )
    assert alpeak is not None
    assert bergwerk is not None
    assert corvid is not None
    # A million domains over 100,000 tenants: one copy of the usual settings, not 100,000.
    assert alpeak.wallet is bergwerk.wallet
    assert alpeak.portal is bergwerk.portal is corvid.portal
    assert alpeak.legal is corvid.legal
    assert corvid.wallet.topup_min == 700
    assert alpeak.wallet.topup_min != 700

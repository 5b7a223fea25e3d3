"""The certificate store: keys sealed at rest, the right certificate per name, renewal lists."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from certs.errors import InvalidCertificate, KeyUnavailable
from certs.internal_ca import InternalCA, IssuedCertificate
from certs.store import CertificateStore
from kernel.ids import new_id
from kernel.sealing import Sealer

CA = InternalCA.create(permitted_names=["alpeak.test", "gateway.test"])
STORE = CertificateStore()


@pytest.fixture
def sealer() -> Sealer:
    return Sealer(os.urandom(32))


async def make_tenant(pool: asyncpg.Pool, slug: str) -> int:
    tenant_id: int = await pool.fetchval(
        "INSERT INTO tenants (slug, name) VALUES ($1, $1) RETURNING id", slug
    )
    return tenant_id


async def make_domain(pool: asyncpg.Pool, tenant_id: int, name: str) -> str:
    domain_id = new_id("dom")
    await pool.execute(
        "INSERT INTO domains (id, tenant_id, name) VALUES ($1, $2, $3)", domain_id, tenant_id, name
    )
    return domain_id


async def save(
    pool: asyncpg.Pool,
    sealer: Sealer,
    issued: IssuedCertificate,
    *,
    tenant_id: int | None = None,
    domain_id: str | None = None,
) -> str:
    return await STORE.save(
        pool,
        sealer,
        tenant_id=tenant_id,
        domain_id=domain_id,
        names=issued.names,
        issuer="internal",
        chain_pem=issued.chain_pem,
        key_pem=issued.key_pem,
    )


async def test_saved_certificate_comes_back_for_each_of_its_names(
    pool: asyncpg.Pool, sealer: Sealer
) -> None:
    issued = CA.issue(["billing.alpeak.test", "www.alpeak.test"])
    certificate_id = await save(pool, sealer, issued)
    for name in ("billing.alpeak.test", "WWW.alpeak.test"):
        stored = await STORE.latest_for_name(pool, sealer, name)
        assert stored is not None
        assert stored.id == certificate_id
        assert stored.chain_pem == issued.chain_pem
        assert stored.key_pem == issued.key_pem
        assert stored.serial == issued.serial
        assert stored.not_after == issued.not_after
        assert stored.issuer == "internal"
    assert await STORE.latest_for_name(pool, sealer, "alpeak.test") is None


async def test_database_holds_no_private_key_in_clear(pool: asyncpg.Pool, sealer: Sealer) -> None:
    await save(pool, sealer, CA.issue(["billing.alpeak.test"]))
    dump = await pool.fetchval("SELECT string_agg(t::text, ' ') FROM certificates t")
    assert "BEGIN CERTIFICATE" in dump
    assert "PRIVATE KEY" not in dump
    stored = await STORE.latest_for_name(pool, sealer, "billing.alpeak.test")
    assert "PRIVATE KEY" not in repr(stored)


async def test_newest_certificate_wins_and_expired_ones_are_never_served(
    pool: asyncpg.Pool, sealer: Sealer
) -> None:
    now = datetime.now(UTC)
    older = CA.issue(["billing.alpeak.test"], now=now - timedelta(days=60))
    newer = CA.issue(["billing.alpeak.test"], now=now)
    await save(pool, sealer, newer)
    await save(pool, sealer, older)
    stored = await STORE.latest_for_name(pool, sealer, "billing.alpeak.test")
    assert stored is not None
    assert stored.serial == newer.serial
    later = now + timedelta(days=95)
    assert await STORE.latest_for_name(pool, sealer, "billing.alpeak.test", now=later) is None


async def test_lookup_for_a_tenant_ignores_other_tenants_certificates(
    pool: asyncpg.Pool, sealer: Sealer
) -> None:
    alpeak, other = await make_tenant(pool, "alpeak"), await make_tenant(pool, "other")
    now = datetime.now(UTC)
    mine = CA.issue(["billing.alpeak.test"], now=now - timedelta(days=1))
    await save(pool, sealer, mine, tenant_id=alpeak)
    await save(pool, sealer, CA.issue(["billing.alpeak.test"], now=now), tenant_id=other)
    stored = await STORE.latest_for_name(pool, sealer, "billing.alpeak.test", tenant_id=alpeak)
    assert stored is not None
    assert stored.serial == mine.serial
    assert stored.tenant_id == alpeak


async def test_key_moved_to_another_row_does_not_open(pool: asyncpg.Pool, sealer: Sealer) -> None:
    first = await save(pool, sealer, CA.issue(["a.alpeak.test"]))
    second = await save(pool, sealer, CA.issue(["b.alpeak.test"]))
    await pool.execute(
        "UPDATE certificates SET key_sealed = (SELECT key_sealed FROM certificates WHERE id = $1)"
        " WHERE id = $2",
        first,
        second,
    )
    with pytest.raises(KeyUnavailable, match=second):
        await STORE.latest_for_name(pool, sealer, "b.alpeak.test")


async def test_another_key_encryption_key_cannot_read_keys(
    pool: asyncpg.Pool, sealer: Sealer
) -> None:
    await save(pool, sealer, CA.issue(["a.alpeak.test"]))
    with pytest.raises(KeyUnavailable):
        await STORE.latest_for_name(pool, Sealer(os.urandom(32)), "a.alpeak.test")


async def test_key_of_another_certificate_is_refused_and_nothing_stored(
    pool: asyncpg.Pool, sealer: Sealer
) -> None:
    issued, other = CA.issue(["a.alpeak.test"]), CA.issue(["a.alpeak.test"])
    with pytest.raises(InvalidCertificate, match="does not match"):
        await STORE.save(
            pool,
            sealer,
            tenant_id=None,
            domain_id=None,
            names=issued.names,
            issuer="internal",
            chain_pem=issued.chain_pem,
            key_pem=other.key_pem,
        )
    assert await pool.fetchval("SELECT count(*) FROM certificates") == 0


async def test_certificate_not_covering_a_name_is_refused(
    pool: asyncpg.Pool, sealer: Sealer
) -> None:
    issued = CA.issue(["a.alpeak.test"])
    with pytest.raises(InvalidCertificate, match=r"b\.alpeak\.test"):
        await STORE.save(
            pool,
            sealer,
            tenant_id=None,
            domain_id=None,
            names=["a.alpeak.test", "b.alpeak.test"],
            issuer="internal",
            chain_pem=issued.chain_pem,
            key_pem=issued.key_pem,
        )
    with pytest.raises(InvalidCertificate, match="does not parse"):
        await STORE.save(
            pool,
            sealer,
            tenant_id=None,
            domain_id=None,
            names=["a.alpeak.test"],
            issuer="internal",
            chain_pem="not a certificate",
            key_pem=issued.key_pem,
        )


async def test_renewal_lists_only_the_newest_certificate_of_each_domain(
    pool: asyncpg.Pool, sealer: Sealer
) -> None:
    tenant = await make_tenant(pool, "alpeak")
    renewed = await make_domain(pool, tenant, "renewed.alpeak.test")
    expiring = await make_domain(pool, tenant, "expiring.alpeak.test")
    now = datetime.now(UTC)
    # renewed.alpeak.test: an old certificate near its end, already superseded.
    await save(
        pool,
        sealer,
        CA.issue(["renewed.alpeak.test"], now=now - timedelta(days=80)),
        tenant_id=tenant,
        domain_id=renewed,
    )
    await save(
        pool,
        sealer,
        CA.issue(["renewed.alpeak.test"], now=now),
        tenant_id=tenant,
        domain_id=renewed,
    )
    # expiring.alpeak.test: its only certificate ends in 10 days.
    soon = await save(
        pool,
        sealer,
        CA.issue(["expiring.alpeak.test"], now=now - timedelta(days=80)),
        tenant_id=tenant,
        domain_id=expiring,
    )
    # a vendor host (no domain row) that expired already.
    vendor = await save(pool, sealer, CA.issue(["api.gateway.test"], now=now - timedelta(days=95)))
    due = await STORE.due_for_renewal(pool, before=now + timedelta(days=30))
    assert [certificate.id for certificate in due] == [vendor, soon]
    assert due[1].domain_id == expiring
    assert due[1].names == ["expiring.alpeak.test"]
    assert await STORE.due_for_renewal(pool, before=now) == [due[0]]

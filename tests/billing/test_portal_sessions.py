"""Signed portal links: a token opens one customer's portal until it expires or is revoked."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from billing.customers import create_customer
from billing.errors import NotFound
from billing.portal_sessions import (
    PortalLinkInvalid,
    create_portal_session,
    resolve,
    revoke,
    session_id,
)
from gateway.tenants.models import Tenant


@pytest.fixture
async def customer_id(pool: Any, tenant: Tenant) -> str:
    customer = await create_customer(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data={"name": "Ada Lovelace"},
    )
    return customer.id


async def test_a_token_opens_its_customer_and_only_its_hash_is_stored(
    pool: Any, tenant: Tenant, customer_id: str
) -> None:
    token, expires_at = await create_portal_session(
        pool, tenant_id=tenant.id, customer_id=customer_id, ttl_seconds=600
    )
    assert len(token) >= 43  # 256 random bits
    assert await resolve(pool, tenant_id=tenant.id, token=token) == customer_id
    stored = await pool.fetchval("SELECT token_hash FROM portal_sessions")
    assert stored == hashlib.sha256(token.encode()).digest()
    remaining = await pool.fetchval("SELECT $1::timestamptz - now()", expires_at)
    assert 590 <= remaining.total_seconds() <= 600


async def test_an_expired_token_opens_nothing(pool: Any, tenant: Tenant, customer_id: str) -> None:
    token, _ = await create_portal_session(
        pool, tenant_id=tenant.id, customer_id=customer_id, ttl_seconds=60
    )
    await pool.execute("UPDATE portal_sessions SET expires_at = now() - interval '1 second'")
    with pytest.raises(PortalLinkInvalid) as caught:
        await resolve(pool, tenant_id=tenant.id, token=token)
    assert caught.value.reason == "expired"


async def test_a_revoked_token_opens_nothing_and_revoking_twice_is_harmless(
    pool: Any, tenant: Tenant, customer_id: str
) -> None:
    token, _ = await create_portal_session(
        pool, tenant_id=tenant.id, customer_id=customer_id, ttl_seconds=600
    )
    first = await revoke(
        pool, tenant_id=tenant.id, customer_id=customer_id, session_id=session_id(token)
    )
    second = await revoke(
        pool, tenant_id=tenant.id, customer_id=customer_id, session_id=session_id(token)
    )
    assert first.revoked_at is not None
    assert second.revoked_at == first.revoked_at
    with pytest.raises(PortalLinkInvalid) as caught:
        await resolve(pool, tenant_id=tenant.id, token=token)
    assert caught.value.reason == "revoked"


async def test_another_tenant_can_neither_use_nor_revoke_a_token(
    pool: Any, tenant: Tenant, other_tenant: Tenant, customer_id: str
) -> None:
    token, _ = await create_portal_session(
        pool, tenant_id=tenant.id, customer_id=customer_id, ttl_seconds=600
    )
    with pytest.raises(PortalLinkInvalid):
        await resolve(pool, tenant_id=other_tenant.id, token=token)
    with pytest.raises(NotFound):
        await revoke(
            pool, tenant_id=other_tenant.id, customer_id=customer_id, session_id=session_id(token)
        )
    assert await resolve(pool, tenant_id=tenant.id, token=token) == customer_id


@pytest.mark.parametrize("token", ["", "made-up", "x" * 300])
async def test_unknown_tokens_open_nothing(pool: Any, tenant: Tenant, token: str) -> None:
    with pytest.raises(PortalLinkInvalid):
        await resolve(pool, tenant_id=tenant.id, token=token)


async def test_a_link_for_another_tenants_customer_cannot_be_made(
    pool: Any, tenant: Tenant, other_tenant: Tenant, customer_id: str
) -> None:
    with pytest.raises(NotFound):
        await create_portal_session(
            pool, tenant_id=other_tenant.id, customer_id=customer_id, ttl_seconds=600
        )

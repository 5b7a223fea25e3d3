"""Wallets: one per currency, credits that never double, a ledger nobody can rewrite."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from billing import customers, wallets
from billing.errors import Conflict, InvalidInput, NotFound
from gateway.tenants.models import Tenant


async def make_wallet(pool: Any, tenant: Tenant, currency: str = "EUR") -> wallets.Wallet:
    customer = await customers.create_customer(
        pool, tenant_id=tenant.id, default_currency=tenant.default_currency, data={"name": "Ada"}
    )
    return await wallets.create_wallet(
        pool, tenant_id=tenant.id, customer_id=customer.id, currency=currency, name="Credits"
    )


async def ledger_sum(pool: Any, wallet_id: str) -> int:
    return int(
        await pool.fetchval(
            "SELECT coalesce(sum(amount), 0) FROM wallet_ledger WHERE wallet_id = $1", wallet_id
        )
    )


async def test_a_customer_has_at_most_one_wallet_per_currency(pool: Any, tenant: Tenant) -> None:
    wallet = await make_wallet(pool, tenant)
    assert wallet.balance == 0
    with pytest.raises(Conflict) as caught:
        await wallets.create_wallet(
            pool, tenant_id=tenant.id, customer_id=wallet.customer_id, currency="eur"
        )
    assert caught.value.field == "currency"
    usd = await wallets.create_wallet(
        pool, tenant_id=tenant.id, customer_id=wallet.customer_id, currency="USD"
    )
    listed = await wallets.list_customer_wallets(
        pool, tenant_id=tenant.id, customer_id=wallet.customer_id
    )
    assert [w.id for w in listed] == [wallet.id, usd.id]


async def test_a_credit_moves_the_balance_and_writes_one_entry(pool: Any, tenant: Tenant) -> None:
    wallet = await make_wallet(pool, tenant)
    after, entry = await wallets.credit_wallet(
        pool, tenant_id=tenant.id, wallet_id=wallet.id, amount=2500, description="Welcome"
    )
    assert after.balance == 2500
    assert (entry.amount, entry.balance_after, entry.kind) == (2500, 2500, "grant")
    assert (await wallets.get_wallet(pool, tenant_id=tenant.id, wallet_id=wallet.id)).balance == (
        2500
    )


@pytest.mark.parametrize("amount", [0, -100, 1.5, True])
async def test_credits_must_be_positive_integers(pool: Any, tenant: Tenant, amount: Any) -> None:
    wallet = await make_wallet(pool, tenant)
    with pytest.raises(InvalidInput) as caught:
        await wallets.credit_wallet(pool, tenant_id=tenant.id, wallet_id=wallet.id, amount=amount)
    assert set(caught.value.errors) == {"amount"}
    assert await ledger_sum(pool, wallet.id) == 0


async def test_the_same_idempotency_key_credits_once(pool: Any, tenant: Tenant) -> None:
    wallet = await make_wallet(pool, tenant)
    first = await wallets.credit_wallet(
        pool, tenant_id=tenant.id, wallet_id=wallet.id, amount=1000, idempotency_key="k1"
    )
    again = await wallets.credit_wallet(
        pool, tenant_id=tenant.id, wallet_id=wallet.id, amount=1000, idempotency_key="k1"
    )
    assert again[1] == first[1]
    assert again[0].balance == 1000
    with pytest.raises(Conflict):
        await wallets.credit_wallet(
            pool, tenant_id=tenant.id, wallet_id=wallet.id, amount=999, idempotency_key="k1"
        )
    assert await ledger_sum(pool, wallet.id) == 1000


async def test_concurrent_twins_with_one_key_credit_once(pool: Any, tenant: Tenant) -> None:
    wallet = await make_wallet(pool, tenant)
    results = await asyncio.gather(
        *(
            wallets.credit_wallet(
                pool,
                tenant_id=tenant.id,
                wallet_id=wallet.id,
                amount=700,
                kind="topup",
                stripe_payment_intent_id="pi_123",
            )
            for _ in range(4)
        )
    )
    assert len({entry.id for _, entry in results}) == 1
    assert (await wallets.get_wallet(pool, tenant_id=tenant.id, wallet_id=wallet.id)).balance == (
        700
    )


async def test_concurrent_credits_keep_balance_equal_to_the_ledger(
    pool: Any, tenant: Tenant
) -> None:
    wallet = await make_wallet(pool, tenant)
    amounts = list(range(100, 1100, 100))
    await asyncio.gather(
        *(
            wallets.credit_wallet(pool, tenant_id=tenant.id, wallet_id=wallet.id, amount=amount)
            for amount in amounts
        )
    )
    balance = (await wallets.get_wallet(pool, tenant_id=tenant.id, wallet_id=wallet.id)).balance
    assert balance == sum(amounts) == await ledger_sum(pool, wallet.id)
    entries, more = await wallets.list_ledger(
        pool, tenant_id=tenant.id, wallet_id=wallet.id, limit=100
    )
    assert not more
    assert entries[0].balance_after == balance  # newest first
    running = 0
    for entry in reversed(entries):  # each entry saw the balance the one before left
        running += entry.amount
        assert entry.balance_after == running


async def test_the_ledger_refuses_updates_and_deletes(pool: Any, tenant: Tenant) -> None:
    wallet = await make_wallet(pool, tenant)
    await wallets.credit_wallet(pool, tenant_id=tenant.id, wallet_id=wallet.id, amount=500)
    with pytest.raises(asyncpg.RestrictViolationError):
        await pool.execute("UPDATE wallet_ledger SET amount = 5000")
    with pytest.raises(asyncpg.RestrictViolationError):
        await pool.execute("DELETE FROM wallet_ledger")
    assert await ledger_sum(pool, wallet.id) == 500


async def test_ledger_pages_go_from_newest_to_oldest(pool: Any, tenant: Tenant) -> None:
    wallet = await make_wallet(pool, tenant)
    for amount in (1, 2, 3):
        await wallets.credit_wallet(pool, tenant_id=tenant.id, wallet_id=wallet.id, amount=amount)
    first, more = await wallets.list_ledger(pool, tenant_id=tenant.id, wallet_id=wallet.id, limit=2)
    assert more
    rest, more = await wallets.list_ledger(
        pool, tenant_id=tenant.id, wallet_id=wallet.id, limit=2, starting_after=first[-1].id
    )
    assert not more
    assert [e.amount for e in first + rest] == [3, 2, 1]


async def test_another_tenant_can_neither_read_nor_credit_a_wallet(
    pool: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    wallet = await make_wallet(pool, tenant)
    with pytest.raises(NotFound):
        await wallets.get_wallet(pool, tenant_id=other_tenant.id, wallet_id=wallet.id)
    with pytest.raises(NotFound):
        await wallets.credit_wallet(
            pool, tenant_id=other_tenant.id, wallet_id=wallet.id, amount=100
        )
    with pytest.raises(NotFound):
        await wallets.list_ledger(pool, tenant_id=other_tenant.id, wallet_id=wallet.id)
    assert await ledger_sum(pool, wallet.id) == 0

"""Payment methods: saved cards, exactly one default, scoped to the tenant."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from billing import customers, payment_methods
from billing.errors import InvalidInput, NotFound
from gateway.tenants.models import Tenant
from tests.dates import CARD_EXP_YEAR


async def test_the_newest_default_card_replaces_the_old_default(pool: Any, tenant: Tenant) -> None:
    customer = await customers.create_customer(
        pool, tenant_id=tenant.id, default_currency=tenant.default_currency, data={"name": "Ada"}
    )
    old = await payment_methods.add_card(
        pool,
        tenant_id=tenant.id,
        customer_id=customer.id,
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=CARD_EXP_YEAR,
    )
    new = await payment_methods.add_card(
        pool,
        tenant_id=tenant.id,
        customer_id=customer.id,
        brand="mastercard",
        last4="4444",
        exp_month=1,
        exp_year=CARD_EXP_YEAR + 1,
    )
    spare = await payment_methods.add_card(
        pool,
        tenant_id=tenant.id,
        customer_id=customer.id,
        brand="amex",
        last4="0005",
        exp_month=2,
        exp_year=CARD_EXP_YEAR + 2,
        make_default=False,
    )
    listed = await payment_methods.list_payment_methods(
        pool, tenant_id=tenant.id, customer_id=customer.id
    )
    assert [(m.id, m.is_default) for m in listed] == [
        (new.id, True),
        (spare.id, False),
        (old.id, False),
    ]


async def test_the_first_card_is_always_the_default(pool: Any, tenant: Tenant) -> None:
    customer = await customers.create_customer(
        pool, tenant_id=tenant.id, default_currency=tenant.default_currency, data={"name": "Ada"}
    )
    cards = await asyncio.gather(
        *(
            payment_methods.add_card(
                pool,
                tenant_id=tenant.id,
                customer_id=customer.id,
                brand="visa",
                last4="4242",
                exp_month=12,
                exp_year=CARD_EXP_YEAR,
                make_default=False,
            )
            for _ in range(3)
        )
    )
    assert sum(card.is_default for card in cards) == 1


async def test_bad_card_fields_are_named(pool: Any, tenant: Tenant) -> None:
    customer = await customers.create_customer(
        pool, tenant_id=tenant.id, default_currency=tenant.default_currency, data={"name": "Ada"}
    )
    with pytest.raises(InvalidInput) as caught:
        await payment_methods.add_card(
            pool,
            tenant_id=tenant.id,
            customer_id=customer.id,
            brand="bitcoin",
            last4="42",
            exp_month=13,
            exp_year=99,
        )
    assert set(caught.value.errors) == {"brand", "last4", "exp_month", "exp_year"}


async def test_another_tenant_sees_no_cards(
    pool: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    customer = await customers.create_customer(
        pool, tenant_id=tenant.id, default_currency=tenant.default_currency, data={"name": "Ada"}
    )
    await payment_methods.add_card(
        pool,
        tenant_id=tenant.id,
        customer_id=customer.id,
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=CARD_EXP_YEAR,
    )
    with pytest.raises(NotFound):
        await payment_methods.list_payment_methods(
            pool, tenant_id=other_tenant.id, customer_id=customer.id
        )

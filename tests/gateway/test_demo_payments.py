"""The demo's offline payments: a newcomer can buy credits with no network at all."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from billing.stripe_gateway import StripePayments
from billing.topups import buy_credits, new_nonce
from billing.wallets import list_customer_wallets
from gateway.demo import seed_demo
from gateway.demo_payments import (
    DEMO_SECRET_KEY,
    connect_demo_payments,
    start_local_stripe,
)
from gateway.tenants.registry import get_tenant_by_slug, stripe_secret_key
from kernel.sealing import Sealer
from tests.fixtures.pebble import free_port


async def test_demo_customers_can_buy_credits_against_the_local_stripe(
    pool: Any, tmp_path: Path
) -> None:
    sealer = Sealer(os.urandom(32))
    info = await seed_demo(pool)
    local = await start_local_stripe(tmp_path, port=free_port())
    assert local is not None
    try:
        await connect_demo_payments(pool, sealer, local, tenant_slugs=["alpeak", "bergfeld"])
        tenant = await get_tenant_by_slug(pool, "alpeak")
        assert await stripe_secret_key(pool, sealer, tenant_id=tenant.id) == DEMO_SECRET_KEY
        customer = info.customers[0]
        (wallet,) = await list_customer_wallets(pool, tenant_id=tenant.id, customer_id=customer.id)
        payments = StripePayments(api_key=DEMO_SECRET_KEY, api_base=local.api_base)
        outcome = await buy_credits(
            pool,
            payments,
            tenant_id=tenant.id,
            policy=tenant.wallet,
            customer_id=customer.id,
            wallet_id=wallet.id,
            amount=tenant.wallet.topup_min,
            nonce=new_nonce(),
        )
        assert outcome.status == "succeeded", outcome.message
        assert outcome.balance == wallet.balance + tenant.wallet.topup_min
    finally:
        await local.close()

    # A restart of the demo finds its Stripe customers again (the store is in the data dir).
    stripe_customer = await pool.fetchval(
        "SELECT stripe_customer_id FROM customers WHERE id = $1", customer.id
    )
    again = await start_local_stripe(tmp_path, port=free_port())
    assert again is not None
    try:
        payments = StripePayments(api_key=DEMO_SECRET_KEY, api_base=again.api_base)
        setup = await payments.create_setup_intent(customer_id=stripe_customer)
        assert setup.client_secret
    finally:
        await again.close()

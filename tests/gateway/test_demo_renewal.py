"""The demo's live renewal: minutes after `make run`, a subscription renews by itself."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from gateway.demo.payments import connect_demo_payments, start_local_stripe
from gateway.demo.renewal import RENEWS_AFTER, seed_renewal_demo
from gateway.demo.seed import seed_demo
from gateway.jobs.renewals import RenewalJob
from kernel import clock
from kernel.sealing import Sealer
from tests.fixtures.pebble import free_port


async def test_the_demo_subscription_renews_minutes_after_start_from_wallet_and_card(
    pool: Any, tmp_path: Path
) -> None:
    sealer = Sealer(os.urandom(32))
    info = await seed_demo(pool)
    customer = next(c for c in info.customers if c.tenant_slug == info.tenant.slug)
    local = await start_local_stripe(tmp_path, port=free_port())
    assert local is not None
    try:
        await connect_demo_payments(pool, sealer, local, tenant_slugs=["alpeak", "bergfeld"])
        started = clock.utc_now()
        renews_at = await seed_renewal_demo(
            pool, tenant=info.tenant, customer=customer, now=started
        )
        assert renews_at == started + RENEWS_AFTER
        job = RenewalJob(pool, sealer, stripe_api_base=local.api_base)
        assert (await job.run_due(now=started)).steps == 0
        totals = await job.run_due(now=renews_at + timedelta(seconds=1))
        assert totals.renewals == {"renewed": 1}
        assert totals.collections == {"paid": 1}
    finally:
        await local.close()
    spent = await pool.fetchval(
        "SELECT sum(-amount) FROM wallet_ledger WHERE kind = 'debit' AND invoice_id IS NOT NULL"
    )
    card = await pool.fetchval(
        "SELECT sum(amount) FROM payment_attempts WHERE status = 'succeeded'"
    )
    assert spent > 0
    assert spent + card == 5880  # 49.00 and 20% tax, from the wallet first, then the card
    # A restart keeps the same subscription and says when it renews next.
    again = await seed_renewal_demo(pool, tenant=info.tenant, customer=customer)
    assert again == renews_at + timedelta(weeks=1)

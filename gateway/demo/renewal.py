"""The demo's live renewal: one subscription whose period ends minutes after the first start.

A newcomer who runs `make run` sees the renewal job at work without waiting a month:
a weekly subscription of the first demo customer, started a week ago less a few
minutes, renews shortly after start with a new invoice paid from the wallet (the
demo tenant spends wallets first) and the card for the rest. Seeded once; later
starts print when it renews next.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from billing.subscriptions import create_subscription
from gateway.demo.seed import DemoCustomer
from gateway.settings import Settings
from gateway.tenants.models import Tenant
from gateway.tenants.registry import update_settings
from kernel import clock

RENEWS_AFTER = timedelta(minutes=3)
DEMO_MARK = "renewal"


async def seed_renewal_demo(
    pool: Any, *, tenant: Tenant, customer: DemoCustomer, now: datetime | None = None
) -> datetime:
    """When the demo's renewal subscription renews next, seeding it first if it is missing."""
    now = now or clock.utc_now()
    existing = await pool.fetchval(
        "SELECT current_period_end FROM subscriptions WHERE tenant_id = $1 "
        "AND metadata ->> 'demo' = $2 AND status <> 'canceled'",
        tenant.id,
        DEMO_MARK,
    )
    if existing is not None:
        renews_at: datetime = existing
        return renews_at
    await update_settings(pool, tenant_id=tenant.id, changes={"dunning.wallet_spend_enabled": True})
    start = now + RENEWS_AFTER - timedelta(weeks=1)
    subscription = await create_subscription(
        pool,
        tenant_id=tenant.id,
        now=now,
        data={
            "customer": customer.id,
            "plan_name": "Weekly support",
            "items": [
                {
                    "name": "Support hours",
                    "unit_amount": 4900,
                    "interval": "week",
                    "tax_rate_bps": 2000,
                }
            ],
            "start": start.isoformat(),
            "metadata": {"demo": DEMO_MARK},
        },
    )
    return subscription.current_period_end


def renewal_line(settings: Settings, customer: DemoCustomer, renews_at: datetime) -> str:
    """The line `make run` prints: when the demo subscription renews, and where to watch."""
    url = settings.public_url(f"{customer.tenant_slug}.{settings.base_domain}")
    return (
        f"Renews by itself at {renews_at:%Y-%m-%d %H:%M} UTC (new invoice, wallet and card "
        f"charged): {url}/portal/{customer.id}"
    )

"""A customer's cancel at period end and resume, decided by the time passed in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypedDict

import pytest

from billing.customers import create_customer
from billing.errors import NotFound
from billing.outbox import list_events
from billing.subscription_changes import (
    SubscriptionNotChangeable,
    cancel_at_period_end,
    resume,
)
from billing.subscriptions import Subscription, create_subscription, get_subscription
from gateway.tenants.models import Tenant
from tests.dates import days_from_now


class SubscriptionIds(TypedDict):
    tenant_id: int
    customer_id: str


async def subscription_of(pool: Any, tenant: Tenant, name: str = "Ada") -> Subscription:
    customer = await create_customer(
        pool, tenant_id=tenant.id, default_currency="EUR", data={"name": name}
    )
    return await create_subscription(
        pool,
        tenant_id=tenant.id,
        data={
            "customer": customer.id,
            "plan_name": "Pro",
            "items": [{"name": "Seat", "unit_amount": 1000, "interval": "month"}],
        },
        now=days_from_now(0),
    )


async def test_cancel_then_resume_within_the_period_each_announce_one_event(
    pool: Any, tenant: Tenant
) -> None:
    subscription = await subscription_of(pool, tenant)
    ids = SubscriptionIds(tenant_id=tenant.id, customer_id=subscription.customer_id)
    canceled = await cancel_at_period_end(pool, **ids, subscription_id=subscription.id)
    assert canceled.cancel_at_period_end
    assert canceled.status == "active"
    with pytest.raises(SubscriptionNotChangeable):
        await cancel_at_period_end(pool, **ids, subscription_id=subscription.id)
    resumed = await resume(pool, **ids, subscription_id=subscription.id)
    assert not resumed.cancel_at_period_end
    stored = await get_subscription(pool, tenant_id=tenant.id, subscription_id=subscription.id)
    assert not stored.cancel_at_period_end
    events = await list_events(pool, tenant_id=tenant.id, type="subscription.updated")
    assert [event.payload["cancel_at_period_end"] for event in events] == [True, False]


async def test_after_the_period_ends_it_can_be_neither_canceled_nor_resumed(
    pool: Any, tenant: Tenant
) -> None:
    subscription = await subscription_of(pool, tenant)
    ids = SubscriptionIds(tenant_id=tenant.id, customer_id=subscription.customer_id)
    later = subscription.current_period_end + timedelta(seconds=1)
    with pytest.raises(SubscriptionNotChangeable):
        await cancel_at_period_end(pool, **ids, subscription_id=subscription.id, now=later)
    await cancel_at_period_end(pool, **ids, subscription_id=subscription.id)
    with pytest.raises(SubscriptionNotChangeable):
        await resume(pool, **ids, subscription_id=subscription.id, now=later)
    assert len(await list_events(pool, tenant_id=tenant.id, type="subscription.updated")) == 1


async def test_another_customers_or_tenants_subscription_is_not_found(
    pool: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    subscription = await subscription_of(pool, tenant)
    neighbour = await subscription_of(pool, tenant, "Eve")
    with pytest.raises(NotFound):
        await cancel_at_period_end(
            pool,
            tenant_id=tenant.id,
            customer_id=neighbour.customer_id,
            subscription_id=subscription.id,
        )
    with pytest.raises(NotFound):
        await cancel_at_period_end(
            pool,
            tenant_id=other_tenant.id,
            customer_id=subscription.customer_id,
            subscription_id=subscription.id,
        )
    assert await list_events(pool, tenant_id=tenant.id, type="subscription.updated") == []

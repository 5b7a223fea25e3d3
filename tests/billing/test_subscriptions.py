"""Subscriptions: periods, trials, currency rule, cancellation, upcoming lines, scoping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing import customers, subscriptions
from billing.errors import Conflict, InvalidInput, NotFound
from billing.renewals import renew_next_due
from gateway.tenants.models import Tenant


async def make_customer(pool: Any, tenant: Tenant, **data: Any) -> customers.Customer:
    return await customers.create_customer(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data={"name": "Ada", **data},
    )


def plan(customer_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "customer": customer_id,
        "plan_name": "Pro",
        "items": [
            {"name": "Seats", "unit_amount": 1500, "quantity": 3, "interval": "month"},
            {"name": "Platform fee", "unit_amount": 4900, "price_model": "flat", "quantity": 7},
        ],
        **overrides,
    }


async def test_a_monthly_subscription_covers_one_calendar_month(pool: Any, tenant: Tenant) -> None:
    customer = await make_customer(pool, tenant, currency="CHF")
    start = datetime(2026, 1, 31, 12, tzinfo=UTC)
    created = await subscriptions.create_subscription(
        pool,
        tenant_id=tenant.id,
        data=plan(customer.id, start=start.isoformat()),
        now=datetime(2026, 1, 20, tzinfo=UTC),
    )
    assert created.status == "active"
    assert created.currency == "CHF"  # the customer's currency by default
    assert created.current_period_start == start
    assert created.current_period_end == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert [item.amount for item in created.items] == [4500, 4900]
    read = await subscriptions.get_subscription(
        pool, tenant_id=tenant.id, subscription_id=created.id
    )
    assert read == created


async def test_a_start_more_than_a_year_away_is_refused(pool: Any, tenant: Tenant) -> None:
    customer = await make_customer(pool, tenant)
    now = datetime(2026, 12, 6, tzinfo=UTC)
    for start in (now - timedelta(days=367), now + timedelta(days=367)):
        with pytest.raises(InvalidInput) as caught:
            await subscriptions.create_subscription(
                pool, tenant_id=tenant.id, data=plan(customer.id, start=start.isoformat()), now=now
            )
        assert caught.value.errors == {"start": "must be within one year of now"}


async def test_an_explicit_currency_overrides_the_customers(pool: Any, tenant: Tenant) -> None:
    customer = await make_customer(pool, tenant)
    created = await subscriptions.create_subscription(
        pool, tenant_id=tenant.id, data=plan(customer.id, currency="usd")
    )
    assert created.currency == "USD"


async def test_a_trial_is_the_first_period(pool: Any, tenant: Tenant) -> None:
    customer = await make_customer(pool, tenant)
    created = await subscriptions.create_subscription(
        pool, tenant_id=tenant.id, data=plan(customer.id, trial_days=14)
    )
    assert created.status == "trialing"
    assert created.trial_end == created.current_period_end
    assert created.current_period_end - created.current_period_start == timedelta(days=14)


async def test_items_with_different_intervals_are_refused_and_nothing_is_stored(
    pool: Any, tenant: Tenant
) -> None:
    customer = await make_customer(pool, tenant)
    data = plan(customer.id)
    data["items"][1]["interval"] = "year"
    with pytest.raises(InvalidInput) as caught:
        await subscriptions.create_subscription(pool, tenant_id=tenant.id, data=data)
    assert set(caught.value.errors) == {"items.1.interval"}
    assert await pool.fetchval("SELECT count(*) FROM subscriptions") == 0


async def test_every_wrong_field_is_named(pool: Any, tenant: Tenant) -> None:
    with pytest.raises(InvalidInput) as caught:
        await subscriptions.create_subscription(
            pool,
            tenant_id=tenant.id,
            data={
                "plan_name": "",
                "currency": "XYZ",
                "trial_days": 0,
                "items": [{"name": "A", "unit_amount": -1, "interval": "fortnight", "x": 1}],
            },
        )
    assert set(caught.value.errors) == {
        "customer",
        "plan_name",
        "currency",
        "trial_days",
        "items.0.unit_amount",
        "items.0.interval",
        "items.0.x",
    }


async def test_another_tenants_customer_cannot_be_subscribed(
    pool: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = await make_customer(pool, other_tenant)
    with pytest.raises(InvalidInput) as caught:
        await subscriptions.create_subscription(pool, tenant_id=tenant.id, data=plan(theirs.id))
    assert set(caught.value.errors) == {"customer"}


async def test_cancel_now_then_again_is_a_conflict(pool: Any, tenant: Tenant) -> None:
    customer = await make_customer(pool, tenant)
    created = await subscriptions.create_subscription(
        pool, tenant_id=tenant.id, data=plan(customer.id)
    )
    canceled = await subscriptions.cancel_subscription(
        pool, tenant_id=tenant.id, subscription_id=created.id, at_period_end=False
    )
    assert canceled.status == "canceled"
    assert canceled.canceled_at is not None
    assert subscriptions.upcoming_invoice_lines(canceled) == []
    with pytest.raises(Conflict):
        await subscriptions.cancel_subscription(
            pool, tenant_id=tenant.id, subscription_id=created.id, at_period_end=True
        )


async def test_cancel_at_period_end_keeps_it_until_the_period_is_over(
    pool: Any, tenant: Tenant
) -> None:
    customer = await make_customer(pool, tenant)
    start = datetime.now(UTC) - timedelta(days=6, hours=23)
    created = await subscriptions.create_subscription(
        pool,
        tenant_id=tenant.id,
        data={
            "customer": customer.id,
            "plan_name": "Weekly",
            "items": [{"name": "Box", "unit_amount": 900, "interval": "week"}],
            "start": start.isoformat(),
        },
    )
    pending = await subscriptions.cancel_subscription(
        pool, tenant_id=tenant.id, subscription_id=created.id, at_period_end=True
    )
    assert pending.status == "active"
    assert pending.cancel_at_period_end
    # The period ends: the renewal job ends it at the period's end instead of renewing it.
    ended = await renew_next_due(pool, now=start + timedelta(days=8))
    assert ended is not None
    assert ended.outcome == "canceled"
    assert await renew_next_due(pool, now=start + timedelta(days=8)) is None
    (after,) = await subscriptions.list_customer_subscriptions(
        pool, tenant_id=tenant.id, customer_id=customer.id
    )
    assert after.status == "canceled"
    assert after.canceled_at == after.current_period_end


async def test_upcoming_lines_price_the_next_period(pool: Any, tenant: Tenant) -> None:
    customer = await make_customer(pool, tenant)
    created = await subscriptions.create_subscription(
        pool,
        tenant_id=tenant.id,
        data=plan(customer.id, start=datetime(2026, 3, 1, tzinfo=UTC).isoformat()),
        now=datetime(2026, 2, 14, tzinfo=UTC),
    )
    lines = subscriptions.upcoming_invoice_lines(created)
    assert [(line.description, line.quantity, line.amount) for line in lines] == [
        ("Seats", 3, 4500),
        ("Platform fee", 1, 4900),
    ]
    assert lines[0].period_start == datetime(2026, 4, 1, tzinfo=UTC)
    assert lines[0].period_end == datetime(2026, 5, 1, tzinfo=UTC)


async def test_lists_filter_and_page_within_the_tenant(
    pool: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    first = await make_customer(pool, tenant)
    second = await make_customer(pool, tenant)
    made = []
    for customer in (first, second, first):
        made.append(
            await subscriptions.create_subscription(
                pool, tenant_id=tenant.id, data=plan(customer.id)
            )
        )
    theirs = await make_customer(pool, other_tenant)
    await subscriptions.create_subscription(pool, tenant_id=other_tenant.id, data=plan(theirs.id))
    await subscriptions.cancel_subscription(
        pool, tenant_id=tenant.id, subscription_id=made[0].id, at_period_end=False
    )
    page, more = await subscriptions.list_subscriptions(pool, tenant_id=tenant.id, limit=2)
    assert more
    rest, more = await subscriptions.list_subscriptions(
        pool, tenant_id=tenant.id, limit=2, starting_after=page[-1].id
    )
    assert not more
    assert [s.id for s in page + rest] == [s.id for s in reversed(made)]
    of_first, _ = await subscriptions.list_subscriptions(
        pool, tenant_id=tenant.id, customer_id=first.id, status="active"
    )
    assert [s.id for s in of_first] == [made[2].id]
    with pytest.raises(NotFound):
        await subscriptions.get_subscription(
            pool, tenant_id=other_tenant.id, subscription_id=made[1].id
        )

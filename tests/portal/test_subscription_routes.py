"""Cancel at period end and resume from the portal, without script, where the tenant allows it.

What the customer reads before and after, what the database holds, what the tenant
is told, and that nobody else's subscription can be touched.
"""

from __future__ import annotations

import asyncio
import re

from billing.formatting import format_day
from billing.outbox import list_events
from billing.subscriptions import Subscription, create_subscription
from gateway.tenants.registry import update_settings
from tests.fixtures.localstripe import localstripe  # noqa: F401
from tests.portal.test_payments import (  # noqa: F401
    ALPEAK,
    BOREALIS,
    Shop,
    shop,
    topup_form,
)

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


async def subscribe(shop: Shop, *, allow: bool = True) -> Subscription:  # noqa: F811
    if allow:
        await update_settings(
            shop.pool,
            tenant_id=shop.tenant.id,
            changes={"portal.subscription_cancel_enabled": True},
        )
    subscription = await create_subscription(
        shop.pool,
        tenant_id=shop.tenant.id,
        data={
            "customer": shop.customer_id,
            "plan_name": "Pro",
            "items": [{"name": "Seat", "unit_amount": 1000, "interval": "month"}],
        },
    )
    if allow:
        # The running gateway learns the new setting from NOTIFY, a moment later.
        for _ in range(200):
            page = await shop.client.get(f"/portal/{shop.customer_id}", headers=ALPEAK)
            if "Cancel subscription" in await page.text():
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the gateway never saw the new portal setting")
    return subscription


async def cancelling(shop: Shop, subscription_id: str) -> bool:  # noqa: F811
    return bool(
        await shop.pool.fetchval(
            "SELECT cancel_at_period_end FROM subscriptions WHERE tenant_id = $1 AND id = $2",
            shop.tenant.id,
            subscription_id,
        )
    )


async def test_cancelling_shows_the_end_date_first_then_keeps_access_until_then(
    shop: Shop,  # noqa: F811
) -> None:
    subscription = await subscribe(shop)
    ends_on = format_day(subscription.current_period_end, "en")
    overview = await (await shop.client.get(f"/portal/{shop.customer_id}", headers=ALPEAK)).text()
    assert f"/portal/{shop.customer_id}/subscriptions/{subscription.id}/cancel" in overview

    response = await shop.client.get(
        f"/portal/{shop.customer_id}/subscriptions/{subscription.id}/cancel", headers=ALPEAK
    )
    assert response.status == 200
    page = await response.text()
    assert f"Your subscription will end on {ends_on}; you keep access until then." in page
    assert not await cancelling(shop, subscription.id)

    token = CSRF_INPUT.search(page)
    assert token is not None
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/subscriptions/{subscription.id}/cancel",
        data={"csrf_token": token[1]},
        headers=ALPEAK,
    )
    assert response.status == 200
    page = await response.text()
    assert "Your subscription was canceled." in page
    assert f"This subscription ends on {ends_on} and will not renew." in page
    assert "Resume subscription" in page
    assert await cancelling(shop, subscription.id)
    status = await shop.pool.fetchval(
        "SELECT status FROM subscriptions WHERE id = $1", subscription.id
    )
    assert status == "active"
    events = await list_events(shop.pool, tenant_id=shop.tenant.id, type="subscription.updated")
    assert [event.payload["cancel_at_period_end"] for event in events] == [True]
    assert events[0].payload["subscription"] == subscription.id


async def test_resuming_before_the_end_makes_it_renew_again_and_tells_the_tenant(
    shop: Shop,  # noqa: F811
) -> None:
    subscription = await subscribe(shop)
    token = (await topup_form(shop))["csrf_token"]
    base = f"/portal/{shop.customer_id}/subscriptions/{subscription.id}"
    response = await shop.client.post(f"{base}/cancel", data={"csrf_token": token}, headers=ALPEAK)
    assert response.status == 200
    response = await shop.client.post(f"{base}/resume", data={"csrf_token": token}, headers=ALPEAK)
    assert response.status == 200
    page = await response.text()
    assert "Your subscription was resumed." in page
    assert "will not renew" not in page
    assert "Next billing date" in page
    assert not await cancelling(shop, subscription.id)
    events = await list_events(shop.pool, tenant_id=shop.tenant.id, type="subscription.updated")
    assert [event.payload["cancel_at_period_end"] for event in events] == [True, False]


async def test_resuming_a_subscription_that_is_not_ending_changes_nothing_and_says_so(
    shop: Shop,  # noqa: F811
) -> None:
    subscription = await subscribe(shop)
    token = (await topup_form(shop))["csrf_token"]
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/subscriptions/{subscription.id}/resume",
        data={"csrf_token": token},
        headers=ALPEAK,
    )
    assert response.status == 200
    assert "This subscription can no longer be changed here." in await response.text()
    assert await list_events(shop.pool, tenant_id=shop.tenant.id, type="subscription.updated") == []


async def test_without_the_tenants_setting_there_is_no_cancel_button_and_no_such_page(
    shop: Shop,  # noqa: F811
) -> None:
    subscription = await subscribe(shop, allow=False)
    overview = await (await shop.client.get(f"/portal/{shop.customer_id}", headers=ALPEAK)).text()
    assert "/cancel" not in overview
    base = f"/portal/{shop.customer_id}/subscriptions/{subscription.id}"
    assert (await shop.client.get(f"{base}/cancel", headers=ALPEAK)).status == 404
    token = (await topup_form(shop))["csrf_token"]
    response = await shop.client.post(f"{base}/cancel", data={"csrf_token": token}, headers=ALPEAK)
    assert response.status == 404
    assert not await cancelling(shop, subscription.id)


async def test_another_customers_or_tenants_subscription_is_not_found_and_left_alone(
    shop: Shop,  # noqa: F811
) -> None:
    subscription = await subscribe(shop)
    other = await shop.pool.fetchval(
        "INSERT INTO customers (id, tenant_id, name, currency) "
        "VALUES ('cus_' || md5(random()::text), $1, 'Eve', 'EUR') RETURNING id",
        shop.tenant.id,
    )
    token = (await topup_form(shop))["csrf_token"]
    response = await shop.client.get(
        f"/portal/{other}/subscriptions/{subscription.id}/cancel", headers=ALPEAK
    )
    assert response.status == 404
    response = await shop.client.get(
        f"/portal/{shop.customer_id}/subscriptions/{subscription.id}/cancel", headers=BOREALIS
    )
    assert response.status == 404
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/subscriptions/{subscription.id}/cancel",
        data={"csrf_token": token},
        headers=BOREALIS,
    )
    assert response.status == 404
    response = await shop.client.get(
        f"/portal/{shop.customer_id}/subscriptions/sub_{'x' * 22}/cancel", headers=ALPEAK
    )
    assert response.status == 404
    assert not await cancelling(shop, subscription.id)


async def test_cancelling_without_the_csrf_token_is_refused(shop: Shop) -> None:  # noqa: F811
    subscription = await subscribe(shop)
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/subscriptions/{subscription.id}/cancel",
        data={},
        headers=ALPEAK,
    )
    assert response.status == 403
    assert not await cancelling(shop, subscription.id)

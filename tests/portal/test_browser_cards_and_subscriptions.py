"""In a real Chromium: make a card the default, remove one after confirming, cancel and resume.

Each test clicks through the portal as the customer would, reads what the page says
(the notice in the portal layout, the default mark, the end date before confirming)
and checks what the database holds afterwards.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import expect

from billing.formatting import format_day
from billing.subscriptions import Subscription, create_subscription
from tests.fixtures.browser import (  # noqa: F401
    browser_endpoint,
    new_page,
    page,
    page_errors,
)
from tests.fixtures.localstripe import localstripe  # noqa: F401
from tests.portal.test_browser import Portal, portal, saved_card  # noqa: F401


async def active_cards(portal: Portal) -> list[tuple[str, bool]]:  # noqa: F811
    rows = await portal.pool.fetch(
        "SELECT last4, is_default FROM payment_methods WHERE tenant_id = $1 "
        "AND status = 'active' ORDER BY created_at",
        portal.tenant.id,
    )
    return [(row["last4"], row["is_default"]) for row in rows]


async def subscribe(portal: Portal) -> Subscription:  # noqa: F811
    return await create_subscription(
        portal.pool,
        tenant_id=portal.tenant.id,
        data={
            "customer": portal.customer_id,
            "plan_name": "Pro",
            "items": [{"name": "Seat", "unit_amount": 1900, "interval": "month"}],
        },
    )


async def test_a_customer_makes_her_older_card_the_default_and_sees_the_mark_move(
    portal: Portal,  # noqa: F811
    page: Any,  # noqa: F811
    page_errors: list[str],  # noqa: F811
) -> None:
    await saved_card(portal, "5555555555554444")
    await saved_card(portal, "4242424242424242")
    await page.goto(portal.url)
    methods = page.locator("#payment-methods")
    mastercard = methods.locator("li", has_text="ending in 4444")
    visa = methods.locator("li", has_text="ending in 4242")
    await expect(visa).to_contain_text("Default")
    await expect(mastercard).not_to_contain_text("Default")
    await expect(mastercard).to_contain_text("added on")

    await mastercard.get_by_role("button", name=re.compile("Make default")).click()
    await page.wait_for_url(portal.url)
    await expect(page.get_by_role("status")).to_have_text(
        "Your default payment method was changed."
    )
    await expect(mastercard).to_contain_text("Default")
    await expect(visa).not_to_contain_text("Default")
    await expect(visa.get_by_role("button", name=re.compile("Make default"))).to_be_visible()
    assert await active_cards(portal) == [("4444", True), ("4242", False)]

    await page.reload()
    await expect(page.get_by_role("status")).to_have_count(0)
    assert page_errors == []


async def test_a_customer_confirms_before_a_card_goes_and_is_told_why_the_last_one_stays(
    portal: Portal,  # noqa: F811
    page: Any,  # noqa: F811
    page_errors: list[str],  # noqa: F811
) -> None:
    await saved_card(portal, "5555555555554444")
    await saved_card(portal, "4242424242424242")
    await subscribe(portal)
    await page.goto(portal.url)
    methods = page.locator("#payment-methods")

    await methods.get_by_role("link", name=re.compile("Remove .* ending in 4444")).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("ending in 4444")
    await page.get_by_role("link", name="Back to your billing overview").click()
    await expect(methods).to_contain_text("ending in 4444")
    assert len(await active_cards(portal)) == 2

    await methods.get_by_role("link", name=re.compile("Remove .* ending in 4444")).click()
    await page.get_by_role("button", name="Remove this card").click()
    await page.wait_for_url(portal.url)
    await expect(page.get_by_role("status")).to_have_text("The card was removed.")
    await expect(methods).not_to_contain_text("4444")
    assert await active_cards(portal) == [("4242", True)]

    # The last card pays the subscription: the page explains, offers a way, no button.
    await methods.get_by_role("link", name=re.compile("Remove .* ending in 4242")).click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "This card pays for your Pro subscription."
    )
    await expect(page.get_by_role("button", name="Remove this card")).to_have_count(0)
    await expect(page.get_by_role("link", name="Add a card")).to_be_visible()
    await page.get_by_role("link", name="Cancel the subscription instead").click()
    await expect(page.locator("#cancel-effect")).to_contain_text("you keep access until then")
    assert await active_cards(portal) == [("4242", True)]
    assert page_errors == []


async def test_a_customer_cancels_at_period_end_after_reading_the_date_then_resumes(
    portal: Portal,  # noqa: F811
    page: Any,  # noqa: F811
    page_errors: list[str],  # noqa: F811
) -> None:
    await saved_card(portal, "4242424242424242")
    subscription = await subscribe(portal)
    ends_on = format_day(subscription.current_period_end, "en")
    await page.goto(portal.url)
    await page.get_by_role("link", name="Cancel subscription").click()

    await expect(page.locator("#cancel-effect")).to_have_text(
        f"Your subscription will end on {ends_on}; you keep access until then."
    )
    await page.get_by_role("button", name="Cancel subscription").click()
    await page.wait_for_url(portal.url)
    await expect(page.get_by_role("status")).to_contain_text("Your subscription was canceled.")
    await expect(page.locator(f"#{subscription.id}-title").locator("..")).to_contain_text(
        f"This subscription ends on {ends_on} and will not renew."
    )
    row = await portal.pool.fetchrow(
        "SELECT status, cancel_at_period_end FROM subscriptions WHERE id = $1", subscription.id
    )
    assert (row["status"], row["cancel_at_period_end"]) == ("active", True)

    await page.get_by_role("button", name="Resume subscription").click()
    await page.wait_for_url(portal.url)
    await expect(page.get_by_role("status")).to_contain_text("Your subscription was resumed.")
    await expect(page.get_by_role("link", name="Cancel subscription")).to_be_visible()
    await expect(page.locator("main")).not_to_contain_text("will not renew")
    resumed = await portal.pool.fetchval(
        "SELECT cancel_at_period_end FROM subscriptions WHERE id = $1", subscription.id
    )
    assert resumed is False
    assert page_errors == []

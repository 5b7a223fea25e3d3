"""Every portal page passes axe-core's WCAG 2.1 A and AA rules in Chromium, in every look.

A look is the tenant's brand colour (light or dark), the language (English or
French) and the screen (a 360 px phone or a 1280 px desktop). The customer has
a subscription she may cancel, two cards, a wallet open to top-ups and an open and a paid
invoice, so every part of every page is on screen; a second tenant in signed
link mode shows the page that asks for a fresh link.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import expect

from billing.customers import create_customer
from billing.payment_methods import add_card
from billing.subscriptions import create_subscription
from billing.wallets import create_wallet
from gateway.app import create_app
from gateway.tenants.registry import create_tenant, set_stripe_keys, update_settings
from kernel.sealing import Sealer
from tests.dates import CARD_EXP_YEAR
from tests.fixtures.axe import Look, audit, audit_at, look  # noqa: F401
from tests.fixtures.browser import NewPage, browser_endpoint, new_page, page_errors  # noqa: F401
from tests.fixtures.localstripe import LocalStripe, localstripe, stripe_settings  # noqa: F401
from tests.fixtures.pebble import free_port
from tests.portal.seed import final_invoice

pytestmark = pytest.mark.slow

# Stripe.js mounts its card fields here; real Stripe draws them in its own labelled
# iframe, the stand-in the tests load as bare inputs: not our markup to audit.
CARD_FIELDS = "#card-element"


@dataclass(frozen=True)
class Portal:
    """The portal's address on a running gateway, and the paths of every page."""

    origin: str
    paths: list[str]
    link_required_url: str


async def seed_customer(pool: Any, sealer: Sealer, server: LocalStripe, color: str) -> list[str]:
    """Alpeak in `color` and Ada with everything a portal page can show; her pages' paths."""
    tenant = await create_tenant(pool, slug="alpeak", name="Alpeak Outdoor", brand_color=color)
    await update_settings(
        pool,
        tenant_id=tenant.id,
        changes={"wallet.topups_enabled": True, "portal.subscription_cancel_enabled": True},
    )
    await set_stripe_keys(
        pool,
        sealer,
        tenant_id=tenant.id,
        secret_key=server.secret_key,
        publishable_key=server.publishable_key,
    )
    ada = await create_customer(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data={
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "address": {"line1": "12 Rue des Alpes", "city": "Grenoble", "postal_code": "38000"},
            "currency": "EUR",
        },
    )
    subscription = await create_subscription(
        pool,
        tenant_id=tenant.id,
        data={
            "customer": ada.id,
            "plan_name": "Pro",
            "currency": "EUR",
            "items": [
                {"name": "Seats", "unit_amount": 1900, "quantity": 3, "tax_rate_bps": 2000},
            ],
        },
    )
    older = await add_card(
        pool,
        tenant_id=tenant.id,
        customer_id=ada.id,
        brand="mastercard",
        last4="4444",
        exp_month=9,
        exp_year=CARD_EXP_YEAR,
    )
    await add_card(
        pool,
        tenant_id=tenant.id,
        customer_id=ada.id,
        brand="visa",
        last4="4242",
        exp_month=4,
        exp_year=CARD_EXP_YEAR + 1,
    )
    wallet = await create_wallet(pool, tenant_id=tenant.id, customer_id=ada.id, currency="EUR")
    open_invoice = await final_invoice(pool, tenant.id, ada.id)
    paid_invoice = await final_invoice(pool, tenant.id, ada.id, paid=True)
    base = f"/portal/{ada.id}"
    return [
        base,
        await seed_past_due_customer(pool, tenant.id),
        f"{base}/invoices",
        f"{base}/invoices/{open_invoice.id}",
        f"{base}/invoices/{paid_invoice.id}",
        f"{base}/billing",
        f"{base}/payment_methods/new",
        f"{base}/payment_methods/{older.id}/remove",
        f"{base}/subscriptions/{subscription.id}/cancel",
        f"{base}/wallets/{wallet.id}/topup",
    ]


async def seed_past_due_customer(pool: Any, tenant_id: int) -> str:
    """Grace, whose renewal was declined: her overview shows what to pay; its path."""
    grace = await create_customer(
        pool, tenant_id=tenant_id, default_currency="EUR", data={"name": "Grace Hopper"}
    )
    subscription = await create_subscription(
        pool,
        tenant_id=tenant_id,
        data={
            "customer": grace.id,
            "plan_name": "Team",
            "items": [{"name": "Seats", "unit_amount": 1000, "quantity": 2}],
        },
    )
    invoice = await final_invoice(pool, tenant_id, grace.id)
    await pool.execute(
        "UPDATE invoices SET subscription_id = $3, next_payment_attempt_at = now() + "
        "interval '2 days' WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        invoice.id,
        subscription.id,
    )
    await pool.execute(
        "UPDATE subscriptions SET status = 'past_due' WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        subscription.id,
    )
    return f"/portal/{grace.id}"


@pytest.fixture
async def portal(
    aiohttp_server: Any,
    settings: Any,
    pool: Any,
    localstripe: LocalStripe,  # noqa: F811
    look: Look,  # noqa: F811
) -> Portal:
    """The gateway on a real port, Alpeak in the look's brand colour, Borealis in signed mode."""
    assert settings.kek is not None
    port = free_port()
    served = dataclasses.replace(stripe_settings(settings, localstripe), http_port=port)
    paths = await seed_customer(pool, Sealer(settings.kek), localstripe, look.brand_color)
    borealis = await create_tenant(
        pool, slug="borealis", name="Borealis", brand_color=look.brand_color
    )
    await update_settings(pool, tenant_id=borealis.id, changes={"portal.link_mode": "signed"})
    linus = await create_customer(
        pool,
        tenant_id=borealis.id,
        default_currency=borealis.default_currency,
        data={"name": "Linus Torvalds"},
    )
    await aiohttp_server(create_app(served, domain_worker=False), host="127.0.0.1", port=port)
    return Portal(
        origin=f"http://alpeak.localhost:{port}",
        paths=paths,
        link_required_url=f"http://borealis.localhost:{port}/portal/{linus.id}",
    )


async def test_every_portal_page_passes_wcag_21_aa_in_every_brand_language_and_width(
    portal: Portal,
    look: Look,  # noqa: F811
    new_page: NewPage,  # noqa: F811
    page_errors: list[str],  # noqa: F811
) -> None:
    page = await new_page(**look.page_options())
    failures = []
    for path in portal.paths:
        failures += await audit_at(page, look, portal.origin + path, exclude=(CARD_FIELDS,))
    # A billing form sent with a wrong email comes back with its error beside the field.
    await page.goto(portal.origin + portal.paths[0] + "/billing")
    await page.locator("#field-email").fill("not an email")
    await page.locator("form.card button[type=submit]").click()
    await expect(page.locator("#field-email")).to_have_attribute("aria-invalid", "true")
    failures += await audit(page, look)
    # A refused top-up comes back with what went wrong.
    await page.goto(portal.origin + portal.paths[-1])
    await page.locator("#topup-amount").fill("0")
    await page.locator("#topup-form button[type=submit]").click()
    await expect(page.get_by_role("alert").filter(has_text=re.compile(r"\w"))).to_be_visible()
    failures += await audit(page, look)
    # After an action the overview shows its notice in the portal layout.
    await page.goto(portal.origin + portal.paths[0])
    await page.locator("#payment-methods form button[type=submit]").first.click()
    await expect(page.locator("#portal-notice")).to_be_visible()
    failures += await audit(page, look)
    failures += await audit_at(page, look, portal.link_required_url, status=403)
    assert failures == [], "\n".join(failures)
    assert page_errors == []

"""The hosted checkout passes axe-core's WCAG 2.1 A and AA rules in Chromium, in every look.

A look is the tenant's brand colour (light or dark), the language (English or
French) and the screen (a 360 px phone or a 1280 px desktop). The pages: a
session to pay (with tax and a recurring item), the same with the billing
form's errors shown by its script, an expired session and a paid one.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from playwright.async_api import expect

from gateway.tenants.api_keys import create_api_key
from gateway.tenants.registry import create_tenant, set_stripe_keys
from kernel.sealing import Sealer
from tests.checkout.conftest import Shop, gateway_app
from tests.fixtures.axe import Look, audit, audit_at, look  # noqa: F401
from tests.fixtures.browser import NewPage, browser_endpoint, new_page, page_errors  # noqa: F401
from tests.fixtures.localstripe import LocalStripe, localstripe  # noqa: F401
from tests.fixtures.pebble import free_port

pytestmark = pytest.mark.slow

# Stripe.js mounts its card fields here; real Stripe draws them in its own labelled
# iframe, the stand-in the tests load as bare inputs: not our markup to audit.
CARD_FIELDS = "#card-element"


@pytest.fixture
async def shop(
    aiohttp_client: Any,
    aiohttp_server: Any,
    settings: Any,
    pool: Any,
    localstripe: LocalStripe,  # noqa: F811
    look: Look,  # noqa: F811
) -> tuple[Shop, str]:
    """Alpeak in the look's brand colour on localstripe, served on a real port; its origin."""
    assert settings.kek is not None
    sealer = Sealer(settings.kek)
    port = free_port()
    served = dataclasses.replace(settings, http_port=port)
    tenant = await create_tenant(
        pool, slug="alpeak", name="Alpeak Outdoor", brand_color=look.brand_color
    )
    await set_stripe_keys(
        pool,
        sealer,
        tenant_id=tenant.id,
        secret_key=localstripe.secret_key,
        publishable_key=localstripe.publishable_key,
    )
    _, key = await create_api_key(pool, tenant_id=tenant.id)
    await aiohttp_server(gateway_app(served, localstripe), host="127.0.0.1", port=port)
    client = await aiohttp_client(gateway_app(settings, localstripe))
    return Shop(client, pool, localstripe, sealer, tenant, key), f"http://alpeak.localhost:{port}"


async def test_every_checkout_page_passes_wcag_21_aa_in_every_brand_language_and_width(
    shop: tuple[Shop, str],
    look: Look,  # noqa: F811
    new_page: NewPage,  # noqa: F811
    page_errors: list[str],  # noqa: F811
) -> None:
    alpeak, origin = shop
    taxed = await alpeak.create_session(
        line_items=[
            {"name": "Pro plan", "unit_amount": 2900, "interval": "month", "tax_rate_bps": 2000},
            {"name": "Setup", "unit_amount": 5000},
        ]
    )
    expired = await alpeak.create_session()
    response = await alpeak.client.post(
        f"/api/v1/checkout_sessions/{expired['id']}/expire", headers=alpeak.api
    )
    assert response.status == 200
    paid = await alpeak.create_session()
    token, setup_intent = await alpeak.saved_card(paid["id"], "4242424242424242")
    response = await alpeak.complete(paid["id"], token, setup_intent)
    assert response.status == 200, await response.text()
    page = await new_page(**look.page_options())

    failures = await audit_at(
        page, look, f"{origin}/checkout/{taxed['id']}", exclude=(CARD_FIELDS,)
    )
    # Details the billing step refuses come back beside their fields.
    await page.locator("#field-email").fill("not an email")
    await page.locator("#checkout-submit").click()
    await expect(page.locator("#field-email")).to_have_attribute("aria-invalid", "true")
    failures += await audit(page, look, exclude=(CARD_FIELDS,))
    for closed, status in ((expired, "expired"), (paid, "complete")):
        failures += await audit_at(page, look, f"{origin}/checkout/{closed['id']}")
        await expect(page.locator("#checkout-closed")).to_have_attribute("data-status", status)
    assert failures == [], "\n".join(failures)
    # The refused billing step is the only error the page logged.
    assert all("422" in error for error in page_errors), page_errors

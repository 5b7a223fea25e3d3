"""Hosted checkout in a real Chromium: a customer fills the form and a card, and pays.

The gateway listens on a real loopback port and the page is opened on the
tenant host (`alpeak.localhost`); Stripe.js is localstripe's stand-in, whose
card element is plain inputs. The tenant's success page is a small local server.
"""

# Not collected yet (the file name does not start with test_): a run hung once right after
# the first Chromium test in the full suite; until that is understood these flows run by
# hand with `.venv/bin/pytest <this file>`. See the notes on issues 4 and 5.
from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aiohttp import web

from tests.checkout.conftest import Shop, gateway_app, make_shop
from tests.dates import CARD_EXP_YEAR_2
from tests.fixtures.browser import browser_endpoint, new_page, page, page_errors  # noqa: F401
from tests.fixtures.localstripe import LocalStripe
from tests.fixtures.pebble import free_port

pytestmark = pytest.mark.slow


async def test_a_customer_pays_in_the_browser_and_lands_on_the_success_page(
    aiohttp_client: Any,
    aiohttp_server: Any,
    settings: Any,
    pool: Any,
    localstripe: LocalStripe,
    page: Any,  # noqa: F811
    page_errors: list[str],  # noqa: F811
) -> None:
    from playwright.async_api import expect

    async def thanks(request: web.Request) -> web.Response:
        body = '<!doctype html><link rel="icon" href="data:,"><title>Thanks</title><p>Thank you'
        return web.Response(text=body, content_type="text/html")

    tenant_site = web.Application()
    tenant_site.router.add_get("/thanks", thanks)
    site = await aiohttp_server(tenant_site, host="127.0.0.1")
    port = free_port()
    served = dataclasses.replace(settings, http_port=port)
    tenant, sealer, key = await make_shop(pool, served, localstripe)
    await aiohttp_server(gateway_app(served, localstripe), host="127.0.0.1", port=port)
    client = await aiohttp_client(gateway_app(settings, localstripe))
    shop = Shop(client, pool, localstripe, sealer, tenant, key)
    created = await shop.create_session(
        success_url=f"http://127.0.0.1:{site.port}/thanks?session={{CHECKOUT_SESSION_ID}}"
    )

    await page.goto(f"http://alpeak.localhost:{port}/checkout/{created['id']}")
    await expect(page.get_by_role("heading", name="Pay Alpeak Outdoor")).to_be_visible()
    await expect(page.get_by_label("Name")).to_have_value("Ada Lovelace")
    await page.get_by_label("Address line 1").fill("12 Rue des Alpes")
    await page.get_by_label("City").fill("Grenoble")
    await page.get_by_label("Postal code").fill("38000")
    await page.get_by_label("Country").select_option("FR")
    card = page.locator("#card-element")
    await card.get_by_placeholder("number", exact=True).fill("4242424242424242")
    await card.get_by_placeholder("exp_month", exact=True).fill("12")
    await card.get_by_placeholder("exp_year", exact=True).fill(CARD_EXP_YEAR_2)
    await card.get_by_placeholder("cvc", exact=True).fill("123")
    await card.get_by_placeholder("postal_code", exact=True).fill("38000")
    await page.get_by_role("button", name="Pay €79.00").click()

    await page.wait_for_url(f"http://127.0.0.1:{site.port}/thanks?session={created['id']}")
    await expect(page.locator("body")).to_have_text("Thank you")
    row = await pool.fetchrow(
        "SELECT s.status, c.city FROM checkout_sessions s JOIN customers c "
        "ON c.id = s.customer_id WHERE s.id = $1",
        created["id"],
    )
    assert (row["status"], row["city"]) == ("complete", "Grenoble")
    assert page_errors == []


async def test_wrong_billing_details_are_shown_beside_their_inputs_in_the_pages_language(
    aiohttp_client: Any,
    aiohttp_server: Any,
    settings: Any,
    pool: Any,
    localstripe: LocalStripe,
    new_page: Any,  # noqa: F811
    page_errors: list[str],  # noqa: F811
) -> None:
    from playwright.async_api import expect

    port = free_port()
    served = dataclasses.replace(settings, http_port=port)
    tenant, sealer, key = await make_shop(pool, served, localstripe)
    await aiohttp_server(gateway_app(served, localstripe), host="127.0.0.1", port=port)
    client = await aiohttp_client(gateway_app(settings, localstripe))
    created = await Shop(client, pool, localstripe, sealer, tenant, key).create_session()
    french = await new_page(locale="fr-FR")

    await french.goto(f"http://alpeak.localhost:{port}/checkout/{created['id']}")
    email = french.locator("#field-email")
    await email.fill("ada-at-example")
    await french.locator("#field-vat_number").fill("FR12")
    await french.locator("#field-country").select_option("FR")
    await french.locator("#checkout-submit").click()

    await expect(french.locator("#error-email")).to_have_text("Indiquez une adresse e-mail valide.")
    await expect(email).to_have_attribute("aria-invalid", "true")
    await expect(email).to_be_focused()
    await expect(french.locator("#error-vat_number")).not_to_be_empty()
    await expect(french.locator("#error-city")).to_be_empty()
    # Once corrected, the next attempt clears the billing errors and reaches the card.
    await email.fill("ada@example.com")
    await french.locator("#field-vat_number").fill("")
    await french.locator("#checkout-submit").click()
    await expect(french.locator("#error-card")).not_to_be_empty()
    await expect(french.locator("#error-email")).to_be_empty()
    await expect(email).not_to_have_attribute("aria-invalid", "true")
    assert await pool.fetchval("SELECT email FROM customers") == "ada@example.com"
    assert page_errors == []

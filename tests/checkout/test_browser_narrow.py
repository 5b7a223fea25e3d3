"""The hosted checkout on a 360 px phone in German and French: nothing wider than the screen."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from playwright.async_api import expect

from gateway.tenants.api_keys import create_api_key
from gateway.tenants.registry import create_tenant, set_stripe_keys
from kernel.sealing import Sealer
from tests.checkout.conftest import Shop, gateway_app
from tests.fixtures.browser import NewPage, browser_endpoint, new_page, page_errors  # noqa: F401
from tests.fixtures.localstripe import LocalStripe, localstripe  # noqa: F401
from tests.fixtures.narrow import LONG_WORD_LANGUAGES, narrow_page, too_wide
from tests.fixtures.pebble import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
async def shop(
    aiohttp_client: Any,
    aiohttp_server: Any,
    settings: Any,
    pool: Any,
    localstripe: LocalStripe,  # noqa: F811
) -> tuple[Shop, str]:
    """Alpeak on localstripe, served on a real port; its origin."""
    assert settings.kek is not None
    sealer = Sealer(settings.kek)
    port = free_port()
    served = dataclasses.replace(settings, http_port=port)
    tenant = await create_tenant(pool, slug="alpeak", name="Alpeak Outdoor", brand_color="#f5d90a")
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


@pytest.mark.parametrize("language", sorted(LONG_WORD_LANGUAGES))
async def test_the_checkout_page_fits_a_360_px_screen(
    shop: tuple[Shop, str],
    language: str,
    new_page: NewPage,  # noqa: F811
    page_errors: list[str],  # noqa: F811
) -> None:
    alpeak, origin = shop
    session = await alpeak.create_session(
        line_items=[
            {
                "name": "Jahresabonnement Bergsportausrüstungsversicherung",
                "unit_amount": 129900,
                "interval": "year",
                "tax_rate_bps": 1900,
            },
            {"name": "Einrichtungsgebühr", "unit_amount": 5000, "quantity": 12},
        ]
    )
    page = await new_page(**narrow_page(language))
    response = await page.goto(f"{origin}/checkout/{session['id']}")
    assert response is not None
    assert response.status == 200
    problems = await too_wide(page, language)
    # The billing step's errors shown beside their fields by the page's script.
    await page.locator("#field-email").fill("not an email")
    await page.locator("#checkout-submit").click()
    await expect(page.locator("#field-email")).to_have_attribute("aria-invalid", "true")
    problems += await too_wide(page, language)
    assert problems == [], "\n".join(problems)
    assert all("422" in error for error in page_errors), page_errors

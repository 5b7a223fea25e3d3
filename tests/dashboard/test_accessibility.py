"""The settings page passes axe-core's WCAG 2.1 A and AA rules in Chromium, in every look.

A look is the tenant's brand colour (light or dark: the brand section previews
the portal in it), the language (English or French) and the screen (a 360 px
phone or a 1280 px desktop). The pages: sign-in (empty, refused, signed out)
and every section after it, with a custom domain and a customer to list, the
brand section's preview redrawn in the other brand colour as it is typed, and
the legal details refused with errors beside their fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import expect

from billing.customers import create_customer
from gateway.app import create_app
from gateway.tenants.api_keys import create_api_key
from gateway.tenants.domains import add_domain
from gateway.tenants.registry import create_tenant
from tests.fixtures.axe import BRANDS, Look, audit, audit_at, look  # noqa: F401
from tests.fixtures.browser import NewPage, browser_endpoint, new_page, page_errors  # noqa: F401
from tests.fixtures.pebble import free_port

pytestmark = pytest.mark.slow

DOMAIN = "billing.alpeak.test"
SECTIONS = ("domains", f"domains/{DOMAIN}", "brand", "legal", "wallet", "portal", "customers")


@dataclass(frozen=True)
class Desk:
    """The settings page of a running gateway, and the API key that opens it."""

    url: str
    key: str


@pytest.fixture
async def desk(aiohttp_server: Any, settings: Any, pool: Any, look: Look) -> Desk:  # noqa: F811
    """Alpeak in the look's brand colour, with a custom domain claimed and a customer."""
    port = free_port()
    served = dataclasses.replace(settings, http_port=port)
    tenant = await create_tenant(
        pool, slug="alpeak", name="Alpeak Outdoor", brand_color=look.brand_color
    )
    _, key = await create_api_key(pool, tenant_id=tenant.id)
    await add_domain(pool, tenant_id=tenant.id, name=DOMAIN, base_domain=settings.base_domain)
    await create_customer(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data={"name": "Ada Lovelace", "email": "ada@example.com"},
    )
    await aiohttp_server(create_app(served, domain_worker=False), host="127.0.0.1", port=port)
    return Desk(url=f"http://app.localhost:{port}/settings", key=key)


async def test_every_settings_page_passes_wcag_21_aa_in_every_brand_language_and_width(
    desk: Desk,
    look: Look,  # noqa: F811
    new_page: NewPage,  # noqa: F811
    page_errors: list[str],  # noqa: F811
) -> None:
    page = await new_page(**look.page_options())
    failures = await audit_at(page, look, f"{desk.url}/sign-in")
    key_field = page.locator("#field-api_key")
    await key_field.fill("gwk_wrong")
    await key_field.press("Enter")
    await expect(key_field).to_have_attribute("aria-invalid", "true")
    failures += await audit(page, look)
    await key_field.fill(desk.key)
    await key_field.press("Enter")
    await page.wait_for_url(f"{desk.url}/domains")
    for section in SECTIONS:
        failures += await audit_at(page, look, f"{desk.url}/{section}")
    # A refused VAT number: the form comes back with the errors beside their fields.
    await page.goto(f"{desk.url}/legal")
    await page.locator("#field-vat_number").fill("FR1")
    await page.locator("#field-vat_number").press("Enter")
    await expect(page.locator("#field-vat_number")).to_have_attribute("aria-invalid", "true")
    failures += await audit(page, look)
    # The preview follows a colour as it is typed, drawing its text in a colour of its own.
    await page.goto(f"{desk.url}/brand")
    other = next(color for color in BRANDS.values() if color != look.brand_color)
    await page.locator("#field-brand_color").fill(other)
    await expect(page.locator("#portal-preview")).to_have_attribute("data-color", other)
    failures += await audit(page, look)
    await page.locator(".sign-out button").click()
    await expect(page.get_by_role("status")).to_be_visible()
    failures += await audit(page, look)
    assert failures == [], "\n".join(failures)
    # The refused key and the refused VAT number are the only errors the page logged.
    assert all("401" in error or "422" in error for error in page_errors), page_errors

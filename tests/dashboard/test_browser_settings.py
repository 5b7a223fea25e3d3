"""The settings page in a real Chromium: sign-in, the brand preview, wallet and portal effects.

The gateway listens on a real loopback port; the settings page opens on
app.localhost and the customer's portal on alpeak.localhost (Chromium maps
*.localhost to 127.0.0.1).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import expect

from billing.customers import create_customer
from billing.wallets import create_wallet
from gateway.app import create_app
from gateway.tenants.api_keys import create_api_key
from gateway.tenants.registry import create_tenant, update_settings
from kernel.colors import WHITE, contrast_ratio
from tests.conftest import eventually
from tests.fixtures.browser import (  # noqa: F401
    NewPage,
    browser_endpoint,
    new_page,
    page,
    page_errors,
)
from tests.fixtures.pebble import free_port

pytestmark = pytest.mark.slow

PHONE = {"width": 360, "height": 740}
TEAL = "#0f766e"


@dataclass(frozen=True)
class Site:
    """A running gateway with Alpeak (top-ups on) and Ada, who has a wallet."""

    pool: Any
    key: str
    settings_url: str
    portal_url: str


@pytest.fixture
async def site(aiohttp_server: Any, settings: Any, pool: Any) -> Site:
    port = free_port()
    served = dataclasses.replace(settings, http_port=port)
    tenant = await create_tenant(pool, slug="alpeak", name="Alpeak Outdoor", brand_color="#aa0000")
    await update_settings(pool, tenant_id=tenant.id, changes={"wallet.topups_enabled": True})
    _, key = await create_api_key(pool, tenant_id=tenant.id)
    ada = await create_customer(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data={"name": "Ada Lovelace", "currency": "EUR"},
    )
    await create_wallet(pool, tenant_id=tenant.id, customer_id=ada.id, currency="EUR")
    await aiohttp_server(create_app(served, domain_worker=False), host="127.0.0.1", port=port)
    return Site(
        pool=pool,
        key=key,
        settings_url=f"http://app.localhost:{port}/settings",
        portal_url=f"http://alpeak.localhost:{port}/portal/{ada.id}",
    )


async def sign_in_with_keyboard(page: Any, site: Site, key: str) -> None:  # noqa: F811
    await page.goto(site.settings_url)
    await expect(page.get_by_role("heading", name="Sign in to your settings")).to_be_visible()
    await page.get_by_label("API key").fill(key)
    await page.get_by_label("API key").press("Enter")


async def fits_the_screen(page: Any) -> bool:  # noqa: F811
    overflow: bool = await page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    return overflow


async def test_a_wrong_key_is_refused_and_the_right_one_opens_the_settings(
    site: Site,
    new_page: NewPage,  # noqa: F811
    page_errors: list[str],  # noqa: F811
) -> None:
    page = await new_page(viewport=PHONE)  # noqa: F811
    await sign_in_with_keyboard(page, site, "gwk_wrong")
    key_field = page.get_by_label("API key")
    await expect(key_field).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#error-api_key")).to_have_text(
        "This API key is unknown or has been revoked."
    )
    await key_field.fill(site.key)
    await key_field.press("Enter")
    await expect(page.get_by_role("heading", name="Custom domains")).to_be_visible()
    for section in ("Domains", "Brand", "Wallet", "Portal", "Customers"):
        await page.get_by_role("link", name=section, exact=True).click()
        await expect(page.get_by_role("link", name=section, exact=True)).to_have_attribute(
            "aria-current", "page"
        )
        assert await fits_the_screen(page), f"{section} is wider than 360 px"
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("status")).to_have_text("You are signed out.")
    await page.goto(site.settings_url + "/brand")
    await expect(page.get_by_role("heading", name="Sign in to your settings")).to_be_visible()
    assert page_errors == []


async def test_a_new_brand_colour_shows_in_the_preview_then_on_the_live_portal(
    site: Site,
    page: Any,  # noqa: F811
    page_errors: list[str],  # noqa: F811
) -> None:
    await sign_in_with_keyboard(page, site, site.key)
    await page.get_by_role("link", name="Brand", exact=True).click()
    preview = page.locator("#portal-preview")
    header = preview.locator(".preview-header")
    await expect(header).to_have_css("background-color", "rgb(170, 0, 0)")

    hex_field = page.get_by_label("Brand colour")
    await hex_field.fill("#fde68a")
    await expect(header).to_have_css("background-color", "rgb(253, 230, 138)")
    await expect(header).to_have_css("color", "rgb(0, 0, 0)")
    await expect(page.locator("#contrast-warning")).to_be_visible()
    # The page's script agrees with gateway.tenants.brand on the ratio.
    ratio = f"{contrast_ratio('#fde68a', WHITE):.1f}:1"
    await expect(page.locator("#contrast-warning")).to_contain_text(ratio)

    await hex_field.fill(TEAL)
    await expect(header).to_have_css("background-color", "rgb(15, 118, 110)")
    await expect(header).to_have_css("color", "rgb(255, 255, 255)")
    await expect(page.locator("#contrast-warning")).to_be_hidden()
    await expect(page.get_by_label("Pick a colour")).to_have_value(TEAL)
    # The portal has not changed yet: only the preview shows the colour.
    assert await site.pool.fetchval("SELECT brand_color FROM tenants") == "#aa0000"

    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Your changes were saved.")
    await expect(hex_field).to_have_value(TEAL)

    portal = await page.context.new_page()
    portal_header = portal.locator("header.site-header")

    async def portal_colour() -> str:
        await portal.goto(site.portal_url)
        colour: str = await portal_header.evaluate("e => getComputedStyle(e).backgroundColor")
        return colour

    assert await eventually(portal_colour, lambda c: c == "rgb(15, 118, 110)") == (
        "rgb(15, 118, 110)"
    )
    assert page_errors == []


async def test_a_bad_colour_is_flagged_beside_the_field_and_keeps_what_was_typed(
    site: Site,
    page: Any,  # noqa: F811
    page_errors: list[str],  # noqa: F811
) -> None:
    await sign_in_with_keyboard(page, site, site.key)
    await page.get_by_role("link", name="Brand", exact=True).click()
    await page.get_by_label("Brand colour").fill("#12345")
    await page.get_by_role("button", name="Save").click()
    field = page.get_by_label("Brand colour")
    await expect(field).to_have_attribute("aria-invalid", "true")
    await expect(field).to_have_value("#12345")
    await expect(page.locator("#error-brand_color")).to_contain_text("six hex digits")
    assert page_errors == []


async def test_turning_top_ups_off_removes_buy_credits_from_the_portal(
    site: Site,
    page: Any,  # noqa: F811
    page_errors: list[str],  # noqa: F811
) -> None:
    portal = await page.context.new_page()
    await portal.goto(site.portal_url)
    await expect(portal.get_by_text(re.compile("Buy credits")).first).to_be_visible()

    await sign_in_with_keyboard(page, site, site.key)
    await page.get_by_role("link", name="Wallet", exact=True).click()
    offer = page.get_by_label('Offer "Buy credits" in the portal')
    await expect(offer).to_be_checked()
    await offer.uncheck()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Your changes were saved.")
    await expect(offer).not_to_be_checked()

    async def offers_credits() -> bool:
        await portal.goto(site.portal_url)
        await expect(portal.get_by_role("heading", name="Wallets")).to_be_visible()
        return bool(await portal.get_by_text(re.compile("Buy credits")).count())

    assert await eventually(offers_credits, lambda offered: not offered) is False
    assert page_errors == []

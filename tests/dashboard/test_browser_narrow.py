"""The settings page on a 360 px phone in German and French: nothing wider than the screen."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from billing.customers import create_customer
from gateway.app import create_app
from gateway.tenants.api_keys import create_api_key
from gateway.tenants.domains import add_domain
from gateway.tenants.registry import create_tenant
from tests.fixtures.browser import NewPage, browser_endpoint, new_page, page_errors  # noqa: F401
from tests.fixtures.narrow import LONG_WORD_LANGUAGES, narrow_page, too_wide
from tests.fixtures.pebble import free_port

pytestmark = pytest.mark.slow

DOMAIN = "rechnungen.bergsportausruestungsvermietung-chamrousse.test"
SECTIONS = ("domains", f"domains/{DOMAIN}", "brand", "legal", "wallet", "portal", "customers")


@pytest.fixture
async def desk(aiohttp_server: Any, settings: Any, pool: Any) -> tuple[str, str]:
    """Alpeak with a long custom domain claimed and a customer; the page's URL and API key."""
    port = free_port()
    served = dataclasses.replace(settings, http_port=port)
    tenant = await create_tenant(pool, slug="alpeak", name="Alpeak Outdoor", brand_color="#1a1a40")
    _, key = await create_api_key(pool, tenant_id=tenant.id)
    await add_domain(pool, tenant_id=tenant.id, name=DOMAIN, base_domain=settings.base_domain)
    await create_customer(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data={"name": "Bergsportausrüstungsvermietungsgesellschaft", "email": "ada@example.com"},
    )
    await aiohttp_server(create_app(served, domain_worker=False), host="127.0.0.1", port=port)
    return f"http://app.localhost:{port}/settings", key


@pytest.mark.parametrize("language", sorted(LONG_WORD_LANGUAGES))
async def test_every_settings_section_fits_a_360_px_screen(
    desk: tuple[str, str],
    language: str,
    new_page: NewPage,  # noqa: F811
    page_errors: list[str],  # noqa: F811
) -> None:
    url, key = desk
    page = await new_page(**narrow_page(language))
    await page.goto(f"{url}/sign-in")
    problems = await too_wide(page, language)
    key_field = page.locator("#field-api_key")
    await key_field.fill(key)
    await key_field.press("Enter")
    await page.wait_for_url(f"{url}/domains")
    for section in SECTIONS:
        response = await page.goto(f"{url}/{section}")
        assert response is not None
        assert response.status == 200, section
        problems += await too_wide(page, language)
    assert problems == [], "\n".join(problems)
    assert page_errors == []

"""Every portal page on a 360 px phone in German and French: nothing wider than the screen.

Tables stack their rows (each cell led by its column's name) and long words wrap,
so no amount is clipped and the page never scrolls sideways. The customer has
everything a page can show: a subscription she may cancel, two cards, a wallet
open to top-ups, an open and a paid invoice, and a long company name.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from playwright.async_api import expect

from billing.customers import update_billing_info
from gateway.app import create_app
from gateway.tenants.registry import get_tenant_by_slug
from kernel.sealing import Sealer
from tests.fixtures.browser import NewPage, browser_endpoint, new_page, page_errors  # noqa: F401
from tests.fixtures.localstripe import LocalStripe, localstripe, stripe_settings  # noqa: F401
from tests.fixtures.narrow import LONG_WORD_LANGUAGES, narrow_page, too_wide
from tests.fixtures.pebble import free_port
from tests.portal.test_accessibility import seed_customer

pytestmark = pytest.mark.slow


@pytest.fixture
async def portal(
    aiohttp_server: Any,
    settings: Any,
    pool: Any,
    localstripe: LocalStripe,  # noqa: F811
) -> tuple[str, list[str]]:
    """The gateway on a real port with Alpeak's customer Ada; its origin and her pages."""
    assert settings.kek is not None
    port = free_port()
    served = dataclasses.replace(stripe_settings(settings, localstripe), http_port=port)
    paths = await seed_customer(pool, Sealer(settings.kek), localstripe, "#1a1a40")
    tenant = await get_tenant_by_slug(pool, "alpeak")
    await update_billing_info(
        pool,
        tenant_id=tenant.id,
        customer_id=paths[0].rsplit("/", 1)[-1],
        changes={
            "name": "Bergsportausrüstungsvermietungsgesellschaft Grenoble-Chamrousse",
            "address": {"line1": "Rechnungsempfängerverwaltungsabteilung, 12 Rue des Alpes"},
        },
    )
    await aiohttp_server(create_app(served, domain_worker=False), host="127.0.0.1", port=port)
    return f"http://alpeak.localhost:{port}", paths


@pytest.mark.parametrize("language", sorted(LONG_WORD_LANGUAGES))
async def test_every_portal_page_fits_a_360_px_screen(
    portal: tuple[str, list[str]],
    language: str,
    new_page: NewPage,  # noqa: F811
    page_errors: list[str],  # noqa: F811
) -> None:
    origin, paths = portal
    page = await new_page(**narrow_page(language))
    problems = []
    for path in paths:
        response = await page.goto(origin + path)
        assert response is not None
        assert response.status == 200, path
        problems += await too_wide(page, language)
    # The open invoice's pay form, opened from its link.
    await page.goto(origin + paths[2] + "#pay")
    problems += await too_wide(page, language)
    # A subscription set to end shows what resuming it does.
    await page.goto(origin + paths[7])
    await page.locator("main form button[type=submit]").first.click()
    await expect(page.locator("#portal-notice")).to_be_visible()
    problems += await too_wide(page, language)
    assert problems == [], "\n".join(problems)
    assert page_errors == []

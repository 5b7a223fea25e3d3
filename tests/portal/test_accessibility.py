"""Portal pages for keyboards, screen readers and 360 px wide phones."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from billing.payment_methods import add_card
from billing.wallets import create_wallet
from gateway.app import create_app
from gateway.settings import Settings
from gateway.tenants.registry import set_stripe_keys, update_settings
from kernel.sealing import Sealer
from tests.dates import CARD_EXP_YEAR
from tests.portal.seed import ALPEAK, final_invoice, seed_tenants

Client = TestClient[web.Request, web.Application]
NARROWEST_SCREEN_PX = 360
CONTROL = re.compile(r"<(input|select|textarea)\b([^>]*)>", re.DOTALL)
BUTTON = re.compile(r"<button\b([^>]*)>(.*?)</button>", re.DOTALL)
# A declared width (or min-width) that a 360 px screen could not hold.
WIDTH = re.compile(r"(?<![-\w])(?:min-)?width\s*:\s*(\d+(?:\.\d+)?)(px|rem|em)\b")


async def portal_pages(
    pool: asyncpg.Pool,
    settings: Settings,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> dict[str, str]:
    """Every portal page of a customer with a card, a wallet open to top-ups and an invoice."""
    seeded = await seed_tenants(pool)
    tenant_id, customer = seeded.alpeak.id, seeded.customer_id
    await update_settings(pool, tenant_id=tenant_id, changes={"wallet.topups_enabled": True})
    assert settings.kek is not None
    await set_stripe_keys(
        pool,
        Sealer(settings.kek),
        tenant_id=tenant_id,
        secret_key="sk_test_neverused0",
        publishable_key="pk_test_neverused0",
    )
    await add_card(
        pool,
        tenant_id=tenant_id,
        customer_id=customer,
        brand="visa",
        last4="4242",
        exp_month=4,
        exp_year=CARD_EXP_YEAR + 1,
    )
    wallet = await create_wallet(pool, tenant_id=tenant_id, customer_id=customer, currency="EUR")
    invoice = await final_invoice(pool, tenant_id, customer)
    client = await aiohttp_client(create_app(settings, domain_worker=False))
    pages = {}
    for path in (
        "",
        "/billing",
        "/invoices",
        f"/invoices/{invoice.id}",
        "/payment_methods/new",
        f"/wallets/{wallet.id}/topup",
    ):
        response = await client.get(f"/portal/{customer}{path}", headers=ALPEAK)
        assert response.status == 200, path
        pages[path or "/"] = await response.text()
    return pages


async def test_every_control_has_a_label_and_every_button_a_name_a_keyboard_reaches(
    pool: asyncpg.Pool,
    settings: Settings,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> None:
    pages = await portal_pages(pool, settings, aiohttp_client)
    buttons = 0
    for path, text in pages.items():
        for _, attributes in CONTROL.findall(text):
            if 'type="hidden"' in attributes:
                continue
            found = re.search(r'\sid="([^"]+)"', attributes)
            assert found is not None, f"{path}: a control without an id: {attributes}"
            assert f'<label for="{found[1]}">' in text, f"{path}: no label for {found[1]}"
        for attributes, content in BUTTON.findall(text):
            buttons += 1
            name = re.search(r'aria-label="([^"]+)"', attributes)
            visible = re.sub(r"<[^>]*>", "", content).strip()
            assert visible or name, f"{path}: a button without a name"
            if name and visible:
                # WCAG 2.5.3: the spoken name contains the visible words.
                assert visible in name[1], f"{path}: {visible!r} not in {name[1]!r}"
            assert 'tabindex="-1"' not in attributes, path
        # Only real buttons and links act: nothing clickable a keyboard cannot reach.
        assert 'role="button"' not in text, path
        assert "onclick" not in text.lower(), path
    assert buttons >= 4
    assert 'aria-label="Remove Visa ending in 4242"' in pages["/"]


async def test_no_portal_page_declares_a_width_wider_than_a_360_px_phone(
    pool: asyncpg.Pool,
    settings: Settings,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> None:
    pages = await portal_pages(pool, settings, aiohttp_client)
    for path, text in pages.items():
        assert 'name="viewport" content="width=device-width' in text, path
        styles = " ".join(re.findall(r"<style\b[^>]*>(.*?)</style>", text, re.DOTALL))
        styles += " ".join(re.findall(r'\sstyle="([^"]*)"', text))
        for number, unit in WIDTH.findall(styles):
            pixels = float(number) * (1 if unit == "px" else 16)
            assert pixels <= NARROWEST_SCREEN_PX, f"{path}: width {number}{unit}"
        # Wide tables scroll inside their card instead of widening the page.
        for table in re.finditer(r"<table\b", text):
            before = text[: table.start()]
            assert before.rfind('<div class="table-scroll">') > before.rfind("</div>"), path

"""The demo: what its banner shows after a restart, its checkout, and its settings check."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import pytest
from PIL import Image

from billing.checkout_sessions import create_checkout_session, get_checkout_session
from billing.customers import create_customer
from gateway.app import create_app
from gateway.demo.access import demo_lines
from gateway.demo.checkout import DemoCheckout, check_demo_settings, demo_checkout
from gateway.demo.icon import brand_icon
from gateway.demo.seed import seed_demo
from gateway.demo.shop import start_demo_shop, upstreams_value
from gateway.settings import Settings, SettingsError


async def test_after_a_restart_the_banner_lists_only_the_demos_own_customers(
    pool: Any, settings: Settings
) -> None:
    seeded = await seed_demo(pool)
    await create_customer(
        pool,
        tenant_id=seeded.tenant.id,
        default_currency=seeded.tenant.default_currency,
        data={"name": "Added Through The API", "email": "api@example.com"},
    )

    restarted = await seed_demo(pool)
    lines = demo_lines(settings, restarted, api_key="gwk_example")

    assert not restarted.created
    assert [c.id for c in restarted.customers] == [c.id for c in seeded.customers]
    assert len(restarted.customers) == 4
    assert not any("Added Through The API" in line for line in lines)
    assert {c.tenant_slug for c in restarted.customers} == {"alpeak", "bergfeld"}


async def test_the_demo_checkout_is_its_own_trial_session_not_one_made_through_the_api(
    pool: Any, settings: Settings
) -> None:
    info = await seed_demo(pool)
    first = await demo_checkout(pool, settings, info)
    # A tenant's own session, newer and without a trial, is not the demo's.
    await create_checkout_session(
        pool,
        tenant_id=info.tenant.id,
        default_currency=info.tenant.default_currency,
        data={
            "customer_details": {"name": "Someone", "email": "someone@example.com"},
            "currency": "EUR",
            "line_items": [{"name": "One-off", "unit_amount": 1000, "quantity": 1}],
            "success_url": "http://alpeak.localhost:8080/done",
        },
    )

    again = await demo_checkout(pool, settings, info)
    session = await get_checkout_session(
        pool, tenant_id=info.tenant.id, session_id=again.url.rsplit("/", 1)[-1]
    )

    assert again == first
    assert session.trial_days == 14
    assert again.line == f"Demo checkout (14-day trial): {again.url}"
    assert again.url.startswith("http://alpeak.localhost:8080/checkout/cs_")


def test_a_checkout_without_a_trial_is_not_labelled_as_one() -> None:
    checkout = DemoCheckout(url="http://alpeak.localhost:8080/checkout/cs_x", trial_days=None)

    assert checkout.line == "Demo checkout: http://alpeak.localhost:8080/checkout/cs_x"


async def test_a_public_base_domain_gets_a_demo_whose_checkout_returns_over_https(
    pool: Any, settings: Settings
) -> None:
    public = dataclasses.replace(settings, base_domain="billing.example.com")

    check_demo_settings(public)
    info = await seed_demo(pool)
    checkout = await demo_checkout(pool, public, info)
    session = await get_checkout_session(
        pool, tenant_id=info.tenant.id, session_id=checkout.url.rsplit("/", 1)[-1]
    )

    assert session.success_url == (
        "https://alpeak.billing.example.com:8443/demo-shop/thanks?session={CHECKOUT_SESSION_ID}"
    )
    assert session.cancel_url == "https://alpeak.billing.example.com:8443/demo-shop/"
    assert checkout.url.startswith("http://alpeak.billing.example.com:8080/checkout/cs_")


def test_a_base_domain_the_demo_cannot_use_is_refused_before_seeding(settings: Settings) -> None:
    # Loading settings already refuses such a name; the demo's own check (run by
    # `gateway demo` and `gateway serve --demo` before they seed) refuses it too.
    unusable = dataclasses.replace(settings, base_domain="bad name.example")

    with pytest.raises(SettingsError) as raised:
        check_demo_settings(unusable)

    assert "GATEWAY_BASE_DOMAIN" in str(raised.value)
    assert "success_url" in str(raised.value)


def test_the_demo_icon_is_a_png_of_the_brand_colour_with_a_white_peak() -> None:
    icon = Image.open(io.BytesIO(brand_icon((0x0E, 0x7C, 0x66))))
    assert (icon.format, icon.size) == ("PNG", (64, 64))
    pixels = icon.convert("RGBA")
    corner = pixels.getpixel((0, 0))
    assert isinstance(corner, tuple)
    assert corner[3] == 0  # rounded corner: transparent
    assert pixels.getpixel((8, 32)) == (0x0E, 0x7C, 0x66, 255)
    assert pixels.getpixel((27, 30)) == (255, 255, 255, 255)  # inside the big peak


async def test_the_demo_checkout_returns_to_the_demo_merchants_own_pages(
    aiohttp_client: Any, pool: Any, settings: Settings
) -> None:
    shop = await start_demo_shop()
    try:
        info = await seed_demo(pool)
        checkout = await demo_checkout(pool, settings, info)
        session_id = checkout.url.rsplit("/", 1)[-1]
        client = await aiohttp_client(create_app(shop.settings_for(settings), domain_worker=False))
        host = {"Host": "alpeak.localhost:8080"}
        thanks = await client.get(f"/demo-shop/thanks?session={session_id}", headers=host)
        assert thanks.status == 200
        page = await thanks.text()
        assert "Thank you for your order." in page
        assert f'href="/checkout/{session_id}"' in page
        left = await client.get("/demo-shop/", headers=host)
        assert "Nothing was charged." in await left.text()
        assert upstreams_value(shop.settings_for(settings)).endswith(f"/demo-shop={shop.url}")
    finally:
        await shop.close()


async def test_the_demos_invoices_name_their_seller_as_eu_invoices_must(pool: Any) -> None:
    info = await seed_demo(pool)
    sellers = await pool.fetch(
        "SELECT DISTINCT snapshot->'seller'->>'legal_name' AS name,"
        " snapshot->'seller'->>'vat_number' AS vat FROM invoices"
        " WHERE tenant_id = $1 AND status <> 'draft'",
        info.tenant.id,
    )
    assert [tuple(row) for row in sellers] == [("Alpeak Outdoor SAS", "FR12345678901")]

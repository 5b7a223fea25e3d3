"""Brand, wallet and portal forms of the settings page: all or nothing, errors beside fields."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import pytest

from gateway.demo.icon import brand_icon
from gateway.tenants.registry import get_tenant
from tests.conftest import ApiTenant
from tests.dashboard.desk import Desk, signed_in_desk

MakeTenant = Callable[..., Coroutine[Any, Any, ApiTenant]]


async def desk_for(client: Any, make_tenant: MakeTenant) -> tuple[Desk, ApiTenant]:
    alpeak = await make_tenant("alpeak", name="Alpeak Outdoor")
    return await signed_in_desk(client, alpeak.key), alpeak


def field_error(page: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="error-{name}">([^<]*)</p>', page)
    assert found is not None, f"no error for {name}"
    return found.group(1)


async def test_the_brand_colour_and_icon_are_saved_together(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    desk, alpeak = await desk_for(gateway_client, make_tenant)
    form = aiohttp.FormData()
    form.add_field("brand_color", "#0F766E")
    form.add_field("icon", brand_icon((15, 118, 110)), filename="icon.png")
    _, page = await desk.get("/settings/brand")
    form.add_field("csrf_token", re.search(r'name="csrf_token" value="([^"]+)"', page)[1])  # type: ignore[index]
    response = await desk.client.post(
        "/settings/brand", data=form, headers=desk.headers, allow_redirects=False
    )
    assert response.status == 303
    tenant = await get_tenant(pool, alpeak.tenant.id)
    assert tenant.brand_color == "#0f766e"
    assert tenant.icon_type == "image/png"
    _status, page = await desk.get("/settings/brand?saved=1")
    assert "Your changes were saved." in page
    assert "--brand: #0f766e" in page
    icon = await desk.client.get(f"/settings/brand/icon?v={tenant.icon_etag}", headers=desk.headers)
    assert icon.status == 200
    assert icon.content_type == "image/png"


async def test_a_wrong_colour_is_shown_again_with_its_error_and_nothing_is_saved(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    desk, alpeak = await desk_for(gateway_client, make_tenant)
    response = await desk.submit("/settings/brand", "/settings/brand", {"brand_color": "teal"})
    assert response.status == 422
    page = await response.text()
    assert "must be a colour written as # and six hex digits" in field_error(page, "brand_color")
    assert 'value="teal"' in page
    assert 'aria-invalid="true"' in page
    assert (await get_tenant(pool, alpeak.tenant.id)).brand_color == "#4f46e5"


async def test_an_icon_that_is_not_an_image_keeps_the_colour_unsaved_too(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    desk, alpeak = await desk_for(gateway_client, make_tenant)
    _, page = await desk.get("/settings/brand")
    form = aiohttp.FormData()
    form.add_field("brand_color", "#0f766e")
    form.add_field("icon", b"<svg onload=alert(1)>", filename="icon.svg")
    form.add_field("csrf_token", re.search(r'name="csrf_token" value="([^"]+)"', page)[1])  # type: ignore[index]
    response = await desk.client.post("/settings/brand", data=form, headers=desk.headers)
    assert response.status == 422
    assert "PNG, ICO or WebP" in field_error(await response.text(), "icon")
    tenant = await get_tenant(pool, alpeak.tenant.id)
    assert (tenant.brand_color, tenant.icon_type) == ("#4f46e5", None)


async def test_a_pale_colour_is_saved_with_a_contrast_warning(
    gateway_client: Any, make_tenant: MakeTenant
) -> None:
    desk, _ = await desk_for(gateway_client, make_tenant)
    response = await desk.submit("/settings/brand", "/settings/brand", {"brand_color": "#fde68a"})
    assert response.status == 303
    _, page = await desk.get("/settings/brand")
    assert re.search(r'<p id="contrast-warning" class="notice warning">', page)
    assert "Text on this colour is drawn in black" in page
    await desk.submit("/settings/brand", "/settings/brand", {"brand_color": "#1e3a8a"})
    _, dark = await desk.get("/settings/brand")
    assert re.search(r'<p id="contrast-warning" class="notice warning" hidden>', dark)


async def test_wallet_settings_are_saved_in_major_units_of_the_default_currency(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    desk, alpeak = await desk_for(gateway_client, make_tenant)
    response = await desk.submit(
        "/settings/wallet",
        "/settings/wallet",
        {
            "topups_enabled": "on",
            "pays_invoices": "on",
            "topup_min": "5",
            "topup_max": "100.50",
            "max_balance": "500",
        },
    )
    assert response.status == 303
    wallet = (await get_tenant(pool, alpeak.tenant.id)).wallet
    assert wallet.pays_invoices
    assert (wallet.topups_enabled, wallet.topup_min, wallet.topup_max, wallet.max_balance) == (
        True,
        500,
        10050,
        50000,
    )
    _, page = await desk.get("/settings/wallet")
    assert 'value="100.50"' in page
    assert "Maximum per payment (EUR)" in page


async def test_wallet_limits_that_contradict_each_other_are_refused_beside_their_field(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    desk, alpeak = await desk_for(gateway_client, make_tenant)
    response = await desk.submit(
        "/settings/wallet",
        "/settings/wallet",
        {"topup_min": "200", "topup_max": "100", "max_balance": "500"},
    )
    assert response.status == 422
    page = await response.text()
    assert "must not exceed" in field_error(page, "topup_min")
    assert 'value="200"' in page
    unparsable = await desk.submit(
        "/settings/wallet",
        "/settings/wallet",
        {"topups_enabled": "on", "topup_min": "ten", "topup_max": "100", "max_balance": "500"},
    )
    assert unparsable.status == 422
    page = await unparsable.text()
    assert "enter an amount" in field_error(page, "topup_min")
    assert 'value="ten"' in page
    assert re.search(
        r'id="field-topups_enabled" name="topups_enabled" type="checkbox" checked', page
    )
    wallet = (await get_tenant(pool, alpeak.tenant.id)).wallet
    assert (wallet.topups_enabled, wallet.topup_min) == (False, 500)


async def test_portal_settings_switch_to_signed_links_and_set_the_webhook_url(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    desk, alpeak = await desk_for(gateway_client, make_tenant)
    response = await desk.submit(
        "/settings/portal",
        "/settings/portal",
        {
            "link_mode": "signed",
            "link_ttl_seconds": "86400",
            "webhook_url": "https://alpeak.example/hooks",
        },
    )
    assert response.status == 303
    tenant = await get_tenant(pool, alpeak.tenant.id)
    assert tenant.portal.link_mode == "signed"
    assert tenant.portal.link_ttl_seconds == 86400
    assert tenant.portal.billing_edit_enabled is False  # the box was left unticked
    assert tenant.webhook_url == "https://alpeak.example/hooks"


async def test_a_ticked_box_lets_customers_cancel_at_period_end_and_the_form_shows_it(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    desk, alpeak = await desk_for(gateway_client, make_tenant)
    assert (await get_tenant(pool, alpeak.tenant.id)).portal.subscription_cancel_enabled is False
    response = await desk.submit(
        "/settings/portal",
        "/settings/portal",
        {
            "link_mode": "customer_id",
            "link_ttl_seconds": "3600",
            "subscription_cancel_enabled": "on",
        },
    )
    assert response.status == 303
    assert (await get_tenant(pool, alpeak.tenant.id)).portal.subscription_cancel_enabled is True
    status, page = await desk.get("/settings/portal")
    assert status == 200
    assert re.search(r'id="field-subscription_cancel_enabled"[^>]* checked', page)


async def test_portal_settings_errors_keep_what_was_typed(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    desk, alpeak = await desk_for(gateway_client, make_tenant)
    response = await desk.submit(
        "/settings/portal",
        "/settings/portal",
        {
            "billing_edit_enabled": "on",
            "link_mode": "signed",
            "link_ttl_seconds": "10",
            "webhook_url": "ftp://alpeak.example",
        },
    )
    assert response.status == 422
    page = await response.text()
    assert "between 60 and 2592000" in field_error(page, "link_ttl_seconds")
    assert "https:// URL" in field_error(page, "webhook_url")
    assert 'value="ftp://alpeak.example"' in page
    assert 'value="10"' in page
    assert re.search(r'value="signed" checked', page)
    assert (await get_tenant(pool, alpeak.tenant.id)).portal.link_mode == "customer_id"


async def test_the_webhook_signing_secret_is_created_then_shown_on_demand(
    gateway_client: Any, make_tenant: MakeTenant
) -> None:
    desk, _ = await desk_for(gateway_client, make_tenant)
    _, page = await desk.get("/settings/portal")
    assert "No signing secret yet." in page
    rotated = await desk.submit(
        "/settings/portal", "/settings/portal/webhook-secret", {"action": "rotate"}
    )
    assert rotated.status == 200
    created = re.search(r'value="(whsec_[^"]+)"', await rotated.text())
    assert created is not None
    _, page = await desk.get("/settings/portal")
    assert created[1] not in page
    assert "A signing secret is set; it is hidden." in page
    shown = await desk.submit(
        "/settings/portal", "/settings/portal/webhook-secret", {"action": "show"}
    )
    assert created[1] in await shown.text()
    assert shown.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("url", "explanation"),
    [
        ("http://127.0.0.1:9090/metrics", "https:// URL"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://10.0.0.1/", "private"),
        ("https://[::1]/", "loopback"),
        ("https://2130706433/", "numeric host form"),
        ("https://0x7f.1/", "numeric host form"),
        ("https://user:password@alpeak.example/hooks", "user name or password"),
    ],
)
async def test_a_webhook_url_to_a_non_public_address_is_refused_beside_the_field(
    url: str, explanation: str, gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    desk, alpeak = await desk_for(gateway_client, make_tenant)
    response = await desk.submit(
        "/settings/portal",
        "/settings/portal",
        {"link_mode": "customer_id", "link_ttl_seconds": "3600", "webhook_url": url},
    )
    assert response.status == 422
    page = await response.text()
    assert explanation in html.unescape(field_error(page, "webhook_url"))
    assert f'value="{html.escape(url)}"' in page  # what was typed stays in the field
    assert (await get_tenant(pool, alpeak.tenant.id)).webhook_url is None

"""Portal pages as a customer uses them: overview, billing, invoices, PDFs, links, languages."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pypdf
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from billing.customers import update_billing_info
from billing.outbox import list_events
from billing.payment_methods import add_card
from billing.subscriptions import create_subscription
from billing.wallets import create_wallet, credit_wallet
from gateway.app import create_app
from gateway.settings import Settings
from gateway.tenants.api_keys import create_api_key
from tests.dates import CARD_EXP_YEAR
from tests.portal.seed import ALPEAK, BERGWERK, Seeded, draft_invoice, final_invoice, seed_tenants
from web.i18n import Translator

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[], Awaitable[Client]]
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def seeded(pool: asyncpg.Pool) -> Seeded:
    return await seed_tenants(pool)


@pytest.fixture
def make_client(
    settings: Settings, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> MakeClient:
    """Start the gateway once the test's rows exist, so the host index loads them at start."""

    async def make() -> Client:
        return await aiohttp_client(create_app(settings))

    return make


async def page(client: Client, path: str, headers: dict[str, str] = ALPEAK) -> str:
    response = await client.get(path, headers=headers)
    assert response.status == 200, await response.text()
    return await response.text()


async def csrf_token(client: Client, path: str) -> str:
    match = CSRF_INPUT.search(await page(client, path))
    assert match is not None
    return match[1]


def billing_form(**changes: str) -> dict[str, str]:
    form = {
        "name": "Ada King",
        "email": "ada.king@example.com",
        "line1": "1 Place Grenette",
        "line2": "",
        "city": "Grenoble",
        "postal_code": "38000",
        "state": "",
        "country": "FR",
        "vat_number": "FR40303265045",
        "language": "en",
    }
    form.update(changes)
    return form


# Overview


async def test_a_new_customer_sees_an_empty_state_in_every_section(
    seeded: Seeded, make_client: MakeClient
) -> None:
    client = await make_client()
    text = await page(client, f"/portal/{seeded.other_customer_id}")
    for shown in (
        "Grace Hopper",
        "You have no subscriptions.",
        "No payment method is saved.",
        "You have no wallet.",
        "You have no invoices yet.",
        "Not set",
    ):
        assert shown in text, shown


async def test_the_overview_shows_subscription_next_invoice_card_wallet_and_invoices(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    tenant_id, customer = seeded.alpeak.id, seeded.customer_id
    await create_subscription(
        pool,
        tenant_id=tenant_id,
        data={
            "customer": customer,
            "plan_name": "Team plan",
            "currency": "EUR",
            "items": [
                {"name": "Seats", "unit_amount": 1250, "quantity": 3},
                {"name": "Support", "unit_amount": 4900, "price_model": "flat"},
            ],
        },
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
    await credit_wallet(pool, tenant_id=tenant_id, wallet_id=wallet.id, amount=2500)
    paid = await final_invoice(pool, tenant_id, customer, paid=True)
    await draft_invoice(pool, tenant_id, customer)
    client = await make_client()
    text = await page(client, f"/portal/{customer}")
    for shown in (
        "Team plan",
        "Active",
        "Next billing date:",
        "€12.50 per unit",
        "€37.50",  # 3 seats
        "€86.50",  # next invoice: 3 x 12.50 + 49.00
        "Visa ending in 4242",
        f"expires 04/{CARD_EXP_YEAR + 1}",
        "€25.00",
        paid.number or "missing number",
        "Paid",
        "12 Rue des Alpes",
        "38000 Grenoble",
        "France",
        f'href="/portal/{customer}/billing"',
    ):
        assert shown in text, shown
    assert "Not yet billed" not in text
    assert "€9.99" not in text  # the draft invoice stays the tenant's


async def test_portal_pages_leak_no_referrer_and_allow_only_our_assets(
    seeded: Seeded, make_client: MakeClient
) -> None:
    client = await make_client()
    response = await client.get(f"/portal/{seeded.customer_id}", headers=ALPEAK)
    assert response.headers["Referrer-Policy"] == "no-referrer"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy
    # Browsers keep the page and revalidate it (ETag); no shared cache may store it.
    assert response.headers["Cache-Control"] == "private, no-cache"
    missing = await client.get(f"/portal/{seeded.customer_id}/invoices/in_nosuch", headers=ALPEAK)
    assert missing.status == 404
    assert missing.headers["Referrer-Policy"] == "no-referrer"


async def test_every_form_input_has_a_label(seeded: Seeded, make_client: MakeClient) -> None:
    client = await make_client()
    text = await page(client, f"/portal/{seeded.customer_id}/billing")
    ids = re.findall(r'<(?:input|select)[^>]*\sid="([^"]+)"', text)
    assert len(ids) == 10
    for found in ids:
        assert f'<label for="{found}">' in text, found
    assert 'name="viewport" content="width=device-width' in text


# Billing information


async def test_a_customer_edits_billing_information_and_sees_it_saved(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    client = await make_client()
    path = f"/portal/{seeded.customer_id}/billing"
    token = await csrf_token(client, path)
    response = await client.post(
        path,
        data={**billing_form(), "csrf_token": token},
        headers={**ALPEAK, "Origin": "http://alpeak.localhost:8080"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == f"{path}?saved=1"
    text = await page(client, response.headers["Location"])
    assert "Your billing information was saved." in text
    assert 'value="Ada King"' in text
    assert 'value="1 Place Grenette"' in text
    row = await pool.fetchrow(
        "SELECT name, email, address_line1 FROM customers WHERE id = $1", seeded.customer_id
    )
    assert row is not None
    assert tuple(row) == ("Ada King", "ada.king@example.com", "1 Place Grenette")


async def test_a_saved_change_is_announced_to_the_tenant_and_an_unchanged_save_is_not(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    client = await make_client()
    path = f"/portal/{seeded.customer_id}/billing"
    token = await csrf_token(client, path)
    for _ in range(2):  # the second save submits the same values again
        response = await client.post(
            path,
            data={**billing_form(), "csrf_token": token},
            headers=ALPEAK,
            allow_redirects=False,
        )
        assert response.status == 303
    events = await list_events(
        pool, tenant_id=seeded.alpeak.id, type="customer.billing_info.updated"
    )
    assert len(events) == 1
    assert events[0].payload == {
        "customer": seeded.customer_id,
        "name": "Ada King",
        "email": "ada.king@example.com",
        "address": {
            "line1": "1 Place Grenette",
            "line2": None,
            "city": "Grenoble",
            "postal_code": "38000",
            "state": None,
            "country": "FR",
        },
        "vat_number": "FR40303265045",
        "language": "en",
    }
    # A refused save announces nothing either.
    response = await client.post(
        path, data={**billing_form(email="nope"), "csrf_token": token}, headers=ALPEAK
    )
    assert response.status == 422
    assert len(await list_events(pool, tenant_id=seeded.alpeak.id)) == 1


async def test_wrong_fields_are_shown_beside_their_inputs_and_nothing_is_saved(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    client = await make_client()
    path = f"/portal/{seeded.customer_id}/billing"
    token = await csrf_token(client, path)
    form = billing_form(email="not-an-email", vat_number="DE123", name="Ada Changed")
    response = await client.post(path, data={**form, "csrf_token": token}, headers=ALPEAK)
    assert response.status == 422
    text = await response.text()
    assert 'id="field-email" name="email" type="email" value="not-an-email"' in text
    assert 'id="error-email"' in text
    assert 'id="error-vat_number"' in text
    assert 'value="Ada Changed"' in text  # what the customer typed is kept
    assert 'value="FR" selected' in text
    name = await pool.fetchval("SELECT name FROM customers WHERE id = $1", seeded.customer_id)
    assert name == "Ada Lovelace"


async def test_a_french_customer_reads_the_field_errors_in_french(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    client = await make_client()
    path = f"/portal/{seeded.customer_id}/billing"
    token = await csrf_token(client, path)
    form = billing_form(email="not-an-email", vat_number="DE123", city="G" * 300, language="fr")
    headers = {**ALPEAK, "Accept-Language": "fr-FR,fr;q=0.9"}
    response = await client.post(path, data={**form, "csrf_token": token}, headers=headers)
    assert response.status == 422
    text = html.unescape(await response.text())
    french = Translator("fr")
    assert french.language == "fr"
    # Chosen by each error's code: the service's own words are English.
    assert french.gettext("Enter a valid email address.") in text
    assert french.gettext("Check the VAT number: it must match the country.") in text
    assert french.gettext("This is too long.") in text
    assert "must be an e-mail address" not in text
    assert "at most" not in text
    name = await pool.fetchval("SELECT name FROM customers WHERE id = $1", seeded.customer_id)
    assert name == "Ada Lovelace"


async def test_a_tenant_that_switched_editing_off_gets_no_edit_link_and_refuses_posts(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    await pool.execute(
        "UPDATE tenants SET portal_billing_edit_enabled = false WHERE id = $1", seeded.alpeak.id
    )
    client = await make_client()
    overview = f"/portal/{seeded.customer_id}"
    text = await page(client, overview)
    assert f'href="{overview}/billing"' not in text
    response = await client.get(f"{overview}/billing", headers=ALPEAK)
    assert response.status == 403
    response = await client.post(
        f"{overview}/billing", data={**billing_form(name="Mallory")}, headers=ALPEAK
    )
    assert response.status == 403
    name = await pool.fetchval("SELECT name FROM customers WHERE id = $1", seeded.customer_id)
    assert name == "Ada Lovelace"


# CSRF


async def test_a_post_without_a_csrf_token_is_refused(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    client = await make_client()
    response = await client.post(
        f"/portal/{seeded.customer_id}/billing", data=billing_form(), headers=ALPEAK
    )
    assert response.status == 403
    assert "security token" in await response.text()
    name = await pool.fetchval("SELECT name FROM customers WHERE id = $1", seeded.customer_id)
    assert name == "Ada Lovelace"


async def test_a_csrf_token_of_another_customer_is_refused(
    seeded: Seeded, make_client: MakeClient
) -> None:
    client = await make_client()
    other_token = await csrf_token(client, f"/portal/{seeded.other_customer_id}/billing")
    response = await client.post(
        f"/portal/{seeded.customer_id}/billing",
        data={**billing_form(), "csrf_token": other_token},
        headers=ALPEAK,
    )
    assert response.status == 403


async def test_a_post_from_another_site_is_refused_even_with_a_token(
    seeded: Seeded, make_client: MakeClient
) -> None:
    client = await make_client()
    path = f"/portal/{seeded.customer_id}/billing"
    token = await csrf_token(client, path)
    response = await client.post(
        path,
        data={**billing_form(), "csrf_token": token},
        headers={**ALPEAK, "Origin": "https://evil.example"},
    )
    assert response.status == 403


# Invoices and PDFs


async def test_the_invoice_list_shows_number_date_status_and_total_but_no_drafts(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    tenant_id, customer = seeded.alpeak.id, seeded.customer_id
    open_invoice = await final_invoice(pool, tenant_id, customer, amount=1250)
    paid_invoice = await final_invoice(pool, tenant_id, customer, amount=4000, paid=True)
    await draft_invoice(pool, tenant_id, customer)
    client = await make_client()
    text = await page(client, f"/portal/{customer}/invoices")
    assert open_invoice.number
    assert paid_invoice.number
    for shown in (open_invoice.number, paid_invoice.number, "€12.50", "€40.00", "Open", "Paid"):
        assert shown in text, shown
    assert "€9.99" not in text


async def test_the_invoice_page_shows_lines_and_totals_with_a_download_link(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    invoice = await final_invoice(pool, seeded.alpeak.id, seeded.customer_id)
    client = await make_client()
    text = await page(client, f"/portal/{seeded.customer_id}/invoices/{invoice.id}")
    assert "Ski rental" in text
    assert "€12.50" in text
    assert f'href="/portal/{seeded.customer_id}/invoices/{invoice.id}/pdf"' in text


async def test_the_pdf_download_holds_the_invoice_number_and_total(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    invoice = await final_invoice(pool, seeded.alpeak.id, seeded.customer_id, amount=1250)
    client = await make_client()
    response = await client.get(
        f"/portal/{seeded.customer_id}/invoices/{invoice.id}/pdf", headers=ALPEAK
    )
    assert response.status == 200
    assert response.content_type == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"{invoice.number}.pdf" in disposition
    text = pdf_text(await response.read())
    assert invoice.number
    assert invoice.number in text
    assert "€12.50" in text
    assert "Alpeak Outdoor" in text


async def test_a_final_invoices_pdf_is_rendered_once_and_then_served_from_storage(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    invoice = await final_invoice(pool, seeded.alpeak.id, seeded.customer_id)
    client = await make_client()
    path = f"/portal/{seeded.customer_id}/invoices/{invoice.id}/pdf"
    first = await (await client.get(path, headers=ALPEAK)).read()
    stored = await pool.fetchval("SELECT pdf FROM invoices WHERE id = $1", invoice.id)
    assert stored == first
    # Replace the stored copy: a second download that rendered again would not return it.
    await pool.execute("UPDATE invoices SET pdf = $2 WHERE id = $1", invoice.id, b"%PDF-stored")
    second = await (await client.get(path, headers=ALPEAK)).read()
    assert second == b"%PDF-stored"


async def test_a_customer_reaches_only_their_own_invoices(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    graces = await final_invoice(pool, seeded.alpeak.id, seeded.other_customer_id)
    draft = await draft_invoice(pool, seeded.alpeak.id, seeded.customer_id)
    foreign = await final_invoice(pool, seeded.bergwerk.id, seeded.foreign_customer_id)
    client = await make_client()
    ada = f"/portal/{seeded.customer_id}/invoices"
    for path in (
        f"{ada}/{graces.id}",
        f"{ada}/{graces.id}/pdf",
        f"{ada}/{draft.id}",
        f"{ada}/{draft.id}/pdf",
        f"{ada}/{foreign.id}",
        f"{ada}/{foreign.id}/pdf",
        f"{ada}/in_nonsense",
    ):
        response = await client.get(path, headers=ALPEAK)
        assert response.status == 404, path
        assert "Grace" not in await response.text()


async def test_another_tenants_customer_is_not_found_on_every_portal_page(
    seeded: Seeded, make_client: MakeClient
) -> None:
    client = await make_client()
    for path in ("", "/billing", "/invoices"):
        response = await client.get(f"/portal/{seeded.foreign_customer_id}{path}", headers=ALPEAK)
        assert response.status == 404
        assert "Linus" not in await response.text()
        response = await client.get(f"/portal/{seeded.customer_id}{path}", headers=BERGWERK)
        assert response.status == 404
        assert "Ada" not in await response.text()


def pdf_text(document: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(document))
    return " ".join(item.extract_text() for item in reader.pages)


# Signed links


async def signed_mode_client(pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient) -> Any:
    await pool.execute(
        "UPDATE tenants SET portal_link_mode = 'signed' WHERE id = $1", seeded.alpeak.id
    )
    _, key = await create_api_key(pool, tenant_id=seeded.alpeak.id)
    client = await make_client()
    api = {"Host": "api.localhost:8080", "Authorization": f"Bearer {key}"}
    return client, api


async def create_link(client: Client, api: dict[str, str], customer_id: str) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/customers/{customer_id}/portal_sessions", json={}, headers=api
    )
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def open_link(client: Client, url: str) -> tuple[str, str]:
    """Follow a signed link: the cookie it sets and where it sends the browser."""
    path = url.split("localhost:8080", 1)[1]
    response = await client.get(path, headers=ALPEAK, allow_redirects=False)
    assert response.status == 303, await response.text()
    cookie = response.cookies
    (name,) = list(cookie)
    assert cookie[name]["httponly"]
    assert cookie[name]["samesite"] == "Lax"
    return f"{name}={cookie[name].value}", response.headers["Location"]


async def test_a_signed_link_opens_the_portal_and_drops_the_token_from_the_url(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    client, api = await signed_mode_client(pool, seeded, make_client)
    link = await create_link(client, api, seeded.customer_id)
    assert "?token=" in link["url"]
    cookie, location = await open_link(client, link["url"])
    assert location == f"/portal/{seeded.customer_id}"
    text = await page(client, location, headers={**ALPEAK, "Cookie": cookie})
    assert "Ada Lovelace" in text
    # The cookie opens only its own customer's portal.
    response = await client.get(
        f"/portal/{seeded.other_customer_id}", headers={**ALPEAK, "Cookie": cookie}
    )
    assert response.status == 403
    assert "Grace" not in await response.text()


async def test_a_bare_customer_url_in_signed_mode_asks_for_a_fresh_link(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    client, _ = await signed_mode_client(pool, seeded, make_client)
    response = await client.get(f"/portal/{seeded.customer_id}", headers=ALPEAK)
    assert response.status == 403
    text = await response.text()
    assert "fresh link" in text
    assert "Ada Lovelace" not in text


async def test_an_expired_signed_link_opens_nothing(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    client, api = await signed_mode_client(pool, seeded, make_client)
    link = await create_link(client, api, seeded.customer_id)
    cookie, location = await open_link(client, link["url"])
    await pool.execute("UPDATE portal_sessions SET expires_at = now() - interval '1 second'")
    response = await client.get(location, headers={**ALPEAK, "Cookie": cookie})
    assert response.status == 403
    assert "Ada Lovelace" not in await response.text()
    path = link["url"].split("localhost:8080", 1)[1]
    response = await client.get(path, headers=ALPEAK, allow_redirects=False)
    assert response.status == 403
    assert "Set-Cookie" not in response.headers


async def test_a_revoked_signed_link_opens_nothing_even_from_its_cookie(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    client, api = await signed_mode_client(pool, seeded, make_client)
    link = await create_link(client, api, seeded.customer_id)
    cookie, location = await open_link(client, link["url"])
    response = await client.delete(
        f"/api/v1/customers/{seeded.customer_id}/portal_sessions/{link['id']}", headers=api
    )
    assert response.status == 200
    assert (await response.json())["revoked_at"] is not None
    response = await client.get(location, headers={**ALPEAK, "Cookie": cookie})
    assert response.status == 403
    assert "Ada Lovelace" not in await response.text()


async def test_a_signed_link_for_another_tenants_customer_cannot_be_created(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    client, api = await signed_mode_client(pool, seeded, make_client)
    response = await client.post(
        f"/api/v1/customers/{seeded.foreign_customer_id}/portal_sessions", json={}, headers=api
    )
    assert response.status == 404


# Languages


async def test_a_french_browser_gets_the_page_in_french_with_french_amounts(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    await final_invoice(pool, seeded.alpeak.id, seeded.customer_id, amount=1250)
    client = await make_client()
    headers = {**ALPEAK, "Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
    response = await client.get(f"/portal/{seeded.customer_id}", headers=headers)
    text = (await response.text()).replace("\xa0", " ").replace("\u202f", " ")
    assert '<html lang="fr">' in text
    assert "Factures récentes" in text
    assert "12,50 €" in text
    assert response.headers["Content-Language"] == "fr"


async def test_without_a_browser_preference_the_customers_language_is_used(
    pool: asyncpg.Pool, seeded: Seeded, make_client: MakeClient
) -> None:
    await update_billing_info(
        pool,
        tenant_id=seeded.alpeak.id,
        customer_id=seeded.other_customer_id,
        changes={"language": "fr"},
    )
    client = await make_client()
    text = await page(client, f"/portal/{seeded.other_customer_id}")
    assert '<html lang="fr">' in text
    assert "Vous n’avez aucun abonnement." in text
    # Japanese is not offered: the browser's next choice, English, still beats the customer's.
    headers = {**ALPEAK, "Accept-Language": "ja-JP, en;q=0.8, fr;q=0.1"}
    text = await page(client, f"/portal/{seeded.other_customer_id}", headers=headers)
    assert '<html lang="en">' in text
    headers = {**ALPEAK, "Accept-Language": "de-DE, en;q=0.8, fr;q=0.1"}
    text = await page(client, f"/portal/{seeded.other_customer_id}", headers=headers)
    assert '<html lang="de">' in text


async def test_a_null_origin_is_accepted_only_from_the_same_site(
    seeded: Seeded, make_client: MakeClient
) -> None:
    # Pages send Referrer-Policy: no-referrer, so browsers label their own posts Origin: null
    # and add Sec-Fetch-Site: same-origin; a sandboxed frame or data: URL says cross-site.
    client = await make_client()
    page = await client.get(f"/portal/{seeded.customer_id}/billing", headers=ALPEAK)
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token is not None
    form = {"csrf_token": token[1], "name": "Renamed By Frame"}
    refused = await client.post(
        f"/portal/{seeded.customer_id}/billing",
        data=form,
        headers={**ALPEAK, "Origin": "null", "Sec-Fetch-Site": "cross-site"},
        allow_redirects=False,
    )
    assert refused.status == 403

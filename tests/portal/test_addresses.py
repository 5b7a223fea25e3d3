"""Addresses in the portal: the country menu, postal code errors, the address as printed."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Awaitable, Callable

import asyncpg
import pypdf
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from billing.customers import update_billing_info
from gateway.app import create_app
from gateway.settings import Settings
from tests.portal.seed import ALPEAK, Seeded, final_invoice, seed_tenants
from web.i18n import Translator

Client = TestClient[web.Request, web.Application]
FRENCH = {**ALPEAK, "Accept-Language": "fr-FR,fr;q=0.9"}
OPTION = re.compile(r'<option value="([A-Z]{2})"(?: selected)?>([^<]+)</option>')
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
ADDRESSES = {
    "GB": ({"line1": "1 Temple Way", "city": "Bristol", "postal_code": "BS1 4DJ"}, "en"),
    "FR": ({"line1": "1 Rue de Rivoli", "city": "Paris", "postal_code": "75001"}, "fr"),
    "US": (
        {"line1": "1 Main St", "city": "Springfield", "postal_code": "62701", "state": "IL"},
        "en",
    ),
}


@pytest.fixture
async def seeded(pool: asyncpg.Pool) -> Seeded:
    return await seed_tenants(pool)


@pytest.fixture
async def client(
    seeded: Seeded,
    settings: Settings,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> Client:
    return await aiohttp_client(create_app(settings))


async def text_of(client: Client, path: str, headers: dict[str, str] = ALPEAK) -> str:
    response = await client.get(path, headers=headers)
    assert response.status == 200, await response.text()
    return html.unescape(await response.text())


async def test_the_french_country_menu_is_in_french_alphabetical_order_without_regions(
    seeded: Seeded, client: Client
) -> None:
    text = await text_of(client, f"/portal/{seeded.customer_id}/billing", FRENCH)
    options = OPTION.findall(text)
    names = [name for _, name in options]
    assert len(options) == 249
    assert ("FR", "France") in options
    # Collation, not code point: the É names sit among the E's, not after Zimbabwe.
    assert names.index("Dominique") < names.index("Égypte") < names.index("Émirats arabes unis")
    assert names.index("Équateur") < names.index("Érythrée") < names.index("Espagne")
    assert names.index("États-Unis") < names.index("Éthiopie") < names.index("Fidji")
    assert names[-1] == "Zimbabwe"
    for region in ("Union européenne", "zone euro", "Nations Unies", "région indéterminée"):
        assert region not in text


async def test_a_wrong_postal_code_is_a_french_field_error_that_keeps_what_was_typed(
    pool: asyncpg.Pool, seeded: Seeded, client: Client
) -> None:
    path = f"/portal/{seeded.customer_id}/billing"
    match = CSRF_INPUT.search(await text_of(client, path))
    assert match is not None
    form = {
        "csrf_token": match[1],
        "name": "Ada King",
        "email": "ada.king@example.com",
        "line1": "1 Temple Way",
        "line2": "Floor 3",
        "city": "Bristol",
        "postal_code": "75001",
        "state": "",
        "country": "GB",
        "vat_number": "",
        "language": "fr",
    }
    response = await client.post(path, data=form, headers=FRENCH)
    assert response.status == 422
    text = html.unescape(await response.text())
    error = Translator("fr").gettext("This is not a postal code of the chosen country or region.")
    assert error != "This is not a postal code of the chosen country or region."
    assert '<p class="field-error" id="error-postal_code"' in text
    assert error in text
    assert 'aria-describedby="error-postal_code"' in text
    for typed in ("Ada King", "ada.king@example.com", "1 Temple Way", "Floor 3", "Bristol"):
        assert f'value="{typed}"' in text
    assert 'value="75001"' in text
    assert '<option value="GB" selected>' in text
    row = await pool.fetchrow(
        "SELECT name, postal_code, country FROM customers WHERE id = $1", seeded.customer_id
    )
    assert row is not None
    assert tuple(row) == ("Ada Lovelace", "38000", "FR")


def pdf_lines(document: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(document))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.mark.parametrize(
    ("country", "page_lines", "pdf_order"),
    [
        ("GB", "1 Temple Way<br>Bristol<br>BS1 4DJ<br>United Kingdom", r"Bristol\s+BS1 4DJ"),
        ("FR", "1 Rue de Rivoli<br>75001 Paris<br>France", r"75001 Paris\s+France"),
        ("US", "1 Main St<br>Springfield, IL 62701<br>United States", r"Springfield, IL 62701"),
    ],
)
async def test_the_address_is_written_as_its_country_writes_it_on_the_page_and_the_pdf(
    pool: asyncpg.Pool,
    seeded: Seeded,
    client: Client,
    country: str,
    page_lines: str,
    pdf_order: str,
) -> None:
    address, language = ADDRESSES[country]
    await update_billing_info(
        pool,
        tenant_id=seeded.alpeak.id,
        customer_id=seeded.customer_id,
        changes={"address": {**address, "country": country}, "vat_number": None},
    )
    headers = {**ALPEAK, "Accept-Language": language}
    overview = await text_of(client, f"/portal/{seeded.customer_id}", headers)
    assert page_lines in overview
    invoice = await final_invoice(pool, seeded.alpeak.id, seeded.customer_id)
    response = await client.get(
        f"/portal/{seeded.customer_id}/invoices/{invoice.id}/pdf", headers=headers
    )
    assert response.status == 200
    text = pdf_lines(await response.read())
    assert re.search(pdf_order, text), text
    assert "BS1 4DJ Bristol" not in text

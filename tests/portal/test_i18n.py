"""Every portal text goes through the catalogue; French and German pages and PDFs stay so."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from billing.customers import create_customer, get_customer
from billing.payment_methods import add_card
from billing.wallets import create_wallet
from gateway.app import create_app
from gateway.settings import Settings
from gateway.tenants.registry import set_stripe_keys, update_settings
from kernel.sealing import Sealer
from tests.billing.test_pdf import pdf_text
from tests.dates import CARD_EXP_YEAR
from tests.portal.seed import ALPEAK, Seeded, final_invoice, seed_tenants
from web.catalogues import offered_languages

Client = TestClient[web.Request, web.Application]
PORTAL = Path(__file__).parents[2] / "portal"
TEMPLATES = sorted((PORTAL / "templates" / "portal").glob("*.html"))
FRENCH = {**ALPEAK, "Accept-Language": "fr-FR,fr;q=0.9"}
GERMAN = {**ALPEAK, "Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
JINJA = re.compile(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", re.DOTALL)
TAG = re.compile(r"<[^>]*>", re.DOTALL)
# Attributes a person reads or hears.
READ_ATTRIBUTES = re.compile(r'\s(?:aria-label|title|placeholder|alt)="([^"]*)"')


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.name)
def test_no_template_holds_text_outside_the_translation_layer(path: Path) -> None:
    source = re.sub(r"<script\b.*?</script>", "", path.read_text(), flags=re.DOTALL)
    without_jinja = JINJA.sub("", source)
    for value in READ_ATTRIBUTES.findall(without_jinja):
        assert not re.search(r"[A-Za-z]", value), f"{path.name}: attribute text {value!r}"
    text = TAG.sub(" ", without_jinja)
    words = re.findall(r"[A-Za-zÀ-ÿ]{2,}", text)
    assert words == [], f"{path.name}: text outside t(): {words}"


@pytest.fixture
async def french_shop(
    pool: asyncpg.Pool,
    settings: Settings,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> tuple[Client, Seeded, str]:
    """Ada at Alpeak with a card, a wallet and top-ups on; Stripe keys set, never called."""
    seeded = await seed_tenants(pool)
    await update_settings(pool, tenant_id=seeded.alpeak.id, changes={"wallet.topups_enabled": True})
    assert settings.kek is not None
    await set_stripe_keys(
        pool,
        Sealer(settings.kek),
        tenant_id=seeded.alpeak.id,
        secret_key="sk_test_neverused0",
        publishable_key="pk_test_neverused0",
    )
    wallet = await create_wallet(
        pool, tenant_id=seeded.alpeak.id, customer_id=seeded.customer_id, currency="EUR"
    )
    client = await aiohttp_client(create_app(settings, domain_worker=False))
    return client, seeded, wallet.id


ENGLISH_ONLY = (
    "Remove",
    "Add a card",
    "Buy credits",
    "Save card",
    "Back to",
    "Amount (",
    "default card",
    "Balance",
    "Card details",
    "Something went wrong",
    "Your bank asks",
    "the largest top-up",
    "add a card before",
)


def assert_french(text: str) -> None:
    assert '<html lang="fr">' in text
    for english in ENGLISH_ONLY:
        assert english not in text, english


async def test_the_card_wallet_and_top_up_pages_are_french_for_a_french_browser(
    pool: asyncpg.Pool, french_shop: tuple[Client, Seeded, str]
) -> None:
    client, seeded, wallet_id = french_shop
    await add_card(
        pool,
        tenant_id=seeded.alpeak.id,
        customer_id=seeded.customer_id,
        brand="visa",
        last4="4242",
        exp_month=4,
        exp_year=CARD_EXP_YEAR + 1,
    )
    portal = f"/portal/{seeded.customer_id}"
    pages: dict[str, Any] = {}
    for path in ("", "/payment_methods/new", f"/wallets/{wallet_id}/topup"):
        response = await client.get(portal + path, headers=FRENCH)
        assert response.status == 200, path
        pages[path] = await response.text()
        assert_french(pages[path])
    assert 'aria-label="Supprimer Visa se terminant par 4242"' in pages[""]
    assert f'href="{portal}/wallets/{wallet_id}/topup">Acheter des crédits</a>' in pages[""]
    assert "Enregistrer la carte" in pages["/payment_methods/new"]
    topup = pages[f"/wallets/{wallet_id}/topup"].replace("\xa0", " ")
    assert "Montant (EUR), de 5,00 € à 100,00 €" in topup
    assert "Visa se terminant par 4242, votre carte par défaut, est débitée immédiatement." in topup


async def test_a_refused_top_up_amount_is_explained_in_french_beside_the_field(
    french_shop: tuple[Client, Seeded, str],
) -> None:
    client, seeded, wallet_id = french_shop
    path = f"/portal/{seeded.customer_id}/wallets/{wallet_id}/topup"
    page = await (await client.get(path, headers=FRENCH)).text()
    fields = dict(re.findall(r'name="(csrf_token|nonce)" value="([^"]+)"', page))
    for amount, expected in (("12,345", "au plus 2 décimales"), ("abc", "par exemple 25")):
        response = await client.post(path, data={**fields, "amount": amount}, headers=FRENCH)
        assert response.status == 422
        text = await response.text()
        assert_french(text)
        assert 'id="error-amount"' in text
        assert expected in text
        assert f'value="{amount}"' in text  # what the customer typed is kept
    # No card saved yet: said in French, nothing charged.
    response = await client.post(path, data={**fields, "amount": "20"}, headers=FRENCH)
    assert response.status == 422
    text = await response.text()
    assert_french(text)
    assert "ajoutez une carte avant d’acheter des crédits" in text


@pytest.fixture
async def german_customer(
    pool: asyncpg.Pool,
    settings: Settings,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> tuple[Client, Seeded, str, str]:
    """Karl at Alpeak, who reads German, with one open invoice of 12.50 EUR."""
    seeded = await seed_tenants(pool)
    karl = await create_customer(
        pool,
        tenant_id=seeded.alpeak.id,
        default_currency=seeded.alpeak.default_currency,
        data={
            "name": "Karl Weber",
            "email": "karl@example.com",
            "language": "de",
            "currency": "EUR",
            "address": {
                "line1": "Hauptstraße 1",
                "city": "Berlin",
                "postal_code": "10115",
                "country": "DE",
            },
        },
    )
    invoice = await final_invoice(pool, seeded.alpeak.id, karl.id, amount=1250)
    client = await aiohttp_client(create_app(settings, domain_worker=False))
    return client, seeded, f"/portal/{karl.id}", invoice.id


def readable(text: str) -> str:
    return text.replace("\xa0", " ").replace("\u202f", " ")


async def test_a_german_customer_sees_a_german_overview_and_a_german_invoice_pdf(
    german_customer: tuple[Client, Seeded, str, str],
) -> None:
    client, _, portal, invoice_id = german_customer
    response = await client.get(portal, headers=GERMAN)
    assert response.status == 200
    assert response.headers["Content-Language"] == "de"
    page = readable(await response.text())
    assert '<html lang="de">' in page
    for german in (
        "Abrechnung für Karl Weber",
        "Abonnements",
        "Zahlungsmethoden",
        "Rechnungsangaben",
        "Letzte Rechnungen",
        "Offen",
        "Zum Inhalt springen",
        "12,50 €",
    ):
        assert german in page, german
    for english in (
        "Subscriptions",
        "Payment methods",
        "Billing information",
        "Recent invoices",
        "Skip to content",
    ):
        assert english not in page, english

    response = await client.get(f"{portal}/invoices/{invoice_id}/pdf", headers=GERMAN)
    assert response.status == 200
    document = readable(pdf_text(await response.read()))
    for german in ("Rechnung", "Rechnungsdatum", "Rechnungsempfänger", "Einzelpreis", "12,50 €"):
        assert german in document, german
    for english in ("Invoice", "Date of issue", "Billed to", "Unit price", "€12.50"):
        assert english not in document, english


async def test_the_language_menu_offers_the_complete_languages_in_their_own_words(
    pool: asyncpg.Pool, german_customer: tuple[Client, Seeded, str, str]
) -> None:
    client, seeded, portal, _ = german_customer
    page = await (await client.get(f"{portal}/billing", headers=GERMAN)).text()
    menu = page.split('name="language"', 1)[1].split("</select>", 1)[0]
    options = re.findall(r'<option value="([a-z]+)"[^>]*>([^<]+)</option>', menu)
    assert [code for code, _ in options] == list(offered_languages())
    assert ("de", "Deutsch") in options
    assert ("pl", "Polski") in options
    assert "selected>Deutsch" in menu
    # Choosing one of them is saved as the customer's language.
    token = re.findall(r'name="csrf_token" value="([^"]+)"', page)[0]
    form = dict(re.findall(r'<input[^>]*name="([a-z_0-9]+)"[^>]*value="([^"]*)"', page))
    form.update({"csrf_token": token, "language": "pl", "country": "DE"})
    response = await client.post(
        f"{portal}/billing", data=form, headers=GERMAN, allow_redirects=False
    )
    assert response.status == 303
    customer = await get_customer(
        pool, tenant_id=seeded.alpeak.id, customer_id=portal.rsplit("/", 1)[1]
    )
    assert customer.language == "pl"

"""Issued invoices: rendered from their snapshot, with EU content, in the customer's language."""

from __future__ import annotations

import io
import re
from typing import Any

import pypdf

from billing.customers import create_customer, update_billing_info
from billing.invoices import Invoice, create_invoice, finalize_invoice, get_invoice
from billing.pdf import invoice_pdf
from gateway.tenants.icons import set_icon
from gateway.tenants.models import Tenant
from gateway.tenants.registry import update_settings
from tests.billing.test_pdf import png
from web.i18n import translator

SELLER = {
    "legal.name": "Alpeak SAS",
    "legal.address_line1": "1 rue des Cimes",
    "legal.postal_code": "74400",
    "legal.city": "Chamonix",
    "legal.country": "FR",
    "legal.vat_number": "FR12345678901",
    "legal.registration_number": "RCS Annecy 123 456 789",
}


def pdf_text(document: bytes) -> str:
    pages = pypdf.PdfReader(io.BytesIO(document)).pages
    # One space for any run of white space: a long value may wrap in its column.
    return " ".join(" ".join(page.extract_text() for page in pages).split())


async def issued(
    pool: Any, tenant: Tenant, customer_id: str, lines: list[dict[str, Any]] | None = None
) -> Invoice:
    draft = await create_invoice(
        pool,
        tenant_id=tenant.id,
        data={
            "customer": customer_id,
            "currency": "EUR",
            "lines": lines or [{"description": "Ski pass", "unit_amount": 5000}],
        },
    )
    return await finalize_invoice(pool, tenant_id=tenant.id, invoice_id=draft.id)


async def download(pool: Any, tenant: Tenant, invoice: Invoice) -> bytes:
    return await invoice_pdf(
        pool,
        tenant_id=tenant.id,
        invoice=invoice,
        customer_id=invoice.customer_id,
        catalogue=translator,
    )


async def customer_in(pool: Any, tenant: Tenant, **data: Any) -> str:
    customer = await create_customer(
        pool, tenant_id=tenant.id, default_currency="EUR", data={"name": "Ada Lovelace", **data}
    )
    return customer.id


async def test_an_issued_pdf_keeps_its_bytes_after_customer_and_tenant_change(
    pool: Any, tenant: Tenant
) -> None:
    await update_settings(pool, tenant_id=tenant.id, changes=SELLER)
    await set_icon(pool, tenant_id=tenant.id, data=png("red"), max_bytes=100_000)
    paris = {"line1": "5 rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "FR"}
    customer_id = await customer_in(pool, tenant, address=paris)
    invoice = await issued(pool, tenant, customer_id)
    first = await download(pool, tenant, invoice)

    await update_billing_info(
        pool,
        tenant_id=tenant.id,
        customer_id=customer_id,
        changes={
            "address": {"line1": "2 quai Saint-Antoine", "city": "Lyon", "postal_code": "69002"}
        },
    )
    await update_settings(
        pool,
        tenant_id=tenant.id,
        changes={
            "name": "Alpeak Renamed",
            "brand_color": "#0000aa",
            "legal.address_line1": "9 avenue Neuve",
            "legal.city": "Annecy",
        },
    )
    await set_icon(pool, tenant_id=tenant.id, data=png("blue"), max_bytes=100_000)
    # Lose the stored copy, as a fresh database restore or a cache purge would.
    await pool.execute("UPDATE invoices SET pdf = NULL WHERE id = $1", invoice.id)
    again = await download(
        pool, tenant, await get_invoice(pool, tenant_id=tenant.id, invoice_id=invoice.id)
    )

    assert again == first
    text = pdf_text(again)
    assert "5 rue de Rivoli" in text
    assert "Lyon" not in text
    assert "1 rue des Cimes" in text
    assert "Annecy" in text  # the registration number, not the new address
    assert "9 avenue Neuve" not in text
    assert "FR12345678901" in text
    assert "RCS Annecy 123 456 789" in text


async def test_two_invoices_finalised_at_different_addresses_show_each_its_own(
    pool: Any, tenant: Tenant
) -> None:
    customer_id = await customer_in(pool, tenant, address={"city": "Paris", "country": "FR"})
    in_paris = await issued(pool, tenant, customer_id)
    await update_billing_info(
        pool, tenant_id=tenant.id, customer_id=customer_id, changes={"address": {"city": "Lyon"}}
    )
    in_lyon = await issued(pool, tenant, customer_id)
    paris_text = pdf_text(await download(pool, tenant, in_paris))
    lyon_text = pdf_text(await download(pool, tenant, in_lyon))
    assert "Paris" in paris_text
    assert "Lyon" not in paris_text
    assert "Lyon" in lyon_text
    assert "Paris" not in lyon_text


async def test_reverse_charge_only_for_an_eu_business_in_another_member_state(
    pool: Any, tenant: Tenant
) -> None:
    await update_settings(pool, tenant_id=tenant.id, changes=SELLER)
    german_business = await customer_in(
        pool, tenant, address={"country": "DE"}, vat_number="DE123456789"
    )
    german_consumer = await customer_in(pool, tenant, address={"country": "DE"})
    french_business = await customer_in(
        pool, tenant, address={"country": "FR"}, vat_number="FR98765432109"
    )
    wording = "Reverse charge"
    business_text = pdf_text(
        await download(pool, tenant, await issued(pool, tenant, german_business))
    )
    assert wording in business_text
    assert "DE123456789" in business_text
    assert "FR12345678901" in business_text
    for customer_id in (german_consumer, french_business):
        text = pdf_text(await download(pool, tenant, await issued(pool, tenant, customer_id)))
        assert wording not in text


async def test_the_tax_summary_lists_net_and_tax_per_rate(pool: Any, tenant: Tenant) -> None:
    customer_id = await customer_in(pool, tenant)
    invoice = await issued(
        pool,
        tenant,
        customer_id,
        lines=[
            {"description": "Ski pass", "unit_amount": 10000, "tax_rate_bps": 2000},
            {"description": "Guide book", "unit_amount": 2000, "tax_rate_bps": 550},
            {"description": "Lesson", "unit_amount": 5000, "tax_rate_bps": 2000},
        ],
    )
    text = pdf_text(await download(pool, tenant, invoice))
    summary = text[text.index("Tax summary") :]
    assert re.search(r"5\.5%\s*€20\.00\s*€1\.10", summary), summary
    assert re.search(r"20%\s*€150\.00\s*€30\.00", summary), summary


# "Description" and "Total" are French too, so they are not in the list.
ENGLISH_LABELS = (
    "Invoice number",
    "Date of issue",
    "Due date",
    "Billed to",
    "Issued by",
    "Unit price",
    "Amount",
    "Subtotal",
    "Tax summary",
    "Reverse charge",
    "Date of supply",
    "VAT number",
    "Registration number",
    "Wallet credits",
    "free trial",
)


async def test_french_and_german_pdfs_carry_no_english_label(pool: Any, tenant: Tenant) -> None:
    await update_settings(pool, tenant_id=tenant.id, changes=SELLER)
    for language, word in (("fr", "Facture"), ("de", "Rechnung")):
        customer_id = await customer_in(
            pool, tenant, language=language, address={"country": "DE"}, vat_number="DE123456789"
        )
        invoice = await issued(pool, tenant, customer_id)
        # A top-up's line, written by the product, said in the customer's language.
        await pool.execute(
            "UPDATE invoice_lines SET phrase = $2 WHERE invoice_id = $1",
            invoice.id,
            {"message": "Wallet credits: %(wallet)s", "values": {"wallet": "Crédits"}},
        )
        invoice = await get_invoice(pool, tenant_id=tenant.id, invoice_id=invoice.id)
        text = pdf_text(await download(pool, tenant, invoice))
        assert word in text
        assert [label for label in ENGLISH_LABELS if label in text] == []

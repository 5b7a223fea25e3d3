"""Invoice PDFs: the number, lines and total in the tenant's brand, with nothing fetched."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pypdf
import pytest
from PIL import Image

from billing.customers import create_customer, get_customer
from billing.errors import Conflict
from billing.invoices import create_invoice, finalize_invoice
from billing.pdf import Seller, invoice_html, invoice_pdf, render_pdf
from gateway.tenants.models import Tenant


def png(color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buffer, format="PNG")
    return buffer.getvalue()


def pdf_text(document: bytes) -> str:
    return " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(document)).pages)


def image_count(document: bytes) -> int:
    return sum(len(page.images) for page in pypdf.PdfReader(io.BytesIO(document)).pages)


@pytest.fixture
async def invoice_and_customer(pool: Any, tenant: Tenant) -> Any:
    customer = await create_customer(
        pool,
        tenant_id=tenant.id,
        data={"name": "Ada Lovelace", "language": "fr", "address": {"country": "FR"}},
    )
    draft = await create_invoice(
        pool,
        tenant_id=tenant.id,
        data={
            "customer": customer.id,
            "currency": "EUR",
            "lines": [
                {"description": "Location de skis", "quantity": 2, "unit_amount": 1000},
                {"description": "Casque", "quantity": 1, "unit_amount": 250},
            ],
        },
    )
    invoice = await finalize_invoice(pool, tenant_id=tenant.id, invoice_id=draft.id)
    return invoice, customer


async def test_the_pdf_shows_number_lines_and_total_in_the_customers_language(
    pool: Any, tenant: Tenant, invoice_and_customer: Any
) -> None:
    invoice, customer = invoice_and_customer
    document = await invoice_pdf(pool, tenant_id=tenant.id, invoice=invoice, customer=customer)
    assert document.startswith(b"%PDF")
    text = pdf_text(document).replace("\xa0", " ").replace("\u202f", " ")
    assert invoice.number in text
    assert "Facture" in text
    assert "Location de skis" in text
    assert "22,50 €" in text
    assert "Ada Lovelace" in text


async def test_a_draft_has_no_pdf(pool: Any, tenant: Tenant) -> None:
    customer = await create_customer(pool, tenant_id=tenant.id, data={"name": "Grace"})
    draft = await create_invoice(
        pool,
        tenant_id=tenant.id,
        data={"customer": customer.id, "lines": [{"description": "x", "unit_amount": 1}]},
    )
    with pytest.raises(Conflict):
        await invoice_pdf(pool, tenant_id=tenant.id, invoice=draft, customer=customer)


async def test_the_brand_icon_is_embedded_and_the_colour_used(
    pool: Any, tenant: Tenant, invoice_and_customer: Any
) -> None:
    invoice, customer = invoice_and_customer
    customer = await get_customer(pool, tenant_id=tenant.id, customer_id=customer.id)
    seller = Seller(name="Alpeak", brand_color="#aa0000", icon=png("red"), icon_type="image/png")
    html = invoice_html(invoice=invoice, customer=customer, seller=seller, language="en")
    assert "data:image/png;base64," in html
    assert "#aa0000" in html
    assert image_count(render_pdf(html)) == 1


def test_rendering_fetches_nothing_but_data_urls(tmp_path: Path) -> None:
    local = tmp_path / "secret.png"
    local.write_bytes(png("blue"))
    html = (
        f'<p>Hello</p><img src="{local.as_uri()}">'
        '<img src="http://127.0.0.1:9/tracker.png">'
        '<link rel="stylesheet" href="http://127.0.0.1:9/style.css">'
    )
    document = render_pdf(html)
    assert "Hello" in pdf_text(document)
    assert image_count(document) == 0

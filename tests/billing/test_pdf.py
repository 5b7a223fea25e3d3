"""Invoice PDFs: the number, lines and total in the tenant's brand, with nothing fetched."""

from __future__ import annotations

import io
import resource
import time
from pathlib import Path
from typing import Any

import pypdf
import pytest
from PIL import Image

from billing.customers import create_customer
from billing.errors import Conflict
from billing.invoices import create_invoice, finalize_invoice
from billing.pdf import PdfRenderer, invoice_html, invoice_pdf, pdf_rendering, render_pdf
from gateway.tenants.icons import set_icon, tenant_icon
from gateway.tenants.models import Tenant
from gateway.tenants.registry import update_settings
from web.i18n import translator


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
        default_currency=tenant.default_currency,
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
    document = await invoice_pdf(
        pool,
        tenant_id=tenant.id,
        invoice=invoice,
        customer_id=customer.id,
        catalogue=translator,
    )
    assert document.startswith(b"%PDF")
    text = pdf_text(document).replace("\xa0", " ").replace("\u202f", " ")
    assert invoice.number in text
    assert "Facture" in text
    assert "Location de skis" in text
    assert "22,50 €" in text
    assert "Ada Lovelace" in text


async def test_a_draft_has_no_pdf(pool: Any, tenant: Tenant) -> None:
    customer = await create_customer(
        pool, tenant_id=tenant.id, default_currency=tenant.default_currency, data={"name": "Grace"}
    )
    draft = await create_invoice(
        pool,
        tenant_id=tenant.id,
        data={"customer": customer.id, "lines": [{"description": "x", "unit_amount": 1}]},
    )
    with pytest.raises(Conflict):
        await invoice_pdf(pool, tenant_id=tenant.id, invoice=draft, customer_id=customer.id)


async def test_the_brand_icon_is_embedded_and_the_colour_used(pool: Any, tenant: Tenant) -> None:
    await set_icon(pool, tenant_id=tenant.id, data=png("red"), max_bytes=100_000)
    await update_settings(pool, tenant_id=tenant.id, changes={"brand_color": "#aa0000"})
    customer = await create_customer(
        pool, tenant_id=tenant.id, default_currency="EUR", data={"name": "Ada"}
    )
    draft = await create_invoice(
        pool,
        tenant_id=tenant.id,
        data={"customer": customer.id, "lines": [{"description": "Skis", "unit_amount": 100}]},
    )
    invoice = await finalize_invoice(pool, tenant_id=tenant.id, invoice_id=draft.id)
    icon = await tenant_icon(pool, tenant_id=tenant.id)
    html = invoice_html(invoice=invoice, icon=icon.data if icon else None)
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


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def test_rendering_leaves_the_gateways_own_process_free_for_requests() -> None:
    renderer = PdfRenderer(processes=1)
    html = "<h1>Invoice</h1>" + "<p>Ski rental, one day</p>" * 400
    own_before, children_before = time.process_time(), children_cpu_seconds()
    try:
        document = await renderer.render(html)
    finally:
        await renderer.close()
    # A stopped render process's CPU time is counted once it has been waited for.
    own = time.process_time() - own_before
    children = children_cpu_seconds() - children_before
    assert document.startswith(b"%PDF")
    assert "Ski rental" in pdf_text(document)
    assert children > own


async def test_the_render_processes_start_again_after_the_app_stopped_them() -> None:
    renderer = PdfRenderer(processes=1)
    assert (await renderer.render("<p>before</p>")).startswith(b"%PDF")
    await renderer.close()
    try:
        assert "after" in pdf_text(await renderer.render("<p>after</p>"))
    finally:
        await renderer.close()


async def test_the_cleanup_context_stops_the_shared_renderer(
    pool: Any, tenant: Tenant, invoice_and_customer: Any
) -> None:
    invoice, customer = invoice_and_customer
    context = pdf_rendering(object())
    await anext(context)
    document = await invoice_pdf(
        pool,
        tenant_id=tenant.id,
        invoice=invoice,
        customer_id=customer.id,
        catalogue=translator,
    )
    with pytest.raises(StopAsyncIteration):
        await anext(context)
    assert document.startswith(b"%PDF")
    # The stored copy needs no render process.
    again = await invoice_pdf(
        pool,
        tenant_id=tenant.id,
        invoice=invoice,
        customer_id=customer.id,
        catalogue=translator,
    )
    assert again == document

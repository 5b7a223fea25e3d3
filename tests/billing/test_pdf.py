"""Invoice PDFs: the number, lines and total in the tenant's brand, with nothing fetched."""

from __future__ import annotations

import io
import itertools
import os
import resource
import time
from pathlib import Path
from typing import Any

import pypdf
import pytest
from pdfminer.high_level import extract_pages
from pdfminer.layout import LTChar, LTContainer
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


def child_pids() -> list[int]:
    """This process's children, from /proc (Linux, where the gateway runs)."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            if int(stat.rpartition(")")[2].split()[1]) == me:
                found.append(int(entry.name))
    return found


async def test_render_processes_take_only_the_cpu_that_requests_leave() -> None:
    renderer = PdfRenderer(processes=1)
    before = set(child_pids())
    try:
        assert (await renderer.render("<p>idle</p>")).startswith(b"%PDF")
        (render_process,) = set(child_pids()) - before
        # SCHED_IDLE: a page request's process preempts a render at once, so 20
        # renders add no scheduler slices to the pages' latency (bench/notes.md).
        assert os.sched_getscheduler(render_process) == os.SCHED_IDLE
    finally:
        await renderer.close()


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


# Column alignment ---------------------------------------------------------------------------

# Words of one table row share a baseline; a right edge within this many points is aligned.
ALIGNED_WITHIN_PT = 1.5


def pdf_rows(document: bytes) -> list[list[tuple[str, float]]]:
    """Each text row of the first page: its visible characters with their right edges (pt)."""
    rows: dict[float, list[tuple[float, str, float]]] = {}

    def collect(item: Any) -> None:
        if isinstance(item, LTChar):
            if item.get_text().strip():
                rows.setdefault(round(item.y0, 1), []).append((item.x0, item.get_text(), item.x1))
        elif isinstance(item, LTContainer):
            for child in item:
                collect(child)

    collect(next(extract_pages(io.BytesIO(document))))
    return [
        [(text, right) for _, text, right in sorted(row)]
        for _, row in sorted(rows.items(), reverse=True)
    ]


def right_edges(row: list[tuple[str, float]], word: str) -> list[float]:
    """The right edge of each place `word` (spaces ignored) is written in `row`, left to right."""
    text = "".join(character for character, _ in row)
    target = "".join(word.split())
    found = []
    start = text.find(target)
    while start >= 0:
        found.append(row[start + len(target) - 1][1])
        start = text.find(target, start + len(target))
    return found


def row_with(rows: list[list[tuple[str, float]]], *words: str) -> list[tuple[str, float]]:
    for row in rows:
        if all(right_edges(row, word) for word in words):
            return row
    raise AssertionError(f"no row with {words}: {[''.join(c for c, _ in r) for r in rows]}")


@pytest.mark.parametrize(
    ("language", "headers", "lines"),
    [
        (
            "en",
            ("Qty", "Unit price", "Tax", "Amount"),
            (
                ("Ski rental", "6", "€12.34", "20%", "€74.04"),
                ("Helmet", "1", "€2.50", "5.5%", "€2.50"),
            ),
        ),
        (
            "fr",
            ("Qté", "Prix unitaire", "TVA", "Montant"),
            (
                ("Ski rental", "6", "12,34 €", "20 %", "74,04 €"),
                ("Helmet", "1", "2,50 €", "5,5 %", "2,50 €"),
            ),
        ),
    ],
)
async def test_each_amount_in_the_pdf_ends_under_the_right_edge_of_its_column_header(
    pool: Any,
    tenant: Tenant,
    language: str,
    headers: tuple[str, ...],
    lines: tuple[tuple[str, ...], ...],
) -> None:
    customer = await create_customer(
        pool,
        tenant_id=tenant.id,
        default_currency="EUR",
        data={"name": "Ada Lovelace", "language": language, "address": {"country": "FR"}},
    )
    draft = await create_invoice(
        pool,
        tenant_id=tenant.id,
        data={
            "customer": customer.id,
            "currency": "EUR",
            "lines": [
                {
                    "description": "Ski rental",
                    "quantity": 6,
                    "unit_amount": 1234,
                    "tax_rate_bps": 2000,
                },
                {"description": "Helmet", "quantity": 1, "unit_amount": 250, "tax_rate_bps": 550},
            ],
        },
    )
    invoice = await finalize_invoice(pool, tenant_id=tenant.id, invoice_id=draft.id)
    document = await invoice_pdf(
        pool, tenant_id=tenant.id, invoice=invoice, customer_id=customer.id, catalogue=translator
    )
    rows = pdf_rows(document)
    header_row = row_with(rows, *headers)
    header_edges = [right_edges(header_row, header)[-1] for header in headers]
    for description, *values in lines:
        row = row_with(rows, description, *values)
        value_edges = []
        for header_edge, value in zip(header_edges, values, strict=True):
            # Of the places the value is written, the one nearest its column.
            value_edges.append(min(right_edges(row, value), key=lambda x: abs(x - header_edge)))
        misaligned = [
            (header, value, round(value_edge - header_edge, 2))
            for header, value, header_edge, value_edge in zip(
                headers, values, header_edges, value_edges, strict=True
            )
            if abs(value_edge - header_edge) > ALIGNED_WITHIN_PT
        ]
        assert misaligned == [], f"{description}: {misaligned}"
    # The columns are distinct: four right edges, left to right.
    assert header_edges == sorted(header_edges)
    assert min(b - a for a, b in itertools.pairwise(header_edges)) > 20

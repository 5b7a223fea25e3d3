"""Invoice PDFs: an HTML invoice in the tenant's brand, rendered by WeasyPrint in another process.

A final invoice (open, paid, void, uncollectible) never changes its content, so
its PDF is rendered once and kept in `invoices.pdf`. The document shows only
what finalisation fixed (number, dates, lines, totals), never the payment
status, so the cached copy stays true after the invoice is paid or voided.
Rendering fetches nothing: the icon travels inside the HTML as a data: URI and
every other URL is refused.

Rendering is pure-Python CPU work: in a thread it would hold the GIL the event
loop needs (bench/notes.md: the portal's p99 grew 6x while 20 PDFs rendered).
`PdfRenderer` runs it in a small pool of processes started on the first render
and shut down by `pdf_rendering`, the cleanup context the app installs.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import multiprocessing
import os
import threading
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import jinja2

from billing.addresses import address_lines
from billing.customers import Customer, postal_address
from billing.errors import Conflict, NotFound
from billing.formatting import format_day, format_money, format_rate
from billing.invoices import Invoice
from kernel.colors import contrast_color
from kernel.db import Db

logger = logging.getLogger(__name__)

FINAL_STATUSES = frozenset({"open", "paid", "void", "uncollectible"})
# Render processes per gateway process; more renders wait in line for one of them.
RENDER_PROCESSES = 1
# A render is background work next to page requests: on a busy machine the scheduler
# gives the event loop's process the CPU first (nice 10 weighs about a tenth of nice 0).
RENDER_NICENESS = 10

_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!doctype html>
<html lang="{{ language }}">
<head>
<meta charset="utf-8">
<title>{{ labels.invoice }} {{ number }}</title>
<style>
  @page { size: A4; margin: 18mm 16mm; }
  body { font-family: sans-serif; font-size: 10pt; color: #111827; }
  header { display: flex; align-items: center; gap: 10pt; padding: 10pt 12pt;
           background: {{ brand_color }}; color: {{ brand_contrast }}; }
  header img { width: 28pt; height: 28pt; }
  header .seller { font-size: 14pt; font-weight: bold; }
  h1 { font-size: 16pt; margin: 16pt 0 8pt; }
  .meta { width: 100%; margin-bottom: 14pt; }
  .meta td { vertical-align: top; padding: 0 12pt 0 0; }
  .label { color: #4b5563; }
  table.lines { width: 100%; border-collapse: collapse; }
  table.lines th { text-align: left; border-bottom: 1.5pt solid {{ brand_color }};
                   padding: 4pt 4pt 4pt 0; }
  table.lines td { border-bottom: 0.5pt solid #d1d5db; padding: 4pt 4pt 4pt 0; }
  .number { text-align: right; white-space: nowrap; }
  table.totals { margin-left: auto; margin-top: 10pt; }
  table.totals td { padding: 2pt 0 2pt 16pt; }
  table.totals tr.total td { font-weight: bold; border-top: 1.5pt solid {{ brand_color }}; }
  .memo { margin-top: 16pt; }
</style>
</head>
<body>
<header>
  {% if icon_uri %}<img src="{{ icon_uri }}" alt="">{% endif %}
  <span class="seller">{{ seller }}</span>
</header>
<h1>{{ labels.invoice }} {{ number }}</h1>
<table class="meta">
  <tr>
    <td>
      <div class="label">{{ labels.number }}</div><div>{{ number }}</div>
      <div class="label">{{ labels.issued }}</div><div>{{ issued }}</div>
      {% if due %}<div class="label">{{ labels.due }}</div><div>{{ due }}</div>{% endif %}
    </td>
    <td>
      <div class="label">{{ labels.billed_to }}</div>
      {% for line in billed_to %}<div>{{ line }}</div>{% endfor %}
      {% if vat_number %}<div>{{ labels.vat_number }}: {{ vat_number }}</div>{% endif %}
    </td>
  </tr>
</table>
<table class="lines">
  <thead><tr>
    <th>{{ labels.description }}</th><th class="number">{{ labels.quantity }}</th>
    <th class="number">{{ labels.unit_price }}</th><th class="number">{{ labels.tax_rate }}</th>
    <th class="number">{{ labels.amount }}</th>
  </tr></thead>
  <tbody>
  {% for line in lines %}
    <tr>
      <td>{{ line.description }}{% if line.period %}<br>
        <span class="label">{{ labels.period }}: {{ line.period }}</span>{% endif %}</td>
      <td class="number">{{ line.quantity }}</td>
      <td class="number">{{ line.unit_price }}</td>
      <td class="number">{{ line.tax_rate }}</td>
      <td class="number">{{ line.amount }}</td>
    </tr>
  {% endfor %}
  </tbody>
</table>
<table class="totals">
  <tr><td>{{ labels.subtotal }}</td><td class="number">{{ subtotal }}</td></tr>
  <tr><td>{{ labels.tax }}</td><td class="number">{{ tax }}</td></tr>
  <tr class="total"><td>{{ labels.total }}</td><td class="number">{{ total }}</td></tr>
</table>
{% if memo %}<p class="memo">{{ memo }}</p>{% endif %}
</body>
</html>
"""
)


@dataclass(frozen=True, kw_only=True)
class Seller:
    """The tenant as printed on its invoices; the caller builds it from the tenant."""

    name: str
    brand_color: str
    icon: bytes | None
    icon_type: str | None


def _day(moment: datetime, language: str) -> str:
    return format_day(moment, language)


Gettext = Callable[[str], str]


class InvoiceCatalogue(Protocol):
    """The words of one language: the caller's gettext catalogue (web.i18n.Translator)."""

    @property
    def language(self) -> str: ...

    def gettext(self, message: str, /) -> str: ...


def _source_text(message: str) -> str:
    return message


def invoice_labels(gettext: Gettext) -> dict[str, str]:
    """The invoice's headings through `gettext` (the caller's catalogue of the language)."""
    _ = gettext
    return {
        "invoice": _("Invoice"),
        "number": _("Invoice number"),
        "issued": _("Date of issue"),
        "due": _("Due date"),
        "billed_to": _("Billed to"),
        "vat_number": _("VAT number"),
        "description": _("Description"),
        "quantity": _("Qty"),
        "unit_price": _("Unit price"),
        "tax_rate": _("Tax"),
        "amount": _("Amount"),
        "subtotal": _("Subtotal"),
        "tax": _("Tax"),
        "total": _("Total"),
        "period": _("Period"),
    }


def invoice_html(
    *,
    invoice: Invoice,
    customer: Customer,
    seller: Seller,
    language: str = "en",
    gettext: Gettext = _source_text,
) -> str:
    """The invoice as a self-contained HTML document (no external URL).

    Headings go through `gettext` (English as written without one), amounts and dates
    are formatted for `language`.
    """
    if invoice.number is None or invoice.finalized_at is None:
        raise Conflict("a draft invoice has no document yet")
    icon_uri = None
    if seller.icon is not None and seller.icon_type is not None:
        icon_uri = f"data:{seller.icon_type};base64,{base64.b64encode(seller.icon).decode()}"
    return _TEMPLATE.render(
        language=language,
        labels=invoice_labels(gettext),
        number=invoice.number,
        issued=_day(invoice.finalized_at, language),
        due=_day(invoice.due_at, language) if invoice.due_at else None,
        seller=seller.name,
        brand_color=seller.brand_color,
        brand_contrast=contrast_color(seller.brand_color),
        icon_uri=icon_uri,
        billed_to=_billed_to(customer, language),
        vat_number=customer.vat_number,
        lines=_line_rows(invoice, language),
        subtotal=format_money(invoice.subtotal, invoice.currency, language),
        tax=format_money(invoice.tax, invoice.currency, language),
        total=format_money(invoice.total, invoice.currency, language),
        memo=invoice.memo,
    )


def _billed_to(customer: Customer, language: str) -> list[str]:
    """The customer's name, postal address as its country writes it, and e-mail, one line each."""
    address = address_lines(postal_address(customer), language=language)
    return [part for part in (customer.name, *address, customer.email) if part]


def _line_rows(invoice: Invoice, language: str) -> list[dict[str, Any]]:
    """The invoice's lines as the template shows them, amounts and dates for `language`."""
    return [
        {
            "description": line.description,
            "quantity": line.quantity,
            "unit_price": format_money(line.unit_amount, invoice.currency, language),
            "tax_rate": format_rate(line.tax_rate_bps, language),
            "amount": format_money(line.amount, invoice.currency, language),
            "period": (
                f"{_day(line.period_start, language)} – {_day(line.period_end, language)}"
                if line.period_start is not None and line.period_end is not None
                else None
            ),
        }
        for line in invoice.lines
    ]


def render_pdf(html: str) -> bytes:
    """PDF bytes for `html`; blocks for tens to hundreds of milliseconds (see PdfRenderer).

    Only data: URLs load; anything else (http, file) is refused and left out.
    """
    # Imported on first use: WeasyPrint loads Pango and fonts, which the rest of the
    # gateway never needs. Without libharfbuzz-subset it warns that a future version
    # will require it; today it still renders (fonts are embedded whole).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols=("data",), allow_redirects=False, timeout=1)
    document: bytes = HTML(string=html, url_fetcher=fetcher).write_pdf()
    return document


def _prepare_render_process() -> None:
    os.nice(RENDER_NICENESS)


class PdfRenderer:
    """Renders PDFs in up to `processes` separate processes, started on the first render.

    The processes are spawned (not forked: the gateway's event loop, sockets and
    pool must not be copied) and keep WeasyPrint's fonts loaded between renders;
    renders beyond `processes` queue. A process that dies fails its render, and
    the next render starts a new pool. `close` stops the processes; a later
    render starts them again.
    """

    def __init__(self, *, processes: int = RENDER_PROCESSES) -> None:
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None
        self._guard = threading.Lock()

    def _running(self) -> ProcessPoolExecutor:
        with self._guard:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_prepare_render_process,
                )
            return self._executor

    async def render(self, html: str) -> bytes:
        """PDF bytes for `html`, rendered in a render process; the event loop stays free."""
        executor = self._running()
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, render_pdf, html)
        except BrokenProcessPool:
            logger.warning("a PDF render process died; starting a new one for the next render")
            with self._guard:
                if self._executor is executor:
                    self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            raise

    async def close(self) -> None:
        """Stop the render processes (renders under way finish first)."""
        with self._guard:
            executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)


# One per process: gateway worker processes each get their own render processes.
renderer = PdfRenderer()


async def pdf_rendering(_app: object) -> AsyncIterator[None]:
    """Cleanup context (`app.cleanup_ctx`): the render processes stop when the app does."""
    yield
    await renderer.close()


def _words(catalogue: InvoiceCatalogue | None) -> dict[str, Any]:
    if catalogue is None:
        return {"language": "en", "gettext": _source_text}
    return {"language": catalogue.language, "gettext": catalogue.gettext}


async def invoice_pdf(
    db: Db,
    *,
    tenant_id: int,
    invoice: Invoice,
    customer: Customer,
    seller: Callable[[], Awaitable[Seller]],
    catalogue: Callable[[str], InvoiceCatalogue] | None = None,
) -> bytes:
    """The PDF of a final invoice of `customer`: the stored copy, else rendered now and stored.

    `seller` is called only when the document must be rendered (its icon is
    loaded then, not on every download). Drafts raise Conflict. The invoice's
    own customer's language is the document's, so every download of one
    invoice is the same file: `catalogue` gives its words (the language it has,
    English standing in); without one the document is in English.
    """
    if invoice.status not in FINAL_STATUSES:
        raise Conflict("a draft invoice has no document yet")
    if invoice.customer_id != customer.id:
        raise NotFound("invoice", invoice.id)
    cached: bytes | None = await db.fetchval(
        "SELECT pdf FROM invoices WHERE tenant_id = $1 AND id = $2 AND customer_id = $3",
        tenant_id,
        invoice.id,
        customer.id,
    )
    if cached is not None:
        return cached
    html = invoice_html(
        invoice=invoice,
        customer=customer,
        seller=await seller(),
        **_words(catalogue(customer.language) if catalogue else None),
    )
    document = await renderer.render(html)
    # Two concurrent first downloads both render; the first stored copy wins for good.
    stored: bytes | None = await db.fetchval(
        "UPDATE invoices SET pdf = coalesce(pdf, $3) WHERE tenant_id = $1 AND id = $2"
        " AND status <> 'draft' RETURNING pdf",
        tenant_id,
        invoice.id,
        document,
    )
    return stored if stored is not None else document

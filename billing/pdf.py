"""Invoice PDFs: an HTML invoice in the tenant's brand, rendered by WeasyPrint in another process.

A final invoice (open, paid, void, uncollectible) never changes its content: the
document shows only what finalisation fixed (number, dates, lines, totals, and the
snapshot of seller, buyer, brand and language, `billing.invoice_document`), never
the payment status, so every render gives the same bytes (WeasyPrint writes no
creation date unless the HTML asks for one). The first render is kept in
`invoices.pdf` to save the work.
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
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Protocol

import jinja2

from billing.errors import Conflict, NotFound
from billing.invoice_document import invoice_document, snapshot_of
from billing.invoice_snapshots import snapshot_icon
from billing.invoices import Invoice
from kernel.colors import contrast_color
from kernel.db import Db

logger = logging.getLogger(__name__)

FINAL_STATUSES = frozenset({"open", "paid", "void", "uncollectible"})
# Render processes per gateway process; more renders wait in line for one of them.
RENDER_PROCESSES = 1
# A render is background work next to page requests: it runs under SCHED_IDLE where the
# system has it (Linux), so the event loop's process preempts it at once and a render
# uses the CPU time the pages leave; with niceness alone, each render's scheduler slice
# on the worker's CPU added 3-4 ms to the portal's p99 (bench/notes.md). Elsewhere,
# nice 10 weighs about a tenth of nice 0.
RENDER_NICENESS = 10

_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!doctype html>
<html lang="{{ doc.language }}">
<head>
<meta charset="utf-8">
<title>{{ labels.invoice }} {{ doc.number }}</title>
<style>
  @page { size: A4; margin: 18mm 16mm; }
  body { font-family: sans-serif; font-size: 10pt; color: #111827; }
  header { display: flex; align-items: center; gap: 10pt; padding: 10pt 12pt;
           background: {{ doc.brand_color }}; color: {{ brand_contrast }}; }
  header img { width: 28pt; height: 28pt; }
  header .seller { font-size: 14pt; font-weight: bold; }
  h1 { font-size: 16pt; margin: 16pt 0 8pt; }
  .meta { width: 100%; margin-bottom: 14pt; }
  .meta td { vertical-align: top; padding: 0 12pt 0 0; width: 33%; }
  .label { color: #4b5563; }
  table.lines, table.taxes { width: 100%; border-collapse: collapse; }
  table.lines th, table.taxes th { text-align: left; padding: 4pt 4pt 4pt 0;
                                   border-bottom: 1.5pt solid {{ doc.brand_color }}; }
  table.lines td, table.taxes td { border-bottom: 0.5pt solid #d1d5db; padding: 4pt 4pt 4pt 0; }
  /* A header sits over its values: numbers and their headers both right-aligned. */
  table th.number, table td.number { text-align: right; white-space: nowrap; }
  table.totals { margin-left: auto; margin-top: 10pt; }
  table.totals td { padding: 2pt 0 2pt 16pt; }
  table.totals tr.total td { font-weight: bold; border-top: 1.5pt solid {{ doc.brand_color }}; }
  h2 { font-size: 11pt; margin: 16pt 0 4pt; }
  .memo, .reverse-charge { margin-top: 16pt; }
</style>
</head>
<body>
<header>
  {% if icon_uri %}<img src="{{ icon_uri }}" alt="">{% endif %}
  <span class="seller">{{ doc.seller_name }}</span>
</header>
<h1>{{ labels.invoice }} {{ doc.number }}</h1>
<table class="meta">
  <tr>
    <td>
      <div class="label">{{ labels.number }}</div><div>{{ doc.number }}</div>
      <div class="label">{{ labels.issued }}</div><div>{{ doc.issued }}</div>
      <div class="label">{{ doc.supply_label }}</div><div>{{ doc.supply }}</div>
      {% if doc.due %}<div class="label">{{ labels.due }}</div><div>{{ doc.due }}</div>{% endif %}
    </td>
    <td>
      <div class="label">{{ labels.seller }}</div>
      {% for line in doc.seller.lines %}<div>{{ line }}</div>{% endfor %}
      {% for line in doc.seller.numbers %}<div>{{ line }}</div>{% endfor %}
    </td>
    <td>
      <div class="label">{{ labels.billed_to }}</div>
      {% for line in doc.buyer.lines %}<div>{{ line }}</div>{% endfor %}
      {% for line in doc.buyer.numbers %}<div>{{ line }}</div>{% endfor %}
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
  {% for line in doc.lines %}
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
  <tr><td>{{ labels.subtotal }}</td><td class="number">{{ doc.subtotal }}</td></tr>
  <tr><td>{{ labels.tax }}</td><td class="number">{{ doc.tax }}</td></tr>
  <tr class="total"><td>{{ labels.total }}</td><td class="number">{{ doc.total }}</td></tr>
</table>
<h2>{{ labels.tax_summary }}</h2>
<table class="taxes">
  <thead><tr>
    <th>{{ labels.rate }}</th><th class="number">{{ labels.net }}</th>
    <th class="number">{{ labels.tax }}</th>
  </tr></thead>
  <tbody>
  {% for row in doc.tax_rows %}
    <tr><td>{{ row.rate }}</td><td class="number">{{ row.net }}</td>
      <td class="number">{{ row.tax }}</td></tr>
  {% endfor %}
  </tbody>
</table>
{% if doc.reverse_charge %}<p class="reverse-charge">{{ doc.reverse_charge }}</p>{% endif %}
{% if doc.memo %}<p class="memo">{{ doc.memo }}</p>{% endif %}
</body>
</html>
"""
)


@dataclass(frozen=True, kw_only=True)
class Seller:
    """The tenant's brand as its mail shows it; the caller builds it from the tenant."""

    name: str
    brand_color: str
    icon: bytes | None
    icon_type: str | None


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
        "seller": _("Issued by"),
        "billed_to": _("Billed to"),
        "description": _("Description"),
        "quantity": _("Qty"),
        "unit_price": _("Unit price"),
        "tax_rate": _("Tax"),
        "amount": _("Amount"),
        "subtotal": _("Subtotal"),
        "tax": _("Tax"),
        "total": _("Total"),
        "period": _("Period"),
        "tax_summary": _("Tax summary"),
        "rate": _("Rate"),
        "net": _("Net"),
    }


def invoice_html(
    *, invoice: Invoice, icon: bytes | None = None, gettext: Gettext = _source_text
) -> str:
    """The issued invoice as a self-contained HTML document (no external URL).

    Everything comes from the invoice and its snapshot; `gettext` gives the words
    of the snapshot's language (English as written without one), and `icon` is
    the icon the snapshot names.
    """
    doc = invoice_document(invoice, gettext)
    snapshot = snapshot_of(invoice)
    icon_uri = None
    if icon is not None and snapshot.icon_type is not None:
        icon_uri = f"data:{snapshot.icon_type};base64,{base64.b64encode(icon).decode()}"
    return _TEMPLATE.render(
        doc=doc,
        labels=invoice_labels(gettext),
        brand_contrast=contrast_color(doc.brand_color),
        icon_uri=icon_uri,
    )


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
    if hasattr(os, "SCHED_IDLE"):  # no privilege needed to lower one's own policy
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError:  # a sandbox that forbids it: the niceness still applies
            logger.warning(
                "render process: SCHED_IDLE refused; running at nice %d", RENDER_NICENESS
            )


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


async def invoice_pdf(
    db: Db,
    *,
    tenant_id: int,
    invoice: Invoice,
    customer_id: str,
    catalogue: Callable[[str], InvoiceCatalogue] | None = None,
) -> bytes:
    """The PDF of a final invoice of `customer_id`: the stored copy, else rendered now and stored.

    The document renders from the invoice's snapshot alone (seller, buyer, brand,
    icon and language as finalisation fixed them), so a render today and one after
    the tenant or the customer changed anything give the same bytes; the stored
    copy only saves the work. `catalogue` gives the words of the snapshot's
    language (English standing in); without one the document is in English.
    Drafts raise Conflict.
    """
    if invoice.status not in FINAL_STATUSES:
        raise Conflict("a draft invoice has no document yet")
    if invoice.customer_id != customer_id:
        raise NotFound("invoice", invoice.id)
    cached: bytes | None = await db.fetchval(
        "SELECT pdf FROM invoices WHERE tenant_id = $1 AND id = $2 AND customer_id = $3",
        tenant_id,
        invoice.id,
        customer_id,
    )
    if cached is not None:
        return cached
    snapshot = snapshot_of(invoice)
    icon = None
    if snapshot.icon_digest is not None:
        icon = await snapshot_icon(db, tenant_id=tenant_id, digest=snapshot.icon_digest)
    gettext = catalogue(snapshot.language).gettext if catalogue else _source_text
    document = await renderer.render(invoice_html(invoice=invoice, icon=icon, gettext=gettext))
    # Two concurrent first downloads both render the same bytes; the first stored copy stays.
    stored: bytes | None = await db.fetchval(
        "UPDATE invoices SET pdf = coalesce(pdf, $3) WHERE tenant_id = $1 AND id = $2"
        " AND status <> 'draft' RETURNING pdf",
        tenant_id,
        invoice.id,
        document,
    )
    return stored if stored is not None else document

"""Portal invoice pages: the list, one invoice, and its PDF download."""

from __future__ import annotations

import re

from aiohttp import web

from billing.errors import NotFound
from billing.invoice_document import invoice_document
from billing.invoices import Invoice, get_invoice, list_invoices
from billing.pdf import invoice_pdf
from gateway.edge import keys
from portal.access import Visit, portal_page
from portal.invoice_payment_routes import payment_context
from portal.page_cache import cached_page, do_not_cache
from portal.views import CUSTOMER_VISIBLE_INVOICE_STATUSES, day, invoice_row, money
from web.i18n import translator
from web.page_templates import render_page
from web.stripe_pages import stripe_page_policy

routes = web.RouteTableDef()

PAGE_SIZE = 25
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


async def customer_invoice(request: web.Request, visit: Visit) -> Invoice:
    """The invoice in the path if it is this customer's and not a draft; NotFound otherwise."""
    invoice_id = request.match_info["invoice_id"]
    invoice = await get_invoice(
        request.config_dict[keys.POOL], tenant_id=visit.tenant.id, invoice_id=invoice_id
    )
    if (
        invoice.customer_id != visit.customer.id
        or invoice.status not in CUSTOMER_VISIBLE_INVOICE_STATUSES
    ):
        raise NotFound("invoice", invoice_id)
    return invoice


@routes.get("/portal/{customer_id}/invoices")
@portal_page
@cached_page("invoices")
async def invoice_list(request: web.Request, visit: Visit) -> web.StreamResponse:
    """The customer's invoices, newest first, a page at a time."""
    pool = request.config_dict[keys.POOL]
    starting_after = request.query.get("starting_after") or None
    shown: list[Invoice] = []
    has_more = True
    # Drafts are filtered out here, so fetch until a page is full or nothing is left.
    while has_more and len(shown) < PAGE_SIZE:
        found, has_more = await list_invoices(
            pool,
            tenant_id=visit.tenant.id,
            customer_id=visit.customer.id,
            limit=PAGE_SIZE,
            starting_after=starting_after,
        )
        if not found:
            break
        starting_after = found[-1].id
        shown.extend(item for item in found if item.status in CUSTOMER_VISIBLE_INVOICE_STATUSES)
    page = shown[:PAGE_SIZE]
    more = has_more or len(shown) > PAGE_SIZE
    context = {
        **visit.context(request),
        "invoices": [invoice_row(visit, item) for item in page],
        "next_cursor": page[-1].id if more and page else None,
    }
    return render_page("portal/invoices.html", request, context, i18n=visit.i18n)


@routes.get("/portal/{customer_id}/invoices/{invoice_id}")
@portal_page
@cached_page("invoice")
async def invoice_detail(request: web.Request, visit: Visit) -> web.StreamResponse:
    """One invoice: lines, totals, dates, status, a Download link; a pay form while open."""
    invoice = await customer_invoice(request, visit)
    # The invoice's content comes from its snapshot, in the page's language; the
    # status, due date and payment come from the invoice as it is now.
    context = {
        **visit.context(request),
        "invoice": invoice,
        "row": invoice_row(visit, invoice),
        "document": invoice_document(invoice, visit.i18n.gettext, language=visit.language),
        "amount_paid": money(visit, invoice.amount_paid, invoice.currency),
        "due_on": day(visit, invoice.due_at) if invoice.due_at else None,
        "paid_on": day(visit, invoice.paid_at) if invoice.paid_at else None,
        "voided_on": day(visit, invoice.voided_at) if invoice.voided_at else None,
    }
    payment = await payment_context(request, visit, invoice)
    context["payment"] = payment
    response = render_page("portal/invoice.html", request, context, i18n=visit.i18n)
    if payment["stripe"]:
        response.headers["Content-Security-Policy"] = stripe_page_policy(request)
    if payment["payable"] or payment["outcome"] is not None:
        do_not_cache(response)  # the pay form's nonce and an attempt's outcome are this visit's
    return response


@routes.get("/portal/{customer_id}/invoices/{invoice_id}/pdf")
@portal_page
async def invoice_download(request: web.Request, visit: Visit) -> web.StreamResponse:
    """The invoice as a PDF attachment named after its number."""
    invoice = await customer_invoice(request, visit)
    pool = request.config_dict[keys.POOL]
    document = await invoice_pdf(
        pool,
        tenant_id=visit.tenant.id,
        invoice=invoice,
        customer_id=visit.customer.id,
        catalogue=translator,
    )
    filename = _UNSAFE_FILENAME.sub("-", invoice.number or invoice.id).strip("-") or invoice.id
    return web.Response(
        body=document,
        content_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}.pdf"',
            # The document is private to this customer: no shared cache keeps it.
            "Cache-Control": "private, no-store",
        },
    )

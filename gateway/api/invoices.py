"""API resources for invoices: create drafts, list, read, finalize, void."""

from __future__ import annotations

from typing import Any

from billing import invoices
from billing.invoices import KINDS, STATUSES, Invoice
from gateway.api.billing_fields import (
    AMOUNT,
    CURRENCY,
    CURRENCY_INPUT,
    METADATA,
    OPTIONAL_STRING,
    OPTIONAL_TIMESTAMP,
    TIMESTAMP,
    id_schema,
)
from gateway.api.framework import ApiContext, ApiRoutes, Page, QueryParam

routes = ApiRoutes()
TAG = "invoices"

INVOICE_LINE = routes.schema(
    "InvoiceLine",
    {
        "type": "object",
        "required": ["id", "description", "quantity", "unit_amount", "amount", "tax_rate_bps"],
        "properties": {
            "id": id_schema("il"),
            "description": {"type": "string"},
            "quantity": {"type": "integer"},
            "unit_amount": AMOUNT,
            "amount": AMOUNT,
            "tax_rate_bps": {"type": "integer", "description": "Tax rate, 2000 = 20%."},
            "tax": {**AMOUNT, "description": "This line's tax, rounded half-up."},
            "period_start": OPTIONAL_TIMESTAMP,
            "period_end": OPTIONAL_TIMESTAMP,
        },
    },
)
INVOICE = routes.schema(
    "Invoice",
    {
        "type": "object",
        "required": [
            "id",
            "object",
            "customer",
            "number",
            "status",
            "currency",
            "subtotal",
            "tax",
            "total",
            "amount_paid",
            "amount_due",
            "lines",
            "created_at",
        ],
        "properties": {
            "id": id_schema("in"),
            "object": {"const": "invoice"},
            "customer": id_schema("cus"),
            "subscription": {"type": ["string", "null"]},
            "number": {
                "type": ["string", "null"],
                "description": "Assigned when finalized, such as ALPEAK-0001; gapless.",
            },
            "kind": {"enum": list(KINDS)},
            "status": {"enum": list(STATUSES)},
            "currency": CURRENCY,
            "subtotal": AMOUNT,
            "tax": AMOUNT,
            "total": AMOUNT,
            "amount_paid": AMOUNT,
            "amount_due": AMOUNT,
            "memo": OPTIONAL_STRING,
            "lines": {"type": "array", "items": INVOICE_LINE},
            "due_at": OPTIONAL_TIMESTAMP,
            "finalized_at": OPTIONAL_TIMESTAMP,
            "paid_at": OPTIONAL_TIMESTAMP,
            "voided_at": OPTIONAL_TIMESTAMP,
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
    },
)
INVOICE_CREATE = routes.schema(
    "InvoiceCreate",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["customer"],
        "properties": {
            "customer": {"type": "string", "maxLength": 100},
            "currency": {**CURRENCY_INPUT, "description": "Defaults to the customer's currency."},
            "lines": {
                "type": "array",
                "maxItems": invoices.MAX_LINES,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["description", "unit_amount"],
                    "properties": {
                        "description": {"type": "string", "minLength": 1, "maxLength": 500},
                        "quantity": {"type": "integer", "minimum": 1, "default": 1},
                        "unit_amount": {**AMOUNT, "minimum": 0},
                        "tax_rate_bps": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": 10000,
                            "default": 0,
                        },
                    },
                },
            },
            "memo": {"type": ["string", "null"], "maxLength": 2000},
            "due_at": {**TIMESTAMP, "description": "Defaults to 30 days after finalizing."},
            "metadata": METADATA,
        },
    },
)


def invoice_json(invoice: Invoice) -> dict[str, Any]:
    return {
        "id": invoice.id,
        "object": "invoice",
        "customer": invoice.customer_id,
        "subscription": invoice.subscription_id,
        "number": invoice.number,
        "kind": invoice.kind,
        "status": invoice.status,
        "currency": invoice.currency,
        "subtotal": invoice.subtotal,
        "tax": invoice.tax,
        "total": invoice.total,
        "amount_paid": invoice.amount_paid,
        "amount_due": invoice.amount_due,
        "memo": invoice.memo,
        "lines": [
            {
                "id": line.id,
                "description": line.description,
                "quantity": line.quantity,
                "unit_amount": line.unit_amount,
                "amount": line.amount,
                "tax_rate_bps": line.tax_rate_bps,
                "tax": line.tax,
                "period_start": line.period_start,
                "period_end": line.period_end,
            }
            for line in invoice.lines
        ],
        "due_at": invoice.due_at,
        "finalized_at": invoice.finalized_at,
        "paid_at": invoice.paid_at,
        "voided_at": invoice.voided_at,
        "metadata": invoice.metadata,
        "created_at": invoice.created_at,
        "updated_at": invoice.updated_at,
    }


@routes.operation(
    "POST",
    "/invoices",
    summary="Create a draft invoice with lines",
    tag=TAG,
    request=INVOICE_CREATE,
    response=INVOICE,
    status=201,
)
async def create_invoice(context: ApiContext) -> dict[str, Any]:
    invoice = await invoices.create_invoice(
        context.pool, tenant_id=context.tenant.id, data=context.body
    )
    return invoice_json(invoice)


@routes.operation(
    "GET",
    "/invoices",
    summary="List invoices, newest first",
    tag=TAG,
    response=INVOICE,
    paginated=True,
    query=[
        QueryParam("customer", {"type": "string", "maxLength": 100}, "Only this customer's."),
        QueryParam("status", {"type": "string", "enum": list(STATUSES)}, "Only this status."),
    ],
)
async def list_invoices(context: ApiContext) -> Page:
    found, has_more = await invoices.list_invoices(
        context.pool,
        tenant_id=context.tenant.id,
        customer_id=context.query.get("customer"),
        status=context.query.get("status"),
        limit=context.limit,
        starting_after=context.starting_after,
    )
    return Page([invoice_json(i) for i in found], has_more=has_more)


@routes.operation("GET", "/invoices/{id}", summary="Read an invoice", tag=TAG, response=INVOICE)
async def get_invoice(context: ApiContext) -> dict[str, Any]:
    invoice = await invoices.get_invoice(
        context.pool, tenant_id=context.tenant.id, invoice_id=context.path("id")
    )
    return invoice_json(invoice)


@routes.operation(
    "POST",
    "/invoices/{id}/finalize",
    summary="Finalize a draft: it gets the next number and becomes open",
    tag=TAG,
    response=INVOICE,
)
async def finalize_invoice(context: ApiContext) -> dict[str, Any]:
    invoice = await invoices.finalize_invoice(
        context.pool, tenant_id=context.tenant.id, invoice_id=context.path("id")
    )
    return invoice_json(invoice)


@routes.operation(
    "POST", "/invoices/{id}/void", summary="Void an open invoice", tag=TAG, response=INVOICE
)
async def void_invoice(context: ApiContext) -> dict[str, Any]:
    invoice = await invoices.void_invoice(
        context.pool, tenant_id=context.tenant.id, invoice_id=context.path("id")
    )
    return invoice_json(invoice)

"""API resources for invoices: create drafts, list, read, finalize, void."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from pydantic import Field

from billing import invoice_lines, invoice_payment_refunds, invoices
from billing.errors import BillingError
from billing.fields import Metadata, Request, optional
from billing.invoices import STATUSES, Kind, Status
from gateway.api.billing_fields import (
    Amount,
    Currency,
    CurrencyInput,
    CustomerId,
    InvoiceId,
    Resource,
    Timestamp,
)
from gateway.api.framework import ApiContext, ApiRoutes, Page
from gateway.api.query import QueryParam
from web.stripe_pages import refunds_for

logger = logging.getLogger(__name__)
routes = ApiRoutes()
TAG = "invoices"


class InvoiceLine(Resource):
    id: Annotated[str, Field(pattern="^il_")]
    description: str
    quantity: int
    unit_amount: Amount
    amount: Amount
    tax_rate_bps: int = Field(description="Tax rate, 2000 = 20%.")
    tax: Amount = Field(description="This line's tax, rounded half-up.")
    period_start: Timestamp | None
    period_end: Timestamp | None


class Invoice(Resource):
    """An invoice: a draft, or finalized with a gapless number."""

    id: InvoiceId
    object: Literal["invoice"] = "invoice"
    customer: CustomerId
    subscription: str | None
    number: str | None = Field(description="Assigned when finalized, such as ALPEAK-0001; gapless.")
    kind: Kind
    status: Status
    currency: Currency
    subtotal: Amount
    tax: Amount
    total: Amount
    amount_paid: Amount
    amount_due: Amount
    memo: str | None
    lines: list[InvoiceLine]
    due_at: Timestamp | None
    finalized_at: Timestamp | None
    paid_at: Timestamp | None
    voided_at: Timestamp | None
    metadata: dict[str, str]
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, invoice: invoices.Invoice) -> Invoice:
        fields = {
            name: getattr(invoice, name)
            for name in cls.model_fields
            if name not in ("object", "customer", "subscription", "lines")
        }
        lines = [InvoiceLine.model_validate(line, from_attributes=True) for line in invoice.lines]
        return cls(
            **fields,
            customer=invoice.customer_id,
            subscription=invoice.subscription_id,
            lines=lines,
        )


class InvoiceLineCreate(Request):
    description: Annotated[str, Field(min_length=1, max_length=500)]
    quantity: Annotated[int, Field(ge=1)] = 1
    unit_amount: Annotated[Amount, Field(ge=0)]
    tax_rate_bps: Annotated[int, Field(ge=0, le=10000)] = 0


class InvoiceCreate(Request):
    customer: Annotated[str, Field(max_length=100)]
    currency: CurrencyInput = optional(description="Defaults to the customer's currency.")
    lines: list[InvoiceLineCreate] = optional(max_length=invoice_lines.MAX_LINES)
    memo: Annotated[str, Field(max_length=2000)] | None = None
    due_at: Timestamp = optional(description="Defaults to 30 days after finalizing.")
    metadata: Metadata = optional()


@routes.operation(
    "POST",
    "/invoices",
    summary="Create a draft invoice with lines",
    tag=TAG,
    request=InvoiceCreate,
    response=Invoice,
    status=201,
)
async def create_invoice(context: ApiContext) -> Invoice:
    invoice = await invoices.create_invoice(
        context.pool, tenant_id=context.tenant.id, data=context.body
    )
    return Invoice.of(invoice)


@routes.operation(
    "GET",
    "/invoices",
    summary="List invoices, newest first",
    tag=TAG,
    response=Invoice,
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
    return Page([Invoice.of(i) for i in found], has_more=has_more)


@routes.operation("GET", "/invoices/{id}", summary="Read an invoice", tag=TAG, response=Invoice)
async def get_invoice(context: ApiContext) -> Invoice:
    invoice = await invoices.get_invoice(
        context.pool, tenant_id=context.tenant.id, invoice_id=context.path("id")
    )
    return Invoice.of(invoice)


@routes.operation(
    "POST",
    "/invoices/{id}/finalize",
    summary="Finalize a draft: it gets the next number and becomes open",
    tag=TAG,
    response=Invoice,
)
async def finalize_invoice(context: ApiContext) -> Invoice:
    invoice = await invoices.finalize_invoice(
        context.pool, tenant_id=context.tenant.id, invoice_id=context.path("id")
    )
    return Invoice.of(invoice)


@routes.operation(
    "POST", "/invoices/{id}/void", summary="Void an open invoice", tag=TAG, response=Invoice
)
async def void_invoice(context: ApiContext) -> Invoice:
    invoice = await invoices.void_invoice(
        context.pool, tenant_id=context.tenant.id, invoice_id=context.path("id")
    )
    await _cancel_waiting_payments(context, invoice.id)
    return Invoice.of(invoice)


async def _cancel_waiting_payments(context: ApiContext, invoice_id: str) -> None:
    """A card payment of the invoice still waiting for the bank is canceled, so nothing is charged.

    The void stands whatever Stripe says: a payment that cannot be canceled now is
    refunded when it settles (the customer's page or Stripe's webhook).
    """
    try:
        refunds = await refunds_for(context.request, context.tenant)
        await invoice_payment_refunds.cancel_voided_attempts(
            context.pool, refunds, tenant_id=context.tenant.id, invoice_id=invoice_id
        )
    except BillingError as error:
        logger.warning("voided invoice %s: its waiting payment stays as is: %s", invoice_id, error)

"""API resources for checkout sessions: create, list, read (with the hosted URL), expire."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from billing import checkout_sessions
from billing.checkout_sessions import STATUSES, Status
from billing.fields import Country, Email, Label, Language, Metadata, Name, Request, optional
from billing.periods import Interval
from gateway.api.billing_fields import (
    Amount,
    CheckoutSessionId,
    Currency,
    CurrencyInput,
    Resource,
    Timestamp,
    tenant_base_url,
)
from gateway.api.framework import ApiContext, ApiRoutes, Page
from gateway.api.query import QueryParam

routes = ApiRoutes()
TAG = "checkout_sessions"

TaxRate = Annotated[
    int,
    Field(
        ge=0,
        le=checkout_sessions.MAX_TAX_RATE_BPS,
        description="Tax rate in basis points (2000 = 20%); the line's tax is rounded half-up "
        "to a minor unit and added to what is charged.",
    ),
]
RedirectUrl = Annotated[
    str,
    Field(
        max_length=checkout_sessions.MAX_URL,
        description="Absolute https URL (http only for localhost).",
    ),
]


class LineItem(Resource):
    name: str
    unit_amount: Amount
    quantity: int
    interval: Interval | None = Field(description="null: charged once.")
    interval_count: int
    tax_rate_bps: TaxRate


class CheckoutSession(Resource):
    """A hosted checkout page for a customer to pay one-off and recurring items."""

    id: CheckoutSessionId
    object: Literal["checkout_session"] = "checkout_session"
    url: str = Field(json_schema_extra={"format": "uri"}, description="Send the customer here.")
    status: Status
    customer: str | None
    customer_details: dict[str, str] | None
    currency: Currency
    line_items: list[LineItem]
    amount_subtotal: Amount = Field(description="amount_total before tax.")
    amount_tax: Amount = Field(description="The tax in amount_total (per line, rounded).")
    amount_total: Amount = Field(
        description="Charged at completion, tax included: one-off items, plus "
        "recurring ones unless a trial defers them."
    )
    trial_days: int | None
    success_url: str
    cancel_url: str | None
    expires_at: Timestamp
    completed_at: Timestamp | None
    subscription: str | None
    invoice: str | None
    metadata: dict[str, str]
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, session: checkout_sessions.CheckoutSession, base_url: str) -> CheckoutSession:
        copied = {name: getattr(session, name) for name in _COPIED}
        return cls.model_validate(
            {
                **copied,
                "url": f"{base_url}/checkout/{session.id}",
                "customer": session.customer_id,
                "line_items": [item.as_json() for item in session.line_items],
                "subscription": session.subscription_id,
                "invoice": session.invoice_id,
            }
        )


_COPIED = [
    "id",
    "status",
    "customer_details",
    "currency",
    "amount_subtotal",
    "amount_tax",
    "amount_total",
    "trial_days",
    "success_url",
    "cancel_url",
    "expires_at",
    "completed_at",
    "metadata",
    "created_at",
    "updated_at",
]


class CustomerDetails(Request):
    """A new customer, created when the session completes."""

    name: Name
    email: Email = optional()
    country: Country = optional()
    language: Language = optional()


class LineItemCreate(Request):
    name: Label
    unit_amount: Annotated[Amount, Field(ge=0)]
    quantity: Annotated[int, Field(ge=1)] = 1
    interval: Interval = optional(description="Makes the item recurring.")
    interval_count: Annotated[int, Field(ge=1, le=36)] = optional()
    tax_rate_bps: TaxRate = 0
    currency: CurrencyInput = optional(
        description="Optional; when given, the session's currency "
        "(every item must name the same one).",
    )


class CheckoutSessionCreate(Request):
    """Give either customer (an existing one) or customer_details."""

    customer: Annotated[str, Field(max_length=100)] = optional()
    customer_details: CustomerDetails = optional()
    line_items: list[LineItemCreate] = Field(
        min_length=1, max_length=checkout_sessions.MAX_LINE_ITEMS
    )
    currency: CurrencyInput = optional(
        description="Defaults to the line items' currency, else the customer's, "
        "else your default currency.",
    )
    trial_days: Annotated[int, Field(ge=1, le=730)] = optional()
    success_url: RedirectUrl
    cancel_url: RedirectUrl = optional()
    expires_at: Timestamp = optional(
        description="30 minutes to 24 hours from now; defaults to 24 hours."
    )
    metadata: Metadata = optional()


@routes.operation(
    "POST",
    "/checkout_sessions",
    summary="Create a hosted checkout session",
    tag=TAG,
    request=CheckoutSessionCreate,
    response=CheckoutSession,
    status=201,
)
async def create_checkout_session(context: ApiContext) -> CheckoutSession:
    session = await checkout_sessions.create_checkout_session(
        context.pool,
        tenant_id=context.tenant.id,
        default_currency=context.tenant.default_currency,
        data=context.body,
    )
    return CheckoutSession.of(session, await tenant_base_url(context))


@routes.operation(
    "GET",
    "/checkout_sessions",
    summary="List checkout sessions, newest first",
    tag=TAG,
    response=CheckoutSession,
    paginated=True,
    query=[
        QueryParam("customer", {"type": "string", "maxLength": 100}, "Only this customer's."),
        QueryParam("status", {"type": "string", "enum": list(STATUSES)}, "Only this status."),
    ],
)
async def list_checkout_sessions(context: ApiContext) -> Page:
    found, has_more = await checkout_sessions.list_checkout_sessions(
        context.pool,
        tenant_id=context.tenant.id,
        limit=context.limit,
        starting_after=context.starting_after,
        status=context.query.get("status"),
        customer_id=context.query.get("customer"),
    )
    base_url = await tenant_base_url(context)
    return Page([CheckoutSession.of(s, base_url) for s in found], has_more=has_more)


@routes.operation(
    "GET",
    "/checkout_sessions/{id}",
    summary="Read a checkout session",
    tag=TAG,
    response=CheckoutSession,
)
async def get_checkout_session(context: ApiContext) -> CheckoutSession:
    session = await checkout_sessions.get_checkout_session(
        context.pool, tenant_id=context.tenant.id, session_id=context.path("id")
    )
    return CheckoutSession.of(session, await tenant_base_url(context))


@routes.operation(
    "POST",
    "/checkout_sessions/{id}/expire",
    summary="Expire an open checkout session now",
    tag=TAG,
    response=CheckoutSession,
)
async def expire_checkout_session(context: ApiContext) -> CheckoutSession:
    session = await checkout_sessions.expire_checkout_session(
        context.pool, tenant_id=context.tenant.id, session_id=context.path("id")
    )
    return CheckoutSession.of(session, await tenant_base_url(context))

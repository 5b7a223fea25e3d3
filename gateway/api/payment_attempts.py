"""API resource for payment attempts: each off-session charge the renewal job made."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from billing import payment_attempts
from gateway.api.billing_fields import Amount, Currency, CustomerId, InvoiceId, Resource, Timestamp
from gateway.api.framework import ApiContext, ApiRoutes, Page
from gateway.api.query import QueryParam

routes = ApiRoutes()
TAG = "payment_attempts"
AttemptStatus = Literal["pending", "succeeded", "failed", "requires_action", "abandoned"]


class PaymentAttempt(Resource):
    """One charge of an invoice's default card, recorded before the card was charged."""

    id: Annotated[str, Field(pattern="^pa_")]
    object: Literal["payment_attempt"] = "payment_attempt"
    invoice: InvoiceId
    customer: CustomerId
    attempt: int = Field(description="1 for the first charge of the invoice, then each retry.")
    amount: Amount = Field(description="What the card was asked for, after any wallet spend.")
    currency: Currency
    status: AttemptStatus = Field(
        description="pending: sent, outcome not yet recorded; requires_action: the bank asks "
        "the customer to authenticate (they can pay in the portal); abandoned: never reached "
        "the payment provider."
    )
    payment_intent: str | None
    failure_code: str | None
    failure_message: str | None
    started_at: Timestamp
    finished_at: Timestamp | None

    @classmethod
    def of(cls, attempt: payment_attempts.PaymentAttempt) -> PaymentAttempt:
        return cls(
            id=attempt.id,
            invoice=attempt.invoice_id,
            customer=attempt.customer_id,
            attempt=attempt.attempt,
            amount=attempt.amount,
            currency=attempt.currency,
            status=attempt.status,  # type: ignore[arg-type]
            payment_intent=attempt.stripe_payment_intent_id,
            failure_code=attempt.failure_code,
            failure_message=attempt.failure_message,
            started_at=attempt.started_at,
            finished_at=attempt.finished_at,
        )


@routes.operation(
    "GET",
    "/payment_attempts",
    summary="List the renewal job's card charges, newest first",
    tag=TAG,
    response=PaymentAttempt,
    paginated=True,
    query=[
        QueryParam("invoice", {"type": "string", "maxLength": 100}, "Only this invoice's."),
        QueryParam("customer", {"type": "string", "maxLength": 100}, "Only this customer's."),
    ],
)
async def list_payment_attempts(context: ApiContext) -> Page:
    found, has_more = await payment_attempts.list_payment_attempts(
        context.pool,
        tenant_id=context.tenant.id,
        invoice_id=context.query.get("invoice"),
        customer_id=context.query.get("customer"),
        limit=context.limit,
        starting_after=context.starting_after,
    )
    return Page([PaymentAttempt.of(attempt) for attempt in found], has_more=has_more)

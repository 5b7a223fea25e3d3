"""API resources for subscriptions: create, list, read, cancel."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from pydantic import Field

from billing import subscriptions
from billing.fields import Label, Metadata, Request, optional
from billing.periods import Interval
from billing.subscriptions import STATUSES, PriceModel, Status, UpcomingLine
from gateway.api.billing_fields import (
    Amount,
    Currency,
    CurrencyInput,
    CustomerId,
    Resource,
    SubscriptionId,
    Timestamp,
)
from gateway.api.framework import ApiContext, ApiRoutes, Page
from gateway.api.query import QueryParam

routes = ApiRoutes()
TaxRate = Annotated[
    int,
    Field(
        ge=0,
        le=10_000,
        description="Tax rate in basis points (2000 = 20%), added to every period's invoice.",
    ),
]
TAG = "subscriptions"


class SubscriptionItem(Resource):
    id: Annotated[str, Field(pattern="^si_")]
    name: str
    price_model: PriceModel
    unit_amount: Amount
    quantity: int
    interval: Interval
    interval_count: int
    tax_rate_bps: TaxRate
    amount: Amount = Field(description="What this item costs per period, before tax.")


class UpcomingInvoiceLine(Resource):
    description: str
    quantity: int
    unit_amount: Amount
    amount: Amount
    tax_rate_bps: TaxRate
    period_start: Timestamp
    period_end: Timestamp

    @classmethod
    def of(cls, line: UpcomingLine) -> UpcomingInvoiceLine:
        return cls.model_validate(line, from_attributes=True)


class UpcomingInvoice(Resource):
    """What the next invoice will contain (empty once canceling)."""

    currency: Currency
    subtotal: Amount
    tax: Amount
    total: Amount
    lines: list[UpcomingInvoiceLine]


class Subscription(Resource):
    """A customer's subscription to a plan of one or more items."""

    id: SubscriptionId
    object: Literal["subscription"] = "subscription"
    customer: CustomerId
    status: Status
    plan_name: str
    currency: Currency
    items: list[SubscriptionItem]
    current_period_start: Timestamp
    current_period_end: Timestamp
    cancel_at_period_end: bool
    canceled_at: Timestamp | None
    trial_end: Timestamp | None
    upcoming_invoice: UpcomingInvoice
    metadata: dict[str, str]
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, subscription: subscriptions.Subscription) -> Subscription:
        lines = subscriptions.upcoming_invoice_lines(subscription)
        items = [
            {**asdict(item), "interval": item.billing_interval, "amount": item.amount}
            for item in subscription.items
        ]
        upcoming = UpcomingInvoice(
            currency=subscription.currency,
            subtotal=sum(line.amount for line in lines),
            tax=sum(line.tax for line in lines),
            total=sum(line.amount + line.tax for line in lines),
            lines=[UpcomingInvoiceLine.of(line) for line in lines],
        )
        copied = {name: getattr(subscription, name) for name in _COPIED}
        return cls.model_validate(
            {
                **copied,
                "customer": subscription.customer_id,
                "items": [
                    {key: value for key, value in item.items() if key != "billing_interval"}
                    for item in items
                ],
                "upcoming_invoice": upcoming,
            }
        )


_COPIED = [
    "id",
    "status",
    "plan_name",
    "currency",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "canceled_at",
    "trial_end",
    "metadata",
    "created_at",
    "updated_at",
]


class SubscriptionItemCreate(Request):
    name: Label
    unit_amount: Annotated[Amount, Field(ge=0)]
    quantity: Annotated[int, Field(ge=1)] = 1
    interval: Interval = "month"
    interval_count: Annotated[int, Field(ge=1, le=36)] = 1
    price_model: PriceModel = "per_unit"
    tax_rate_bps: TaxRate = 0


class SubscriptionCreate(Request):
    customer: Annotated[str, Field(max_length=100)]
    plan_name: Label
    currency: CurrencyInput = optional(description="Defaults to the customer's currency.")
    items: list[SubscriptionItemCreate] = Field(
        min_length=1,
        max_length=subscriptions.MAX_ITEMS,
        description="Every item must share the first item's interval.",
    )
    trial_days: Annotated[int, Field(ge=1, le=730)] = optional()
    start: Timestamp = optional(description="Defaults to now; within a year of now.")
    metadata: Metadata = optional()


class SubscriptionCancel(Request):
    at_period_end: bool = Field(
        default=False, description="Keep it until the current period ends instead of now."
    )


@routes.operation(
    "POST",
    "/subscriptions",
    summary="Subscribe a customer to a plan",
    tag=TAG,
    request=SubscriptionCreate,
    response=Subscription,
    status=201,
)
async def create_subscription(context: ApiContext) -> Subscription:
    subscription = await subscriptions.create_subscription(
        context.pool, tenant_id=context.tenant.id, data=context.body
    )
    return Subscription.of(subscription)


@routes.operation(
    "GET",
    "/subscriptions",
    summary="List subscriptions, newest first",
    tag=TAG,
    response=Subscription,
    paginated=True,
    query=[
        QueryParam("customer", {"type": "string", "maxLength": 100}, "Only this customer's."),
        QueryParam("status", {"type": "string", "enum": list(STATUSES)}, "Only this status."),
    ],
)
async def list_subscriptions(context: ApiContext) -> Page:
    found, has_more = await subscriptions.list_subscriptions(
        context.pool,
        tenant_id=context.tenant.id,
        customer_id=context.query.get("customer"),
        status=context.query.get("status"),
        limit=context.limit,
        starting_after=context.starting_after,
    )
    return Page([Subscription.of(s) for s in found], has_more=has_more)


@routes.operation(
    "GET",
    "/subscriptions/{id}",
    summary="Read a subscription",
    tag=TAG,
    response=Subscription,
)
async def get_subscription(context: ApiContext) -> Subscription:
    subscription = await subscriptions.get_subscription(
        context.pool, tenant_id=context.tenant.id, subscription_id=context.path("id")
    )
    return Subscription.of(subscription)


@routes.operation(
    "POST",
    "/subscriptions/{id}/cancel",
    summary="Cancel a subscription now or at the end of its period",
    tag=TAG,
    request=SubscriptionCancel,
    response=Subscription,
)
async def cancel_subscription(context: ApiContext) -> Subscription:
    subscription = await subscriptions.cancel_subscription(
        context.pool,
        tenant_id=context.tenant.id,
        subscription_id=context.path("id"),
        at_period_end=context.parsed(SubscriptionCancel).at_period_end,
    )
    return Subscription.of(subscription)

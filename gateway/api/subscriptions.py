"""API resources for subscriptions: create, list, read, cancel."""

from __future__ import annotations

from typing import Any

from billing import subscriptions
from billing.periods import INTERVALS
from billing.subscriptions import PRICE_MODELS, STATUSES, Subscription
from gateway.api.billing_fields import (
    AMOUNT,
    CURRENCY,
    CURRENCY_INPUT,
    METADATA,
    OPTIONAL_TIMESTAMP,
    TIMESTAMP,
    id_schema,
)
from gateway.api.framework import ApiContext, ApiRoutes, Page, QueryParam

routes = ApiRoutes()
TAX_RATE = {
    "type": "integer",
    "minimum": 0,
    "maximum": 10_000,
    "description": "Tax rate in basis points (2000 = 20%), added to every period's invoice.",
}
TAG = "subscriptions"

SUBSCRIPTION_ITEM = routes.schema(
    "SubscriptionItem",
    {
        "type": "object",
        "required": [
            "id",
            "name",
            "price_model",
            "unit_amount",
            "quantity",
            "interval",
            "interval_count",
            "amount",
        ],
        "properties": {
            "id": id_schema("si"),
            "name": {"type": "string"},
            "price_model": {"enum": list(PRICE_MODELS)},
            "unit_amount": AMOUNT,
            "quantity": {"type": "integer"},
            "interval": {"enum": list(INTERVALS)},
            "interval_count": {"type": "integer"},
            "tax_rate_bps": TAX_RATE,
            "amount": {**AMOUNT, "description": "What this item costs per period, before tax."},
        },
    },
)
UPCOMING_LINE = routes.schema(
    "UpcomingInvoiceLine",
    {
        "type": "object",
        "required": ["description", "quantity", "unit_amount", "amount", "period_start"],
        "properties": {
            "description": {"type": "string"},
            "quantity": {"type": "integer"},
            "unit_amount": AMOUNT,
            "amount": AMOUNT,
            "tax_rate_bps": TAX_RATE,
            "period_start": TIMESTAMP,
            "period_end": TIMESTAMP,
        },
    },
)
SUBSCRIPTION = routes.schema(
    "Subscription",
    {
        "type": "object",
        "required": [
            "id",
            "object",
            "customer",
            "status",
            "plan_name",
            "currency",
            "items",
            "current_period_start",
            "current_period_end",
            "cancel_at_period_end",
            "canceled_at",
            "trial_end",
            "upcoming_invoice",
            "metadata",
            "created_at",
        ],
        "properties": {
            "id": id_schema("sub"),
            "object": {"const": "subscription"},
            "customer": id_schema("cus"),
            "status": {"enum": list(STATUSES)},
            "plan_name": {"type": "string"},
            "currency": CURRENCY,
            "items": {"type": "array", "items": SUBSCRIPTION_ITEM},
            "current_period_start": TIMESTAMP,
            "current_period_end": TIMESTAMP,
            "cancel_at_period_end": {"type": "boolean"},
            "canceled_at": OPTIONAL_TIMESTAMP,
            "trial_end": OPTIONAL_TIMESTAMP,
            "upcoming_invoice": {
                "type": "object",
                "description": "What the next invoice will contain (empty once canceling).",
                "required": ["currency", "subtotal", "tax", "total", "lines"],
                "properties": {
                    "currency": CURRENCY,
                    "subtotal": AMOUNT,
                    "tax": AMOUNT,
                    "total": AMOUNT,
                    "lines": {"type": "array", "items": UPCOMING_LINE},
                },
            },
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
    },
)
SUBSCRIPTION_CREATE = routes.schema(
    "SubscriptionCreate",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["customer", "plan_name", "items"],
        "properties": {
            "customer": {"type": "string", "maxLength": 100},
            "plan_name": {"type": "string", "minLength": 1, "maxLength": 200},
            "currency": {
                **CURRENCY_INPUT,
                "description": "Defaults to the customer's currency.",
            },
            "items": {
                "type": "array",
                "minItems": 1,
                "maxItems": subscriptions.MAX_ITEMS,
                "description": "Every item must share the first item's interval.",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "unit_amount"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 200},
                        "unit_amount": {**AMOUNT, "minimum": 0},
                        "quantity": {"type": "integer", "minimum": 1, "default": 1},
                        "interval": {"enum": list(INTERVALS), "default": "month"},
                        "interval_count": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": 36,
                            "default": 1,
                        },
                        "price_model": {"enum": list(PRICE_MODELS), "default": "per_unit"},
                        "tax_rate_bps": {**TAX_RATE, "default": 0},
                    },
                },
            },
            "trial_days": {"type": "integer", "minimum": 1, "maximum": 730},
            "start": {**TIMESTAMP, "description": "Defaults to now; within a year of now."},
            "metadata": METADATA,
        },
    },
)
CANCEL = routes.schema(
    "SubscriptionCancel",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "at_period_end": {
                "type": "boolean",
                "default": False,
                "description": "Keep it until the current period ends instead of now.",
            }
        },
    },
)


def subscription_json(subscription: Subscription) -> dict[str, Any]:
    lines = subscriptions.upcoming_invoice_lines(subscription)
    return {
        "id": subscription.id,
        "object": "subscription",
        "customer": subscription.customer_id,
        "status": subscription.status,
        "plan_name": subscription.plan_name,
        "currency": subscription.currency,
        "items": [
            {
                "id": item.id,
                "name": item.name,
                "price_model": item.price_model,
                "unit_amount": item.unit_amount,
                "quantity": item.quantity,
                "interval": item.billing_interval,
                "interval_count": item.interval_count,
                "tax_rate_bps": item.tax_rate_bps,
                "amount": item.amount,
            }
            for item in subscription.items
        ],
        "current_period_start": subscription.current_period_start,
        "current_period_end": subscription.current_period_end,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "canceled_at": subscription.canceled_at,
        "trial_end": subscription.trial_end,
        "upcoming_invoice": {
            "currency": subscription.currency,
            "subtotal": sum(line.amount for line in lines),
            "tax": sum(line.tax for line in lines),
            "total": sum(line.amount + line.tax for line in lines),
            "lines": lines,
        },
        "metadata": subscription.metadata,
        "created_at": subscription.created_at,
        "updated_at": subscription.updated_at,
    }


@routes.operation(
    "POST",
    "/subscriptions",
    summary="Subscribe a customer to a plan",
    tag=TAG,
    request=SUBSCRIPTION_CREATE,
    response=SUBSCRIPTION,
    status=201,
)
async def create_subscription(context: ApiContext) -> dict[str, Any]:
    subscription = await subscriptions.create_subscription(
        context.pool, tenant_id=context.tenant.id, data=context.body
    )
    return subscription_json(subscription)


@routes.operation(
    "GET",
    "/subscriptions",
    summary="List subscriptions, newest first",
    tag=TAG,
    response=SUBSCRIPTION,
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
    return Page([subscription_json(s) for s in found], has_more=has_more)


@routes.operation(
    "GET", "/subscriptions/{id}", summary="Read a subscription", tag=TAG, response=SUBSCRIPTION
)
async def get_subscription(context: ApiContext) -> dict[str, Any]:
    subscription = await subscriptions.get_subscription(
        context.pool, tenant_id=context.tenant.id, subscription_id=context.path("id")
    )
    return subscription_json(subscription)


@routes.operation(
    "POST",
    "/subscriptions/{id}/cancel",
    summary="Cancel a subscription now or at the end of its period",
    tag=TAG,
    request=CANCEL,
    response=SUBSCRIPTION,
)
async def cancel_subscription(context: ApiContext) -> dict[str, Any]:
    subscription = await subscriptions.cancel_subscription(
        context.pool,
        tenant_id=context.tenant.id,
        subscription_id=context.path("id"),
        at_period_end=bool(context.body.get("at_period_end", False)),
    )
    return subscription_json(subscription)

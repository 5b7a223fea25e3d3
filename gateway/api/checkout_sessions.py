"""API resources for checkout sessions: create, list, read (with the hosted URL), expire."""

from __future__ import annotations

from typing import Any

from billing import checkout_sessions
from billing.checkout_sessions import STATUSES, CheckoutSession
from billing.customers import SUPPORTED_LANGUAGES
from billing.periods import INTERVALS
from gateway.api.billing_fields import (
    AMOUNT,
    CURRENCY,
    CURRENCY_INPUT,
    METADATA,
    OPTIONAL_STRING,
    OPTIONAL_TIMESTAMP,
    TIMESTAMP,
    id_schema,
    tenant_base_url,
)
from gateway.api.framework import ApiContext, ApiRoutes, Page, QueryParam

routes = ApiRoutes()
TAG = "checkout_sessions"

TAX_RATE_BPS = {
    "type": "integer",
    "minimum": 0,
    "maximum": checkout_sessions.MAX_TAX_RATE_BPS,
    "description": "Tax rate in basis points (2000 = 20%); the line's tax is rounded half-up "
    "to a minor unit and added to what is charged.",
}
LINE_ITEM = {
    "type": "object",
    "required": ["name", "unit_amount", "quantity", "interval", "interval_count", "tax_rate_bps"],
    "properties": {
        "name": {"type": "string"},
        "unit_amount": AMOUNT,
        "quantity": {"type": "integer"},
        "interval": {"enum": [*INTERVALS, None], "description": "null: charged once."},
        "interval_count": {"type": "integer"},
        "tax_rate_bps": TAX_RATE_BPS,
    },
}
CUSTOMER_DETAILS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "description": "A new customer, created when the session completes.",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "email": {"type": "string", "maxLength": 254},
        "country": {"type": "string", "maxLength": 2},
        "language": {"enum": list(SUPPORTED_LANGUAGES)},
    },
}
CHECKOUT_SESSION = routes.schema(
    "CheckoutSession",
    {
        "type": "object",
        "required": [
            "id",
            "object",
            "url",
            "status",
            "customer",
            "customer_details",
            "currency",
            "line_items",
            "amount_subtotal",
            "amount_tax",
            "amount_total",
            "trial_days",
            "success_url",
            "cancel_url",
            "expires_at",
            "created_at",
        ],
        "properties": {
            "id": id_schema("cs"),
            "object": {"const": "checkout_session"},
            "url": {"type": "string", "format": "uri", "description": "Send the customer here."},
            "status": {"enum": list(STATUSES)},
            "customer": {"type": ["string", "null"]},
            "customer_details": {
                "type": ["object", "null"],
                "additionalProperties": {"type": "string"},
            },
            "currency": CURRENCY,
            "line_items": {"type": "array", "items": LINE_ITEM},
            "amount_subtotal": {**AMOUNT, "description": "amount_total before tax."},
            "amount_tax": {**AMOUNT, "description": "The tax in amount_total (per line, rounded)."},
            "amount_total": {
                **AMOUNT,
                "description": "Charged at completion, tax included: one-off items, plus "
                "recurring ones unless a trial defers them.",
            },
            "trial_days": {"type": ["integer", "null"]},
            "success_url": {"type": "string"},
            "cancel_url": OPTIONAL_STRING,
            "expires_at": TIMESTAMP,
            "completed_at": OPTIONAL_TIMESTAMP,
            "subscription": {"type": ["string", "null"]},
            "invoice": {"type": ["string", "null"]},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
    },
)
REDIRECT_URL = {
    "type": "string",
    "maxLength": checkout_sessions.MAX_URL,
    "description": "Absolute https URL (http only for localhost).",
}
CHECKOUT_SESSION_CREATE = routes.schema(
    "CheckoutSessionCreate",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["line_items", "success_url"],
        "description": "Give either customer (an existing one) or customer_details.",
        "properties": {
            "customer": {"type": "string", "maxLength": 100},
            "customer_details": CUSTOMER_DETAILS,
            "line_items": {
                "type": "array",
                "minItems": 1,
                "maxItems": checkout_sessions.MAX_LINE_ITEMS,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "unit_amount"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 200},
                        "unit_amount": {**AMOUNT, "minimum": 0},
                        "quantity": {"type": "integer", "minimum": 1, "default": 1},
                        "interval": {
                            "enum": list(INTERVALS),
                            "description": "Makes the item recurring.",
                        },
                        "interval_count": {"type": "integer", "minimum": 1, "maximum": 36},
                        "tax_rate_bps": {**TAX_RATE_BPS, "default": 0},
                        "currency": {
                            **CURRENCY_INPUT,
                            "description": "Optional; when given, the session's currency "
                            "(every item must name the same one).",
                        },
                    },
                },
            },
            "currency": {
                **CURRENCY_INPUT,
                "description": "Defaults to the line items' currency, else the customer's, "
                "else your default currency.",
            },
            "trial_days": {"type": "integer", "minimum": 1, "maximum": 730},
            "success_url": REDIRECT_URL,
            "cancel_url": REDIRECT_URL,
            "expires_at": {
                **TIMESTAMP,
                "description": "30 minutes to 24 hours from now; defaults to 24 hours.",
            },
            "metadata": METADATA,
        },
    },
)


def session_json(session: CheckoutSession, base_url: str) -> dict[str, Any]:
    return {
        "id": session.id,
        "object": "checkout_session",
        "url": f"{base_url}/checkout/{session.id}",
        "status": session.status,
        "customer": session.customer_id,
        "customer_details": session.customer_details,
        "currency": session.currency,
        "line_items": [item.as_json() for item in session.line_items],
        "amount_subtotal": session.amount_subtotal,
        "amount_tax": session.amount_tax,
        "amount_total": session.amount_total,
        "trial_days": session.trial_days,
        "success_url": session.success_url,
        "cancel_url": session.cancel_url,
        "expires_at": session.expires_at,
        "completed_at": session.completed_at,
        "subscription": session.subscription_id,
        "invoice": session.invoice_id,
        "metadata": session.metadata,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
    }


@routes.operation(
    "POST",
    "/checkout_sessions",
    summary="Create a hosted checkout session",
    tag=TAG,
    request=CHECKOUT_SESSION_CREATE,
    response=CHECKOUT_SESSION,
    status=201,
)
async def create_checkout_session(context: ApiContext) -> dict[str, Any]:
    session = await checkout_sessions.create_checkout_session(
        context.pool,
        tenant_id=context.tenant.id,
        default_currency=context.tenant.default_currency,
        data=context.body,
    )
    return session_json(session, await tenant_base_url(context))


@routes.operation(
    "GET",
    "/checkout_sessions",
    summary="List checkout sessions, newest first",
    tag=TAG,
    response=CHECKOUT_SESSION,
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
    return Page([session_json(s, base_url) for s in found], has_more=has_more)


@routes.operation(
    "GET",
    "/checkout_sessions/{id}",
    summary="Read a checkout session",
    tag=TAG,
    response=CHECKOUT_SESSION,
)
async def get_checkout_session(context: ApiContext) -> dict[str, Any]:
    session = await checkout_sessions.get_checkout_session(
        context.pool, tenant_id=context.tenant.id, session_id=context.path("id")
    )
    return session_json(session, await tenant_base_url(context))


@routes.operation(
    "POST",
    "/checkout_sessions/{id}/expire",
    summary="Expire an open checkout session now",
    tag=TAG,
    response=CHECKOUT_SESSION,
)
async def expire_checkout_session(context: ApiContext) -> dict[str, Any]:
    session = await checkout_sessions.expire_checkout_session(
        context.pool, tenant_id=context.tenant.id, session_id=context.path("id")
    )
    return session_json(session, await tenant_base_url(context))

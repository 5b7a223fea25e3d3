"""API resources for customers: create, list, read, update billing info, cards, portal link."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from billing import customers, payment_methods, portal_sessions
from billing.customers import SUPPORTED_LANGUAGES, Customer
from billing.payment_methods import PaymentMethod
from gateway.api.billing_fields import (
    CURRENCY,
    CURRENCY_INPUT,
    METADATA,
    OPTIONAL_STRING,
    OPTIONAL_TIMESTAMP,
    TIMESTAMP,
    id_schema,
    tenant_base_url,
)
from gateway.api.framework import ApiContext, ApiRoutes, Page, QueryParam, list_schema

routes = ApiRoutes()
TAG = "customers"

ADDRESS = routes.schema(
    "Address",
    {
        "type": "object",
        "required": ["line1", "line2", "city", "postal_code", "state", "country"],
        "properties": {
            "line1": OPTIONAL_STRING,
            "line2": OPTIONAL_STRING,
            "city": OPTIONAL_STRING,
            "postal_code": OPTIONAL_STRING,
            "state": OPTIONAL_STRING,
            "country": {
                "type": ["string", "null"],
                "description": "ISO 3166-1 alpha-2 code, such as FR.",
            },
        },
    },
)
ADDRESS_INPUT = routes.schema(
    "AddressInput",
    {
        "type": ["object", "null"],
        "additionalProperties": False,
        "description": "Sub-fields left out keep their value; null clears one.",
        "properties": {
            "line1": {"type": ["string", "null"], "maxLength": 200},
            "line2": {"type": ["string", "null"], "maxLength": 200},
            "city": {"type": ["string", "null"], "maxLength": 100},
            "postal_code": {"type": ["string", "null"], "maxLength": 20},
            "state": {"type": ["string", "null"], "maxLength": 100},
            "country": {"type": ["string", "null"], "maxLength": 2},
        },
    },
)
CUSTOMER = routes.schema(
    "Customer",
    {
        "type": "object",
        "required": [
            "id",
            "object",
            "name",
            "email",
            "address",
            "vat_number",
            "language",
            "currency",
            "metadata",
            "created_at",
            "updated_at",
        ],
        "properties": {
            "id": id_schema("cus"),
            "object": {"const": "customer"},
            "name": {"type": "string"},
            "email": OPTIONAL_STRING,
            "address": ADDRESS,
            "vat_number": OPTIONAL_STRING,
            "language": {"type": "string"},
            "currency": CURRENCY,
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
    },
)
BILLING_INFO_PROPERTIES = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "email": {"type": ["string", "null"], "maxLength": 254},
    "address": ADDRESS_INPUT,
    "vat_number": {
        "type": ["string", "null"],
        "maxLength": 40,
        "description": "Checked against the format of address.country; needs a country.",
    },
    "language": {"enum": list(SUPPORTED_LANGUAGES)},
}
CUSTOMER_CREATE = routes.schema(
    "CustomerCreate",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            **BILLING_INFO_PROPERTIES,
            "currency": {**CURRENCY_INPUT, "description": "Defaults to your default currency."},
            "metadata": METADATA,
        },
    },
)
CUSTOMER_UPDATE = routes.schema(
    "CustomerBillingInfoUpdate",
    {"type": "object", "additionalProperties": False, "properties": BILLING_INFO_PROPERTIES},
)
PAYMENT_METHOD = routes.schema(
    "PaymentMethod",
    {
        "type": "object",
        "required": ["id", "object", "customer", "type", "card", "is_default", "created_at"],
        "properties": {
            "id": id_schema("pm"),
            "object": {"const": "payment_method"},
            "customer": id_schema("cus"),
            "type": {"const": "card"},
            "card": {
                "type": "object",
                "required": ["brand", "last4", "exp_month", "exp_year"],
                "properties": {
                    "brand": {"type": "string"},
                    "last4": {"type": "string", "pattern": "^[0-9]{4}$"},
                    "exp_month": {"type": "integer", "minimum": 1, "maximum": 12},
                    "exp_year": {"type": "integer"},
                },
            },
            "is_default": {"type": "boolean"},
            "created_at": TIMESTAMP,
        },
    },
)
PORTAL_LINK = routes.schema(
    "PortalLink",
    {
        "type": "object",
        "required": ["object", "customer", "url"],
        "properties": {
            "object": {"const": "portal_link"},
            "customer": id_schema("cus"),
            "url": {"type": "string", "format": "uri"},
        },
    },
)


def customer_json(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "object": "customer",
        "name": customer.name,
        "email": customer.email,
        "address": {
            "line1": customer.address_line1,
            "line2": customer.address_line2,
            "city": customer.city,
            "postal_code": customer.postal_code,
            "state": customer.state,
            "country": customer.country,
        },
        "vat_number": customer.vat_number,
        "language": customer.language,
        "currency": customer.currency,
        "metadata": customer.metadata,
        "created_at": customer.created_at,
        "updated_at": customer.updated_at,
    }


def payment_method_json(method: PaymentMethod) -> dict[str, Any]:
    return {
        "id": method.id,
        "object": "payment_method",
        "customer": method.customer_id,
        "type": "card",
        "card": {
            "brand": method.brand,
            "last4": method.last4,
            "exp_month": method.exp_month,
            "exp_year": method.exp_year,
        },
        "is_default": method.is_default,
        "created_at": method.created_at,
    }


@routes.operation(
    "POST",
    "/customers",
    summary="Create a customer",
    tag=TAG,
    request=CUSTOMER_CREATE,
    response=CUSTOMER,
    status=201,
)
async def create_customer(context: ApiContext) -> dict[str, Any]:
    customer = await customers.create_customer(
        context.pool,
        tenant_id=context.tenant.id,
        default_currency=context.tenant.default_currency,
        data=context.body,
    )
    return customer_json(customer)


@routes.operation(
    "GET",
    "/customers",
    summary="List customers, newest first",
    tag=TAG,
    response=CUSTOMER,
    paginated=True,
    query=[QueryParam("email", {"type": "string", "maxLength": 254}, "Exact e-mail address.")],
)
async def list_customers(context: ApiContext) -> Page:
    found, has_more = await customers.list_customers(
        context.pool,
        tenant_id=context.tenant.id,
        limit=context.limit,
        starting_after=context.starting_after,
        email=context.query.get("email"),
    )
    return Page([customer_json(c) for c in found], has_more=has_more)


@routes.operation("GET", "/customers/{id}", summary="Read a customer", tag=TAG, response=CUSTOMER)
async def get_customer(context: ApiContext) -> dict[str, Any]:
    customer = await customers.get_customer(
        context.pool, tenant_id=context.tenant.id, customer_id=context.path("id")
    )
    return customer_json(customer)


@routes.operation(
    "PATCH",
    "/customers/{id}",
    summary="Change a customer's billing information",
    tag=TAG,
    request=CUSTOMER_UPDATE,
    response=CUSTOMER,
)
async def update_customer(context: ApiContext) -> dict[str, Any]:
    customer = await customers.update_billing_info(
        context.pool,
        tenant_id=context.tenant.id,
        customer_id=context.path("id"),
        changes=context.body,
    )
    return customer_json(customer)


@routes.operation(
    "GET",
    "/customers/{id}/payment_methods",
    summary="List a customer's saved payment methods, the default first",
    tag=TAG,
    response=list_schema(PAYMENT_METHOD),
)
async def list_customer_payment_methods(context: ApiContext) -> dict[str, Any]:
    methods = await payment_methods.list_payment_methods(
        context.pool, tenant_id=context.tenant.id, customer_id=context.path("id")
    )
    return {
        "object": "list",
        "data": [payment_method_json(m) for m in methods],
        "has_more": False,
        "next_cursor": None,
    }


@routes.operation(
    "GET",
    "/customers/{id}/portal",
    summary="The customer's portal URL on your domain",
    tag=TAG,
    response=PORTAL_LINK,
)
async def get_customer_portal_link(context: ApiContext) -> dict[str, Any]:
    customer = await customers.get_customer(
        context.pool, tenant_id=context.tenant.id, customer_id=context.path("id")
    )
    return {
        "object": "portal_link",
        "customer": customer.id,
        "url": await tenant_base_url(context) + f"/portal/{customer.id}",
    }


PORTAL_SESSION_CREATE = routes.schema(
    "PortalSessionCreate",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "ttl_seconds": {
                "type": "integer",
                "minimum": portal_sessions.MIN_TTL_SECONDS,
                "maximum": portal_sessions.MAX_TTL_SECONDS,
                "description": "How long the link works; defaults to your portal link TTL.",
            }
        },
    },
)
PORTAL_SESSION = routes.schema(
    "PortalSession",
    {
        "type": "object",
        "required": ["id", "object", "customer", "expires_at", "revoked_at"],
        "properties": {
            "id": {
                "type": "string",
                "pattern": "^[0-9a-f]{64}$",
                "description": "Names the session to revoke it; the token is never shown again.",
            },
            "object": {"const": "portal_session"},
            "customer": id_schema("cus"),
            "url": {
                "type": "string",
                "format": "uri",
                "description": "The signed portal link (only when the session is created).",
            },
            "expires_at": TIMESTAMP,
            "revoked_at": OPTIONAL_TIMESTAMP,
        },
    },
)


@routes.operation(
    "POST",
    "/customers/{id}/portal_sessions",
    summary="Create a signed portal link that expires (revoke it with DELETE)",
    tag=TAG,
    request=PORTAL_SESSION_CREATE,
    response=PORTAL_SESSION,
    status=201,
)
async def create_portal_session(context: ApiContext) -> dict[str, Any]:
    ttl = context.body.get("ttl_seconds", context.tenant.portal.link_ttl_seconds)
    customer_id = context.path("id")
    token, expires_at = await portal_sessions.create_portal_session(
        context.pool, tenant_id=context.tenant.id, customer_id=customer_id, ttl_seconds=ttl
    )
    query = urlencode({"token": token})
    return {
        "id": portal_sessions.session_id(token),
        "object": "portal_session",
        "customer": customer_id,
        "url": await tenant_base_url(context) + f"/portal/{customer_id}?{query}",
        "expires_at": expires_at,
        "revoked_at": None,
    }


@routes.operation(
    "DELETE",
    "/customers/{id}/portal_sessions/{session_id}",
    summary="Revoke a signed portal link at once (idempotent)",
    tag=TAG,
    response=PORTAL_SESSION,
)
async def revoke_portal_session(context: ApiContext) -> dict[str, Any]:
    session = await portal_sessions.revoke(
        context.pool,
        tenant_id=context.tenant.id,
        customer_id=context.path("id"),
        session_id=context.path("session_id"),
    )
    return {
        "id": session.id,
        "object": "portal_session",
        "customer": session.customer_id,
        "expires_at": session.expires_at,
        "revoked_at": session.revoked_at,
    }

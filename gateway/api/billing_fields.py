"""JSON Schema fragments and links shared by the billing resources of the tenant API."""

from __future__ import annotations

from gateway.api.framework import ApiContext, JsonSchema
from gateway.tenants.domains import active_domain

TIMESTAMP: JsonSchema = {"type": "string", "format": "date-time"}
OPTIONAL_TIMESTAMP: JsonSchema = {"type": ["string", "null"], "format": "date-time"}
CURRENCY: JsonSchema = {
    "type": "string",
    "pattern": "^[A-Z]{3}$",
    "description": "ISO 4217 currency code.",
}
CURRENCY_INPUT: JsonSchema = {
    "type": "string",
    "minLength": 3,
    "maxLength": 3,
    "description": "ISO 4217 currency code, such as EUR.",
}
AMOUNT: JsonSchema = {
    "type": "integer",
    "description": "Amount in the currency's minor unit (cents for EUR, yen for JPY).",
}
METADATA: JsonSchema = {
    "type": "object",
    "maxProperties": 50,
    "additionalProperties": {"type": "string", "maxLength": 500},
    "description": "Your own string labels; at most 50 keys.",
}
OPTIONAL_STRING: JsonSchema = {"type": ["string", "null"]}


def id_schema(prefix: str) -> JsonSchema:
    return {"type": "string", "pattern": f"^{prefix}_"}


async def tenant_base_url(context: ApiContext) -> str:
    """Base URL of the tenant's hosted pages: its active custom domain, else its default host."""
    domain = await active_domain(context.pool, tenant_id=context.tenant.id)
    if domain is not None:
        return f"https://{domain}"
    return context.settings.public_url(f"{context.tenant.slug}.{context.settings.base_domain}")

"""Types shared by the tenant API's models (timestamps, money, ids) and the tenant's base URL."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from gateway.api.framework import ApiContext
from gateway.tenants.domains import active_domain


class Resource(BaseModel):
    """Base of response models: exactly the declared fields, each always present."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


def _iso(value: datetime) -> str:
    return value.isoformat()


_DATE_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
Timestamp = Annotated[
    datetime, PlainSerializer(_iso, return_type=str, when_used="json"), WithJsonSchema(_DATE_TIME)
]
Currency = Annotated[str, Field(pattern="^[A-Z]{3}$", description="ISO 4217 currency code.")]
# Only the shape here: whether the currency is supported is checked with the other
# currency rules (items that must agree, the customer's currency) in billing.
CurrencyInput = Annotated[
    str, Field(min_length=3, max_length=3, description="ISO 4217 currency code, such as EUR.")
]
Amount = Annotated[
    int, Field(description="Amount in the currency's minor unit (cents for EUR, yen for JPY).")
]
CustomerId = Annotated[str, Field(pattern="^cus_")]
SubscriptionId = Annotated[str, Field(pattern="^sub_")]
InvoiceId = Annotated[str, Field(pattern="^in_")]
PaymentMethodId = Annotated[str, Field(pattern="^pm_")]
WalletId = Annotated[str, Field(pattern="^wal_")]
CheckoutSessionId = Annotated[str, Field(pattern="^cs_")]
DomainId = Annotated[str, Field(pattern="^dom_")]
Labels = dict[str, str]


async def tenant_base_url(context: ApiContext) -> str:
    """Base URL of the tenant's hosted pages: its active custom domain, else its default host."""
    domain = await active_domain(context.pool, tenant_id=context.tenant.id)
    if domain is not None:
        return f"https://{domain}"
    return context.settings.public_url(f"{context.tenant.slug}.{context.settings.base_domain}")

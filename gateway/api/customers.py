"""API resources for customers: create, list, read, update billing info, cards, portal link."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlencode

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from billing import customers, payment_methods, payment_methods_service, portal_sessions
from billing.fields import (
    AddressInput,
    Email,
    Language,
    Metadata,
    Name,
    Request,
    VatNumber,
    optional,
    vat_fits_country,
)
from gateway.api.billing_fields import (
    Currency,
    CurrencyInput,
    CustomerId,
    PaymentMethodId,
    Resource,
    Timestamp,
    tenant_base_url,
)
from gateway.api.framework import ApiContext, ApiRoutes, Page
from gateway.api.query import QueryParam

routes = ApiRoutes()
TAG = "customers"


class Address(Resource):
    line1: str | None
    line2: str | None
    city: str | None
    postal_code: str | None
    state: str | None
    country: str | None = Field(description="ISO 3166-1 alpha-2 code, such as FR.")


class Customer(Resource):
    """A customer of yours and its billing information."""

    id: CustomerId
    object: Literal["customer"] = "customer"
    name: str
    email: str | None
    address: Address
    vat_number: str | None
    language: str
    currency: Currency
    metadata: dict[str, str]
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, customer: customers.Customer) -> Customer:
        address = Address(**customers.address_of(customer))
        copied = {
            name: getattr(customer, name)
            for name in cls.model_fields
            if name not in ("object", "address")
        }
        return cls(**copied, address=address)


class CustomerBillingInfoUpdate(Request):
    """Billing fields to change; fields left out keep their value."""

    name: Name = optional()
    email: Email | None = None
    address: AddressInput | None = None
    vat_number: VatNumber | None = None
    language: Language = optional()

    # A new customer's VAT number needs a country; a change is checked against the
    # country sent with it, else by the service against the stored one.
    country_required: ClassVar[bool] = False

    @field_validator("vat_number")
    @classmethod
    def _vat_fits_country(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "address" in info.data:  # else the address itself is wrong and says so
            vat_fits_country(value, info.data["address"], country_required=cls.country_required)
        return value


class CustomerCreate(CustomerBillingInfoUpdate):
    """A new customer; only the name is required."""

    country_required: ClassVar[bool] = True

    name: Name
    currency: CurrencyInput = optional(description="Defaults to your default currency.")
    metadata: Metadata | None = None


class Card(Resource):
    brand: str
    last4: Annotated[str, Field(pattern="^[0-9]{4}$")]
    exp_month: Annotated[int, Field(ge=1, le=12)]
    exp_year: int


class PaymentMethod(Resource):
    """A saved card (the number itself stays with Stripe)."""

    id: PaymentMethodId
    object: Literal["payment_method"] = "payment_method"
    customer: CustomerId
    type: Literal["card"] = "card"
    card: Card
    is_default: bool
    created_at: Timestamp

    @classmethod
    def of(cls, method: payment_methods.PaymentMethod) -> PaymentMethod:
        card = Card(
            brand=method.brand,
            last4=method.last4,
            exp_month=method.exp_month,
            exp_year=method.exp_year,
        )
        return cls(
            id=method.id,
            customer=method.customer_id,
            card=card,
            is_default=method.is_default,
            created_at=method.created_at,
        )


class PaymentMethodList(Resource):
    object: Literal["list"] = "list"
    data: list[PaymentMethod]
    has_more: bool = False
    next_cursor: str | None = None


class PortalLink(Resource):
    object: Literal["portal_link"] = "portal_link"
    customer: CustomerId
    url: Annotated[str, Field(json_schema_extra={"format": "uri"})]


@routes.operation(
    "POST",
    "/customers",
    summary="Create a customer",
    tag=TAG,
    request=CustomerCreate,
    response=Customer,
    status=201,
)
async def create_customer(context: ApiContext) -> Customer:
    customer = await customers.create_customer(
        context.pool,
        tenant_id=context.tenant.id,
        default_currency=context.tenant.default_currency,
        data=context.body,
    )
    return Customer.of(customer)


@routes.operation(
    "GET",
    "/customers",
    summary="List customers, newest first",
    tag=TAG,
    response=Customer,
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
    return Page([Customer.of(c) for c in found], has_more=has_more)


@routes.operation("GET", "/customers/{id}", summary="Read a customer", tag=TAG, response=Customer)
async def get_customer(context: ApiContext) -> Customer:
    customer = await customers.get_customer(
        context.pool, tenant_id=context.tenant.id, customer_id=context.path("id")
    )
    return Customer.of(customer)


@routes.operation(
    "PATCH",
    "/customers/{id}",
    summary="Change a customer's billing information",
    tag=TAG,
    request=CustomerBillingInfoUpdate,
    response=Customer,
)
async def update_customer(context: ApiContext) -> Customer:
    customer = await customers.update_billing_info(
        context.pool,
        tenant_id=context.tenant.id,
        customer_id=context.path("id"),
        changes=context.body,
    )
    return Customer.of(customer)


@routes.operation(
    "GET",
    "/customers/{id}/payment_methods",
    summary="List a customer's saved payment methods, the default first",
    tag=TAG,
    response=PaymentMethodList,
)
async def list_customer_payment_methods(context: ApiContext) -> PaymentMethodList:
    methods = await payment_methods.list_payment_methods(
        context.pool, tenant_id=context.tenant.id, customer_id=context.path("id")
    )
    return PaymentMethodList(data=[PaymentMethod.of(m) for m in methods])


@routes.operation(
    "POST",
    "/customers/{id}/payment_methods/{payment_method}/default",
    summary="Make one of the customer's cards the default that future payments use",
    tag=TAG,
    response=PaymentMethod,
)
async def make_default_payment_method(context: ApiContext) -> PaymentMethod:
    method = await payment_methods_service.set_default_card(
        context.pool,
        tenant_id=context.tenant.id,
        customer_id=context.path("id"),
        payment_method_id=context.path("payment_method"),
    )
    return PaymentMethod.of(method)


@routes.operation(
    "GET",
    "/customers/{id}/portal",
    summary="The customer's portal URL on your domain",
    tag=TAG,
    response=PortalLink,
)
async def get_customer_portal_link(context: ApiContext) -> PortalLink:
    customer = await customers.get_customer(
        context.pool, tenant_id=context.tenant.id, customer_id=context.path("id")
    )
    url = await tenant_base_url(context) + f"/portal/{customer.id}"
    return PortalLink(customer=customer.id, url=url)


class PortalSessionCreate(Request):
    ttl_seconds: Annotated[
        int, Field(ge=portal_sessions.MIN_TTL_SECONDS, le=portal_sessions.MAX_TTL_SECONDS)
    ] = optional(description="How long the link works; defaults to your portal link TTL.")


def _url_only_when_created(schema: dict[str, Any]) -> None:
    schema["required"] = [name for name in schema.get("required", []) if name != "url"]


class PortalSession(Resource):
    model_config = ConfigDict(json_schema_extra=_url_only_when_created)
    id: str = Field(
        pattern="^[0-9a-f]{64}$",
        description="Names the session to revoke it; the token is never shown again.",
    )
    object: Literal["portal_session"] = "portal_session"
    customer: CustomerId
    url: str | None = optional(
        exclude_if=lambda url: url is None,
        json_schema_extra={"format": "uri"},
        description="The signed portal link (only when the session is created).",
    )
    expires_at: Timestamp
    revoked_at: Timestamp | None


@routes.operation(
    "POST",
    "/customers/{id}/portal_sessions",
    summary="Create a signed portal link that expires (revoke it with DELETE)",
    tag=TAG,
    request=PortalSessionCreate,
    response=PortalSession,
    status=201,
)
async def create_portal_session(context: ApiContext) -> PortalSession:
    ttl = context.body.get("ttl_seconds", context.tenant.portal.link_ttl_seconds)
    customer_id = context.path("id")
    token, expires_at = await portal_sessions.create_portal_session(
        context.pool, tenant_id=context.tenant.id, customer_id=customer_id, ttl_seconds=ttl
    )
    query = urlencode({"token": token})
    return PortalSession(
        id=portal_sessions.session_id(token),
        customer=customer_id,
        url=await tenant_base_url(context) + f"/portal/{customer_id}?{query}",
        expires_at=expires_at,
        revoked_at=None,
    )


@routes.operation(
    "DELETE",
    "/customers/{id}/portal_sessions/{session_id}",
    summary="Revoke a signed portal link at once (idempotent)",
    tag=TAG,
    response=PortalSession,
)
async def revoke_portal_session(context: ApiContext) -> PortalSession:
    session = await portal_sessions.revoke(
        context.pool,
        tenant_id=context.tenant.id,
        customer_id=context.path("id"),
        session_id=context.path("session_id"),
    )
    return PortalSession(
        id=session.id,
        customer=session.customer_id,
        expires_at=session.expires_at,
        revoked_at=session.revoked_at,
    )

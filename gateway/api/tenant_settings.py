"""API resources of the tenant itself: settings (brand, wallet, portal, Stripe keys) and icon."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from billing.fields import Request, optional
from gateway.api.billing_fields import Currency, Resource
from gateway.api.framework import ApiContext, ApiRoutes
from gateway.tenants import icons, registry
from gateway.tenants.brand import parse_brand_color
from gateway.tenants.errors import InvalidTenantInput
from gateway.tenants.models import Tenant

routes = ApiRoutes()


def _brand_color(value: str) -> str:
    try:
        return parse_brand_color(value)
    except InvalidTenantInput as error:
        raise PydanticCustomError(error.codes["brand_color"], error.errors["brand_color"]) from None


# The brand's own rule, so a wrong colour comes back with the body's other errors.
BrandColor = Annotated[str, AfterValidator(_brand_color)]
Money = Annotated[int, Field(ge=1, le=10**12)]
LinkMode = Literal["customer_id", "signed"]
LinkTtl = Annotated[int, Field(ge=60, le=2592000)]
WEBHOOK_URL = (
    "Where events are POSTed, signed (null: send none). It must be an "
    "https:// URL without a user name or password whose host is a public internet "
    "address or a name: loopback, private, link-local, shared (100.64.0.0/10), "
    "multicast and numeric forms such as 2130706433 are refused. Each delivery "
    "connects only to public addresses, follows no redirect, reads at most 64 KiB "
    "of the answer and counts only a 2xx status as delivered."
)


class WalletSettings(Resource):
    topups_enabled: bool = Field(description='Offer "Buy credits" in the portal.')
    topup_min: Money = Field(description="Smallest top-up, in minor units.")
    topup_max: Money = Field(description="Largest top-up per payment, in minor units.")
    max_balance: Money = Field(description="Largest wallet balance, in minor units.")
    pays_invoices: bool = Field(description="Customers may pay open invoices with credits.")


SUBSCRIPTION_CANCEL = (
    "Let customers cancel a subscription at the end of its current period, and resume "
    "it before then, from the portal (off by default)."
)


class PortalSettings(Resource):
    billing_edit_enabled: bool
    link_mode: LinkMode
    link_ttl_seconds: LinkTtl
    allow_no_payment_method: bool
    subscription_cancel_enabled: bool = Field(description=SUBSCRIPTION_CANCEL)


class WalletSettingsUpdate(Request):
    topups_enabled: bool = optional(description='Offer "Buy credits" in the portal.')
    topup_min: Money = optional(description="Smallest top-up, in minor units.")
    topup_max: Money = optional(description="Largest top-up per payment.")
    max_balance: Money = optional(description="Largest wallet balance.")
    pays_invoices: bool = optional(description="Customers may pay open invoices with credits.")


class PortalSettingsUpdate(Request):
    billing_edit_enabled: bool = optional()
    link_mode: LinkMode = optional()
    link_ttl_seconds: LinkTtl = optional()
    allow_no_payment_method: bool = optional()
    subscription_cancel_enabled: bool = optional(description=SUBSCRIPTION_CANCEL)


RetryDays = Annotated[
    list[Annotated[int, Field(ge=1, le=60)]],
    Field(max_length=10, description="Days after the first failed charge, rising."),
]
FinalAction = Literal["cancel", "unpaid"]
FINAL_ACTION = "After the last retry fails: cancel the subscription, or leave it unpaid."
WALLET_SPEND = "Pay renewal invoices from the customer's wallet before charging the card."


class DunningSettings(Resource):
    retry_days: RetryDays
    final_action: FinalAction = Field(description=FINAL_ACTION)
    wallet_spend_enabled: bool = Field(description=WALLET_SPEND)


class DunningSettingsUpdate(Request):
    retry_days: RetryDays = optional()
    final_action: FinalAction = optional(description=FINAL_ACTION)
    wallet_spend_enabled: bool = optional(description=WALLET_SPEND)


LEGAL = (
    "The seller as your invoices name it: EU invoices need the legal name, address and VAT "
    "number. The VAT number is checked for the shape of the country's numbers. A change "
    "reaches only invoices finalised afterwards; issued ones keep what they were issued with."
)
Text200 = Annotated[str, Field(max_length=200)] | None
Text100 = Annotated[str, Field(max_length=100)] | None


class LegalDetails(Resource):
    name: str | None
    address_line1: str | None
    address_line2: str | None
    postal_code: str | None
    city: str | None
    country: str | None = Field(description="ISO 3166-1 alpha-2, such as FR.")
    vat_number: str | None
    registration_number: str | None


class LegalDetailsUpdate(Request):
    name: Text200 = optional(description="Registered legal name.")
    address_line1: Text200 = optional()
    address_line2: Text200 = optional()
    postal_code: Annotated[str, Field(max_length=20)] | None = optional()
    city: Text100 = optional()
    country: Annotated[str, Field(max_length=2)] | None = optional(
        description="ISO 3166-1 alpha-2, such as FR."
    )
    vat_number: Annotated[str, Field(max_length=40)] | None = optional(
        description="With or without the country prefix; stored normalised (FR12345678901)."
    )
    registration_number: Text100 = optional(description="Company registration number.")


class StripeKeys(Request):
    secret_key: str = Field(json_schema_extra={"writeOnly": True})
    publishable_key: str


class TenantSettingsUpdate(Request):
    """Settings to change; fields left out keep their value."""

    name: Annotated[str, Field(min_length=1, max_length=200)] = optional()
    brand_color: BrandColor = optional(description="#RRGGBB")
    default_currency: Annotated[str, Field(min_length=3, max_length=3)] = optional()
    wallet: WalletSettingsUpdate = optional()
    portal: PortalSettingsUpdate = optional()
    dunning: DunningSettingsUpdate = optional()
    legal: LegalDetailsUpdate = optional(description=LEGAL)
    webhook_url: Annotated[str, Field(max_length=2000)] | None = optional(description=WEBHOOK_URL)
    stripe_webhook_secret: str | None = optional(
        json_schema_extra={"writeOnly": True},
        description="The signing secret Stripe shows for the endpoint in "
        "stripe_webhook_url; null clears it.",
    )
    stripe: StripeKeys = optional()


class TenantSettings(Resource):
    """Your brand, legal details, wallet, portal, dunning, webhook and Stripe settings."""

    slug: str
    name: str
    brand_color: str = Field(pattern="^#[0-9a-f]{6}$")
    icon_url: str | None
    default_currency: Currency
    wallet: WalletSettings
    portal: PortalSettings
    dunning: DunningSettings
    legal: LegalDetails = Field(description=LEGAL)
    webhook_url: str | None
    stripe_configured: bool
    stripe_webhook_url: str = Field(
        description="Register this endpoint in Stripe for payment_intent.succeeded."
    )
    stripe_webhook_secret_configured: bool


class WebhookSecret(Resource):
    secret: str | None


async def settings_of(context: ApiContext, tenant: Tenant) -> TenantSettings:
    stripe_key, stripe_webhook = await registry.stripe_configuration(
        context.pool, tenant_id=tenant.id
    )
    tenant_host = f"{tenant.slug}.{context.settings.base_domain}"
    icon_url = None
    if tenant.icon_etag:
        icon_url = context.settings.public_url(tenant_host) + f"/brand/icon?v={tenant.icon_etag}"
    return TenantSettings(
        slug=tenant.slug,
        name=tenant.name,
        brand_color=tenant.brand_color,
        icon_url=icon_url,
        default_currency=tenant.default_currency,
        wallet=WalletSettings.model_validate(tenant.wallet, from_attributes=True),
        portal=PortalSettings.model_validate(tenant.portal, from_attributes=True),
        dunning=DunningSettings(
            retry_days=list(tenant.dunning.retry_days),
            final_action=tenant.dunning.final_action,  # type: ignore[arg-type]
            wallet_spend_enabled=tenant.dunning.wallet_spend_enabled,
        ),
        legal=LegalDetails.model_validate(tenant.legal, from_attributes=True),
        webhook_url=tenant.webhook_url,
        stripe_configured=stripe_key,
        stripe_webhook_url=context.settings.secure_url(tenant_host)
        + f"/stripe/webhooks/{tenant.slug}",
        stripe_webhook_secret_configured=stripe_webhook,
    )


@routes.operation(
    "GET", "/settings", summary="Read your settings", tag="settings", response=TenantSettings
)
async def get_settings(context: ApiContext) -> TenantSettings:
    tenant = await registry.get_tenant(context.pool, context.tenant.id)
    return await settings_of(context, tenant)


@routes.operation(
    "PATCH",
    "/settings",
    summary="Change brand, legal details, wallet, portal, webhook or Stripe settings",
    tag="settings",
    request=TenantSettingsUpdate,
    response=TenantSettings,
)
async def update_settings(context: ApiContext) -> TenantSettings:
    tenant = await registry.apply_settings(
        context.pool,
        context.sealer,
        tenant_id=context.tenant.id,
        changes=context.body,
        allow_loopback_webhooks=context.settings.webhook_allow_loopback,
    )
    return await settings_of(context, tenant)


@routes.operation(
    "PUT",
    "/settings/icon",
    summary="Upload the brand icon (PNG, ICO or WebP; the type is read from the bytes)",
    tag="settings",
    response=TenantSettings,
    raw_body="image/png,image/x-icon,image/webp",
)
async def upload_icon(context: ApiContext) -> TenantSettings:
    data = await context.request.read()
    tenant = await icons.set_icon(
        context.pool,
        tenant_id=context.tenant.id,
        data=data,
        max_bytes=context.settings.max_icon_bytes,
    )
    return await settings_of(context, tenant)


@routes.operation(
    "DELETE",
    "/settings/icon",
    summary="Remove the brand icon",
    tag="settings",
    response=TenantSettings,
)
async def delete_icon(context: ApiContext) -> TenantSettings:
    tenant = await icons.remove_icon(context.pool, tenant_id=context.tenant.id)
    return await settings_of(context, tenant)


@routes.operation(
    "GET",
    "/settings/webhook_secret",
    summary="Read the secret that signs events sent to your webhook URL",
    tag="settings",
    response=WebhookSecret,
)
async def get_webhook_secret(context: ApiContext) -> WebhookSecret:
    secret = await registry.webhook_secret(
        context.pool, context.sealer, tenant_id=context.tenant.id
    )
    return WebhookSecret(secret=secret)


@routes.operation(
    "POST",
    "/settings/webhook_secret",
    summary="Create a new webhook signing secret (the old one stops working)",
    tag="settings",
    response=WebhookSecret,
)
async def rotate_webhook_secret(context: ApiContext) -> WebhookSecret:
    secret = await registry.rotate_webhook_secret(
        context.pool, context.sealer, tenant_id=context.tenant.id
    )
    return WebhookSecret(secret=secret)

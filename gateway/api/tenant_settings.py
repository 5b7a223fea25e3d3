"""API resources of the tenant itself: settings (brand, wallet, portal, Stripe keys) and icon."""

from __future__ import annotations

from typing import Any

from gateway.api.framework import ApiContext, ApiRoutes
from gateway.tenants import registry
from gateway.tenants.models import Tenant

routes = ApiRoutes()

MONEY: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": 10**12}
WALLET_SETTINGS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "topups_enabled": {"type": "boolean", "description": 'Offer "Buy credits" in the portal.'},
        "topup_min": {**MONEY, "description": "Smallest top-up, in minor units."},
        "topup_max": {**MONEY, "description": "Largest top-up per payment, in minor units."},
        "max_balance": {**MONEY, "description": "Largest wallet balance, in minor units."},
    },
}
PORTAL_SETTINGS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "billing_edit_enabled": {"type": "boolean"},
        "link_mode": {"enum": ["customer_id", "signed"]},
        "link_ttl_seconds": {"type": "integer", "minimum": 60, "maximum": 2592000},
        "allow_no_payment_method": {"type": "boolean"},
    },
}
SETTINGS = routes.schema(
    "TenantSettings",
    {
        "type": "object",
        "required": ["slug", "name", "brand_color", "default_currency", "wallet", "portal"],
        "properties": {
            "slug": {"type": "string"},
            "name": {"type": "string"},
            "brand_color": {"type": "string", "pattern": "^#[0-9a-f]{6}$"},
            "icon_url": {"type": ["string", "null"]},
            "default_currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "wallet": {**WALLET_SETTINGS, "required": list(WALLET_SETTINGS["properties"])},
            "portal": {**PORTAL_SETTINGS, "required": list(PORTAL_SETTINGS["properties"])},
            "webhook_url": {"type": ["string", "null"]},
            "stripe_configured": {"type": "boolean"},
            "stripe_webhook_url": {
                "type": "string",
                "description": "Register this endpoint in Stripe for payment_intent.succeeded.",
            },
            "stripe_webhook_secret_configured": {"type": "boolean"},
        },
    },
)
SETTINGS_PATCH = routes.schema(
    "TenantSettingsUpdate",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "brand_color": {"type": "string", "description": "#RRGGBB"},
            "default_currency": {"type": "string", "minLength": 3, "maxLength": 3},
            "wallet": WALLET_SETTINGS,
            "portal": PORTAL_SETTINGS,
            "webhook_url": {
                "type": ["string", "null"],
                "maxLength": 2000,
                "description": "Where events are POSTed, signed (null: send none). It must be an "
                "https:// URL without a user name or password whose host is a public internet "
                "address or a name: loopback, private, link-local, shared (100.64.0.0/10), "
                "multicast and numeric forms such as 2130706433 are refused. Each delivery "
                "connects only to public addresses, follows no redirect, reads at most 64 KiB "
                "of the answer and counts only a 2xx status as delivered.",
            },
            "stripe_webhook_secret": {
                "type": ["string", "null"],
                "writeOnly": True,
                "description": "The signing secret Stripe shows for the endpoint in "
                "stripe_webhook_url; null clears it.",
            },
            "stripe": {
                "type": "object",
                "additionalProperties": False,
                "required": ["secret_key", "publishable_key"],
                "properties": {
                    "secret_key": {"type": "string", "writeOnly": True},
                    "publishable_key": {"type": "string"},
                },
            },
        },
    },
)
WEBHOOK_SECRET = routes.schema(
    "WebhookSecret",
    {
        "type": "object",
        "required": ["secret"],
        "properties": {"secret": {"type": ["string", "null"]}},
    },
)


async def settings_json(context: ApiContext, tenant: Tenant) -> dict[str, Any]:
    configured = await context.pool.fetchrow(
        "SELECT stripe_secret_key_sealed IS NOT NULL AS key, "
        "stripe_webhook_secret_sealed IS NOT NULL AS webhook FROM tenants WHERE id = $1",
        tenant.id,
    )
    tenant_host = f"{tenant.slug}.{context.settings.base_domain}"
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "brand_color": tenant.brand_color,
        "icon_url": (
            context.settings.public_url(f"{tenant.slug}.{context.settings.base_domain}")
            + f"/brand/icon?v={tenant.icon_etag}"
            if tenant.icon_etag
            else None
        ),
        "default_currency": tenant.default_currency,
        "wallet": {
            "topups_enabled": tenant.wallet.topups_enabled,
            "topup_min": tenant.wallet.topup_min,
            "topup_max": tenant.wallet.topup_max,
            "max_balance": tenant.wallet.max_balance,
        },
        "portal": {
            "billing_edit_enabled": tenant.portal.billing_edit_enabled,
            "link_mode": tenant.portal.link_mode,
            "link_ttl_seconds": tenant.portal.link_ttl_seconds,
            "allow_no_payment_method": tenant.portal.allow_no_payment_method,
        },
        "webhook_url": tenant.webhook_url,
        "stripe_configured": bool(configured["key"]),
        "stripe_webhook_url": context.settings.secure_url(tenant_host)
        + f"/stripe/webhooks/{tenant.slug}",
        "stripe_webhook_secret_configured": bool(configured["webhook"]),
    }


@routes.operation(
    "GET", "/settings", summary="Read your settings", tag="settings", response=SETTINGS
)
async def get_settings(context: ApiContext) -> dict[str, Any]:
    tenant = await registry.get_tenant(context.pool, context.tenant.id)
    return await settings_json(context, tenant)


@routes.operation(
    "PATCH",
    "/settings",
    summary="Change brand, wallet, portal, webhook or Stripe settings",
    tag="settings",
    request=SETTINGS_PATCH,
    response=SETTINGS,
)
async def update_settings(context: ApiContext) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name, value in context.body.items():
        if name in ("wallet", "portal"):
            changes.update({f"{name}.{key}": item for key, item in value.items()})
        elif name not in ("stripe", "stripe_webhook_secret"):
            changes[name] = value
    async with context.pool.acquire() as connection, connection.transaction():
        tenant = await registry.update_settings(
            connection,
            tenant_id=context.tenant.id,
            changes=changes,
            allow_loopback_webhooks=context.settings.webhook_allow_loopback,
        )
        if "stripe_webhook_secret" in context.body:
            await registry.set_stripe_webhook_secret(
                connection,
                context.sealer,
                tenant_id=tenant.id,
                secret=context.body["stripe_webhook_secret"],
            )
        if "stripe" in context.body:
            await registry.set_stripe_keys(
                connection,
                context.sealer,
                tenant_id=tenant.id,
                secret_key=context.body["stripe"]["secret_key"],
                publishable_key=context.body["stripe"]["publishable_key"],
            )
    return await settings_json(context, tenant)


@routes.operation(
    "PUT",
    "/settings/icon",
    summary="Upload the brand icon (PNG, ICO or WebP; the type is read from the bytes)",
    tag="settings",
    response=SETTINGS,
    raw_body="image/png,image/x-icon,image/webp",
)
async def upload_icon(context: ApiContext) -> dict[str, Any]:
    data = await context.request.read()
    tenant = await registry.set_icon(
        context.pool,
        tenant_id=context.tenant.id,
        data=data,
        max_bytes=context.settings.max_icon_bytes,
    )
    return await settings_json(context, tenant)


@routes.operation(
    "DELETE", "/settings/icon", summary="Remove the brand icon", tag="settings", response=SETTINGS
)
async def delete_icon(context: ApiContext) -> dict[str, Any]:
    tenant = await registry.remove_icon(context.pool, tenant_id=context.tenant.id)
    return await settings_json(context, tenant)


@routes.operation(
    "GET",
    "/settings/webhook_secret",
    summary="Read the secret that signs events sent to your webhook URL",
    tag="settings",
    response=WEBHOOK_SECRET,
)
async def get_webhook_secret(context: ApiContext) -> dict[str, Any]:
    secret = await registry.webhook_secret(
        context.pool, context.sealer, tenant_id=context.tenant.id
    )
    return {"secret": secret}


@routes.operation(
    "POST",
    "/settings/webhook_secret",
    summary="Create a new webhook signing secret (the old one stops working)",
    tag="settings",
    response=WEBHOOK_SECRET,
)
async def rotate_webhook_secret(context: ApiContext) -> dict[str, Any]:
    secret = await registry.rotate_webhook_secret(
        context.pool, context.sealer, tenant_id=context.tenant.id
    )
    return {"secret": secret}

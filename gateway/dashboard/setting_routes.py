"""Brand, wallet and portal settings on the settings page: forms that save all or nothing.

Every value goes through the same validation as the API (`gateway.tenants.registry`,
`gateway.tenants.brand`); a rejected form is shown again with what was typed and
each error beside its field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy

from billing.errors import InvalidInput
from gateway.dashboard.auth import Desk, signed_in, text_field
from gateway.dashboard.views import contrast_report, major_units, size_label
from gateway.edge import keys
from gateway.edge.app_host import PREFIX
from gateway.edge.errors import NotFound
from gateway.tenants import icons, registry
from gateway.tenants.brand import parse_brand_color, sniff_icon_type
from gateway.tenants.errors import InvalidTenantInput
from gateway.tenants.models import Tenant
from web.amounts import parse_amount

routes = web.RouteTableDef()

WALLET_AMOUNTS = ("topup_min", "topup_max", "max_balance")
PORTAL_CHECKBOXES = (
    "billing_edit_enabled",
    "allow_no_payment_method",
    "subscription_cancel_enabled",
)


def _field_errors(errors: Mapping[str, str]) -> dict[str, str]:
    """Service errors keyed by form field: `wallet.topup_min` is the `topup_min` input."""
    return {name.split(".", 1)[-1]: message for name, message in errors.items()}


def _saved(request: web.Request) -> bool:
    return request.query.get("saved") == "1"


# Brand ------------------------------------------------------------------------------------


def _render_brand(
    request: web.Request,
    desk: Desk,
    *,
    color: str,
    errors: Mapping[str, str],
    status: int = 200,
) -> web.StreamResponse:
    settings = request.config_dict[keys.SETTINGS]
    try:
        preview = parse_brand_color(color)
    except InvalidTenantInput:
        preview = desk.tenant.brand_color
    context = desk.context(
        "brand",
        values={"brand_color": color},
        preview_color=preview,
        report=contrast_report(preview),
        icon_url=(
            f"{PREFIX}/brand/icon?v={desk.tenant.icon_etag}" if desk.tenant.icon_etag else None
        ),
        icon_limit=size_label(settings.max_icon_bytes),
        errors=errors,
        saved=_saved(request),
    )
    return aiohttp_jinja2.render_template("dashboard/brand.html", request, context, status=status)


@routes.get("/brand")
@signed_in
async def brand_form(request: web.Request, desk: Desk) -> web.StreamResponse:
    """Colour picker, hex field, icon upload, and a live preview of the portal."""
    return _render_brand(request, desk, color=desk.tenant.brand_color, errors={})


async def _icon_bytes(form: MultiDictProxy[Any]) -> bytes | None:
    upload = form.get("icon")
    if isinstance(upload, web.FileField):
        data = bytes(upload.file.read())
    elif isinstance(upload, bytes | bytearray):
        # A file input left empty arrives as a part without a file name: raw bytes.
        data = bytes(upload)
    else:
        return None
    return data or None  # an empty file input means "keep the icon"


@routes.post("/brand")
@signed_in
async def brand_save(request: web.Request, desk: Desk) -> web.StreamResponse:
    """Save the colour and, when a file was chosen, the icon: both or neither."""
    settings = request.config_dict[keys.SETTINGS]
    form = await request.post()
    color = text_field(form, "brand_color").strip()
    icon = await _icon_bytes(form)
    errors: dict[str, str] = {}
    try:
        parse_brand_color(color)
    except InvalidTenantInput as error:
        errors.update(error.errors)
    if icon is not None:
        try:
            sniff_icon_type(icon, max_bytes=settings.max_icon_bytes)
        except InvalidTenantInput as error:
            errors.update(error.errors)
    if errors:
        return _render_brand(request, desk, color=color, errors=errors, status=422)
    async with request.config_dict[keys.POOL].acquire() as connection, connection.transaction():
        await registry.update_settings(
            connection, tenant_id=desk.tenant.id, changes={"brand_color": color}
        )
        if icon is not None:
            await icons.set_icon(
                connection,
                tenant_id=desk.tenant.id,
                data=icon,
                max_bytes=settings.max_icon_bytes,
            )
    raise web.HTTPSeeOther(location=f"{PREFIX}/brand?saved=1")


@routes.post("/brand/icon/remove")
@signed_in
async def brand_icon_remove(request: web.Request, desk: Desk) -> web.StreamResponse:
    await icons.remove_icon(request.config_dict[keys.POOL], tenant_id=desk.tenant.id)
    raise web.HTTPSeeOther(location=f"{PREFIX}/brand?saved=1")


@routes.get("/brand/icon")
@signed_in
async def brand_icon(request: web.Request, desk: Desk) -> web.StreamResponse:
    """The signed-in tenant's icon, for the preview on this host."""
    icon = await icons.tenant_icon(request.config_dict[keys.POOL], tenant_id=desk.tenant.id)
    if icon is None:
        raise NotFound("you have no icon")
    return web.Response(body=icon.data, content_type=icon.content_type)


# Wallet -----------------------------------------------------------------------------------


def _wallet_values(tenant: Tenant) -> dict[str, str]:
    currency = tenant.default_currency
    return {
        "topups_enabled": "on" if tenant.wallet.topups_enabled else "",
        "pays_invoices": "on" if tenant.wallet.pays_invoices else "",
        "topup_min": major_units(tenant.wallet.topup_min, currency),
        "topup_max": major_units(tenant.wallet.topup_max, currency),
        "max_balance": major_units(tenant.wallet.max_balance, currency),
    }


def _render_wallet(
    request: web.Request,
    desk: Desk,
    *,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    status: int = 200,
) -> web.StreamResponse:
    context = desk.context(
        "wallet",
        values=values,
        errors=errors,
        currency=desk.tenant.default_currency,
        saved=_saved(request),
    )
    return aiohttp_jinja2.render_template("dashboard/wallet.html", request, context, status=status)


@routes.get("/wallet")
@signed_in
async def wallet_form(request: web.Request, desk: Desk) -> web.StreamResponse:
    """Top-ups on or off, minimum and maximum per payment, maximum balance."""
    return _render_wallet(request, desk, values=_wallet_values(desk.tenant), errors={})


@routes.post("/wallet")
@signed_in
async def wallet_save(request: web.Request, desk: Desk) -> web.StreamResponse:
    form = await request.post()
    values = {name: text_field(form, name).strip() for name in WALLET_AMOUNTS}
    values["topups_enabled"] = "on" if text_field(form, "topups_enabled") else ""
    values["pays_invoices"] = "on" if text_field(form, "pays_invoices") else ""
    changes: dict[str, Any] = {
        "wallet.topups_enabled": bool(values["topups_enabled"]),
        "wallet.pays_invoices": bool(values["pays_invoices"]),
    }
    errors: dict[str, str] = {}
    for name in WALLET_AMOUNTS:
        try:
            changes[f"wallet.{name}"] = parse_amount(values[name], desk.tenant.default_currency)
        except InvalidInput as error:
            errors[name] = next(iter(error.errors.values()))
    if not errors:
        try:
            await registry.update_settings(
                request.config_dict[keys.POOL], tenant_id=desk.tenant.id, changes=changes
            )
        except InvalidTenantInput as error:
            errors = _field_errors(error.errors)
    if errors:
        return _render_wallet(request, desk, values=values, errors=errors, status=422)
    raise web.HTTPSeeOther(location=f"{PREFIX}/wallet?saved=1")


# Portal -----------------------------------------------------------------------------------


def _portal_values(tenant: Tenant) -> dict[str, str]:
    return {
        "billing_edit_enabled": "on" if tenant.portal.billing_edit_enabled else "",
        "allow_no_payment_method": "on" if tenant.portal.allow_no_payment_method else "",
        "subscription_cancel_enabled": "on" if tenant.portal.subscription_cancel_enabled else "",
        "link_mode": tenant.portal.link_mode,
        "link_ttl_seconds": str(tenant.portal.link_ttl_seconds),
        "webhook_url": tenant.webhook_url or "",
    }


async def _render_portal(
    request: web.Request,
    desk: Desk,
    *,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    secret: str | None = None,
    rotated: bool = False,
    status: int = 200,
) -> web.StreamResponse:
    has_secret = await registry.has_webhook_secret(
        request.config_dict[keys.POOL], tenant_id=desk.tenant.id
    )
    context = desk.context(
        "portal",
        values=values,
        errors=errors,
        saved=_saved(request),
        has_secret=bool(has_secret),
        secret=secret,
        rotated=rotated,
    )
    return aiohttp_jinja2.render_template("dashboard/portal.html", request, context, status=status)


@routes.get("/portal")
@signed_in
async def portal_form(request: web.Request, desk: Desk) -> web.StreamResponse:
    """Billing-info editing, link mode and lifetime, webhook URL and signing secret."""
    return await _render_portal(request, desk, values=_portal_values(desk.tenant), errors={})


@routes.post("/portal")
@signed_in
async def portal_save(request: web.Request, desk: Desk) -> web.StreamResponse:
    form = await request.post()
    values = {
        "link_mode": text_field(form, "link_mode"),
        "link_ttl_seconds": text_field(form, "link_ttl_seconds").strip(),
        "webhook_url": text_field(form, "webhook_url").strip(),
        **{name: "on" if text_field(form, name) else "" for name in PORTAL_CHECKBOXES},
    }
    ttl_text = values["link_ttl_seconds"]
    changes: dict[str, Any] = {
        "portal.billing_edit_enabled": bool(values["billing_edit_enabled"]),
        "portal.allow_no_payment_method": bool(values["allow_no_payment_method"]),
        "portal.subscription_cancel_enabled": bool(values["subscription_cancel_enabled"]),
        "portal.link_mode": values["link_mode"],
        # Not a number: passed as typed, so the registry's own message explains the range.
        "portal.link_ttl_seconds": int(ttl_text) if ttl_text.isdigit() else ttl_text,
        "webhook_url": values["webhook_url"] or None,
    }
    try:
        await registry.update_settings(
            request.config_dict[keys.POOL],
            tenant_id=desk.tenant.id,
            changes=changes,
            allow_loopback_webhooks=request.config_dict[keys.SETTINGS].webhook_allow_loopback,
        )
    except InvalidTenantInput as error:
        return await _render_portal(
            request, desk, values=values, errors=_field_errors(error.errors), status=422
        )
    raise web.HTTPSeeOther(location=f"{PREFIX}/portal?saved=1")


@routes.post("/portal/webhook-secret")
@signed_in
async def webhook_secret(request: web.Request, desk: Desk) -> web.StreamResponse:
    """Show the signing secret (action=show) or replace it with a new one (action=rotate)."""
    pool = request.config_dict[keys.POOL]
    sealer = request.config_dict[keys.SEALER]
    rotate = text_field(await request.post(), "action") == "rotate"
    if rotate:
        secret: str | None = await registry.rotate_webhook_secret(
            pool, sealer, tenant_id=desk.tenant.id
        )
    else:
        secret = await registry.webhook_secret(pool, sealer, tenant_id=desk.tenant.id)
    return await _render_portal(
        request, desk, values=_portal_values(desk.tenant), errors={}, secret=secret, rotated=rotate
    )

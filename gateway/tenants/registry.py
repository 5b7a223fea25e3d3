"""Tenants: create, read, list, and change brand, wallet, portal and payment settings.

Every change is validated here (field by field, all errors at once) before one
UPDATE runs, so a rejected request stores nothing. Secrets (the Stripe secret
key, the webhook signing secret) are sealed with the caller's `Sealer` and
never returned.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

from gateway.tenants.brand import parse_brand_color
from gateway.tenants.dunning_settings import validate_final_action, validate_retry_days
from gateway.tenants.errors import InvalidTenantInput, TenantConflict, TenantNotFound
from gateway.tenants.legal_details import LEGAL_FIELDS, check_legal_details
from gateway.tenants.models import TENANT_COLUMNS, Tenant
from gateway.tenants.webhook_urls import WebhookUrlRefused, check_webhook_url
from kernel.db import Db, transaction
from kernel.sealing import Sealer
from kernel.text import control_character_reason

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
RESERVED_SLUGS = frozenset({"api", "app", "www", "cname", "admin", "static", "mail"})
CURRENCY = re.compile(r"^[A-Z]{3}$")
LINK_MODES = ("customer_id", "signed")

# Settings a tenant may change, with the column each maps to.
SETTING_COLUMNS = {
    "name": "name",
    "brand_color": "brand_color",
    "default_currency": "default_currency",
    "wallet.topups_enabled": "wallet_topups_enabled",
    "wallet.topup_min": "wallet_topup_min",
    "wallet.topup_max": "wallet_topup_max",
    "wallet.max_balance": "wallet_max_balance",
    "wallet.pays_invoices": "wallet_pays_invoices",
    "portal.billing_edit_enabled": "portal_billing_edit_enabled",
    "portal.link_mode": "portal_link_mode",
    "portal.link_ttl_seconds": "portal_link_ttl_seconds",
    "portal.allow_no_payment_method": "portal_allow_no_payment_method",
    "portal.subscription_cancel_enabled": "portal_subscription_cancel_enabled",
    "webhook_url": "webhook_url",
    "dunning.retry_days": "dunning_retry_days",
    "dunning.final_action": "dunning_final_action",
    "dunning.wallet_spend_enabled": "wallet_spend_enabled",
    **{f"legal.{name}": column for name, (column, _) in LEGAL_FIELDS.items()},
}


def validate_slug(slug: object) -> str:
    if not isinstance(slug, str) or not SLUG.match(slug):
        raise InvalidTenantInput(
            {"slug": "use 1-63 lower-case letters, digits and hyphens, not at either end"}
        )
    if slug in RESERVED_SLUGS:
        raise InvalidTenantInput({"slug": f"{slug!r} is reserved for the gateway itself"})
    return slug


def _validate_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise InvalidTenantInput({"name": "give a name of 1 to 200 characters"})
    # Names reach operators' terminals (gateway tenant list) and page titles (issue 13).
    problem = control_character_reason(name)
    if problem is not None:
        raise InvalidTenantInput({"name": problem})
    return name.strip()


async def create_tenant(
    db: Db, *, slug: str, name: str, brand_color: str | None = None, default_currency: str = "EUR"
) -> Tenant:
    """Create a tenant; raises InvalidTenantInput or TenantConflict (slug taken)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    checks: tuple[tuple[str, Callable[[Any], Any], Any], ...] = (
        ("slug", validate_slug, slug),
        ("name", _validate_name, name),
        ("brand_color", parse_brand_color, brand_color or "#4f46e5"),
        ("default_currency", _validate_currency, default_currency),
    )
    for field, check, value in checks:
        try:
            values[field] = check(value)
        except InvalidTenantInput as error:
            errors.update(error.errors)
    if errors:
        raise InvalidTenantInput(errors)
    try:
        row = await db.fetchrow(
            f"""INSERT INTO tenants (slug, name, brand_color, default_currency)
                VALUES ($1, $2, $3, $4) RETURNING {TENANT_COLUMNS}""",
            values["slug"],
            values["name"],
            values["brand_color"],
            values["default_currency"],
        )
    except asyncpg.UniqueViolationError:
        raise TenantConflict(f"the slug {slug!r} is taken", field="slug") from None
    return Tenant.from_row(row)


async def get_tenant(db: Db, tenant_id: int) -> Tenant:
    row = await db.fetchrow(f"SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1", tenant_id)
    if row is None:
        raise TenantNotFound(f"tenant {tenant_id}")
    return Tenant.from_row(row)


async def get_tenant_by_slug(db: Db, slug: str) -> Tenant:
    row = await db.fetchrow(f"SELECT {TENANT_COLUMNS} FROM tenants WHERE slug = $1", slug)
    if row is None:
        raise TenantNotFound(f"tenant {slug!r}")
    return Tenant.from_row(row)


async def list_tenants(db: Db) -> list[Tenant]:
    rows = await db.fetch(f"SELECT {TENANT_COLUMNS} FROM tenants ORDER BY slug")
    return [Tenant.from_row(row) for row in rows]


def _validate_currency(value: object) -> str:
    if not isinstance(value, str) or not CURRENCY.match(value.upper()):
        raise InvalidTenantInput(
            {"default_currency": "use a three-letter ISO 4217 code"},
            {"default_currency": "invalid_currency"},
        )
    return value.upper()


def _validate_setting(field: str, value: Any, *, allow_loopback_webhooks: bool) -> Any:
    """Check one setting's value; returns it in stored form or raises InvalidTenantInput."""
    if field == "name":
        return _validate_name(value)
    if field == "brand_color":
        return parse_brand_color(value)
    if field == "default_currency":
        return _validate_currency(value)
    if field.endswith(("_enabled", "allow_no_payment_method", "pays_invoices")):
        if not isinstance(value, bool):
            raise InvalidTenantInput({field: "must be true or false"})
        return value
    if field in {"wallet.topup_min", "wallet.topup_max", "wallet.max_balance"}:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 10**12:
            raise InvalidTenantInput({field: "must be a positive amount in minor units"})
        return value
    if field == "dunning.retry_days":
        return validate_retry_days(field, value)
    if field == "dunning.final_action":
        return validate_final_action(field, value)
    if field == "portal.link_mode":
        if value not in LINK_MODES:
            raise InvalidTenantInput({field: "must be 'customer_id' or 'signed'"})
        return value
    if field == "portal.link_ttl_seconds":
        if isinstance(value, bool) or not isinstance(value, int) or not 60 <= value <= 2592000:
            raise InvalidTenantInput({field: "must be between 60 and 2592000 seconds (30 days)"})
        return value
    if field == "webhook_url":
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidTenantInput({field: "must be an https:// URL"})
        try:
            return check_webhook_url(value, allow_loopback=allow_loopback_webhooks)
        except WebhookUrlRefused as error:
            raise InvalidTenantInput({field: str(error)}, {field: "invalid_url"}) from None
    raise InvalidTenantInput({field: "is not a setting"})


async def update_settings(
    db: Db, *, tenant_id: int, changes: Mapping[str, Any], allow_loopback_webhooks: bool = False
) -> Tenant:
    """Apply `changes` (keys of SETTING_COLUMNS, dotted for nested groups) all or nothing.

    `allow_loopback_webhooks` (GATEWAY_WEBHOOK_ALLOW_LOOPBACK) lets the webhook URL be
    plain http on a loopback address, for tests; otherwise it must be https to a public host.
    """
    current = await get_tenant(db, tenant_id)
    errors: dict[str, str] = {}
    codes: dict[str, str] = {}
    values: dict[str, Any] = {}
    legal = {field: value for field, value in changes.items() if field.startswith("legal.")}
    try:
        values.update(check_legal_details(legal, current.legal.settings()))
    except InvalidTenantInput as error:
        errors.update(error.errors)
        codes.update(error.codes)
    for field, value in changes.items():
        if field in legal:
            continue
        try:
            values[field] = _validate_setting(
                field, value, allow_loopback_webhooks=allow_loopback_webhooks
            )
        except InvalidTenantInput as error:
            errors.update(error.errors)
            codes.update(error.codes)
    wallet = {
        "wallet.topup_min": values.get("wallet.topup_min", current.wallet.topup_min),
        "wallet.topup_max": values.get("wallet.topup_max", current.wallet.topup_max),
        "wallet.max_balance": values.get("wallet.max_balance", current.wallet.max_balance),
    }
    if not errors and wallet["wallet.topup_min"] > wallet["wallet.topup_max"]:
        errors["wallet.topup_min"] = "must not exceed wallet.topup_max"
    if not errors and wallet["wallet.topup_max"] > wallet["wallet.max_balance"]:
        errors["wallet.topup_max"] = "must not exceed wallet.max_balance"
    if errors:
        raise InvalidTenantInput(errors, codes)
    if not values:
        return current
    assignments = ", ".join(
        f"{SETTING_COLUMNS[field]} = ${index}" for index, field in enumerate(values, start=2)
    )
    row = await db.fetchrow(
        f"UPDATE tenants SET {assignments}, updated_at = now() WHERE id = $1 "
        f"RETURNING {TENANT_COLUMNS}",
        tenant_id,
        *values.values(),
    )
    if row is None:
        raise TenantNotFound(f"tenant {tenant_id}")
    return Tenant.from_row(row)


async def set_stripe_keys(
    db: Db, sealer: Sealer, *, tenant_id: int, secret_key: str, publishable_key: str
) -> None:
    """Store the tenant's Stripe keys; the secret key is sealed and never read back out."""
    errors = {}
    if not re.match(r"^(sk|rk)_[A-Za-z0-9_]{8,}$", secret_key):
        errors["stripe.secret_key"] = "must be a Stripe secret key (sk_... or rk_...)"
    if not re.match(r"^pk_[A-Za-z0-9_]{8,}$", publishable_key):
        errors["stripe.publishable_key"] = "must be a Stripe publishable key (pk_...)"
    if errors:
        raise InvalidTenantInput(errors)
    sealed = sealer.seal(secret_key.encode(), f"tenant:{tenant_id}:stripe_secret_key")
    await db.execute(
        "UPDATE tenants SET stripe_secret_key_sealed = $2, stripe_publishable_key = $3, "
        "updated_at = now() WHERE id = $1",
        tenant_id,
        sealed,
        publishable_key,
    )


async def set_stripe_webhook_secret(
    db: Db, sealer: Sealer, *, tenant_id: int, secret: str | None
) -> None:
    """Store (sealed) the secret Stripe shows for the tenant's webhook endpoint; None clears it."""
    sealed = None
    if secret is not None:
        if not re.match(r"^whsec_[A-Za-z0-9_+/=-]{8,200}$", secret):
            raise InvalidTenantInput(
                {"stripe_webhook_secret": "must be the endpoint's signing secret (whsec_...)"}
            )
        sealed = sealer.seal(secret.encode(), f"tenant:{tenant_id}:stripe_webhook_secret")
    await db.execute(
        "UPDATE tenants SET stripe_webhook_secret_sealed = $2, updated_at = now() WHERE id = $1",
        tenant_id,
        sealed,
    )


async def stripe_webhook_secret(db: Db, sealer: Sealer, *, tenant_id: int) -> str | None:
    """The stored Stripe webhook signing secret, or None when the tenant has not set one."""
    sealed = await db.fetchval(
        "SELECT stripe_webhook_secret_sealed FROM tenants WHERE id = $1", tenant_id
    )
    if sealed is None:
        return None
    return sealer.open(sealed, f"tenant:{tenant_id}:stripe_webhook_secret").decode()


async def stripe_publishable_key(db: Db, *, tenant_id: int) -> str | None:
    """The tenant's Stripe publishable key for payment pages, or None before it set its keys."""
    key: str | None = await db.fetchval(
        "SELECT stripe_publishable_key FROM tenants WHERE id = $1", tenant_id
    )
    return key


async def stripe_secret_key(db: Db, sealer: Sealer, *, tenant_id: int) -> str | None:
    sealed = await db.fetchval(
        "SELECT stripe_secret_key_sealed FROM tenants WHERE id = $1", tenant_id
    )
    if sealed is None:
        return None
    return sealer.open(sealed, f"tenant:{tenant_id}:stripe_secret_key").decode()


async def rotate_webhook_secret(db: Db, sealer: Sealer, *, tenant_id: int) -> str:
    """A new webhook signing secret (returned once in clear, stored sealed)."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    sealed = sealer.seal(secret.encode(), f"tenant:{tenant_id}:webhook_secret")
    await db.execute(
        "UPDATE tenants SET webhook_secret_sealed = $2, updated_at = now() WHERE id = $1",
        tenant_id,
        sealed,
    )
    return secret


async def has_webhook_secret(db: Db, *, tenant_id: int) -> bool:
    """Whether the tenant has a secret for signing the webhooks sent to it (never the secret)."""
    has: bool | None = await db.fetchval(
        "SELECT webhook_secret_sealed IS NOT NULL FROM tenants WHERE id = $1", tenant_id
    )
    return bool(has)


async def webhook_secret(db: Db, sealer: Sealer, *, tenant_id: int) -> str | None:
    sealed = await db.fetchval("SELECT webhook_secret_sealed FROM tenants WHERE id = $1", tenant_id)
    if sealed is None:
        return None
    return sealer.open(sealed, f"tenant:{tenant_id}:webhook_secret").decode()


async def stripe_configuration(db: Db, *, tenant_id: int) -> tuple[bool, bool]:
    """Whether the tenant has stored (a Stripe secret key, a Stripe webhook signing secret)."""
    row = await db.fetchrow(
        "SELECT stripe_secret_key_sealed IS NOT NULL AS key, "
        "stripe_webhook_secret_sealed IS NOT NULL AS webhook FROM tenants WHERE id = $1",
        tenant_id,
    )
    if row is None:
        raise TenantNotFound(f"tenant {tenant_id}")
    return bool(row["key"]), bool(row["webhook"])


async def apply_settings(
    db: Db,
    sealer: Sealer,
    *,
    tenant_id: int,
    changes: Mapping[str, Any],
    allow_loopback_webhooks: bool,
) -> Tenant:
    """`update_settings` plus the Stripe keys and webhook secret, all in one transaction.

    `changes` is shaped like the settings API's body: `wallet` and `portal` are
    objects of the fields to change, `stripe` holds both keys, and
    `stripe_webhook_secret` (None clears it) is set only when present.
    """
    flat: dict[str, Any] = {}
    for name, value in changes.items():
        if name in ("wallet", "portal", "dunning", "legal"):
            flat.update({f"{name}.{key}": item for key, item in value.items()})
        elif name not in ("stripe", "stripe_webhook_secret"):
            flat[name] = value
    async with transaction(db) as connection:
        tenant = await update_settings(
            connection,
            tenant_id=tenant_id,
            changes=flat,
            allow_loopback_webhooks=allow_loopback_webhooks,
        )
        if "stripe_webhook_secret" in changes:
            await set_stripe_webhook_secret(
                connection, sealer, tenant_id=tenant_id, secret=changes["stripe_webhook_secret"]
            )
        if "stripe" in changes:
            await set_stripe_keys(
                connection,
                sealer,
                tenant_id=tenant_id,
                secret_key=changes["stripe"]["secret_key"],
                publishable_key=changes["stripe"]["publishable_key"],
            )
    return tenant

"""The demo: tenants alpeak and bergfeld with customers, cards, subscriptions, invoices, wallets.

`seed_demo` runs once per database (it does nothing when the tenant `alpeak`
exists), in one transaction, so a failure leaves nothing half-made and two
concurrent runs seed once. Everything goes through the billing and tenant
services, so the demo data obeys the same rules as data made through the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from billing import customers, invoices, payment_methods, subscriptions, wallets
from certs.internal_ca import InternalCA
from gateway.settings import Settings, SettingsError, env_name
from gateway.tenants import api_keys, registry
from gateway.tenants.errors import InvalidApiKey, TenantNotFound
from gateway.tenants.models import Tenant
from kernel.db import Db, Pool
from kernel.sealing import Sealer

DEMO_SLUG = "alpeak"
OTHER_SLUG = "bergfeld"
# pg_advisory_xact_lock key: the first 8 bytes of sha256("gateway:demo") as a signed bigint.
DEMO_LOCK = int.from_bytes(hashlib.sha256(b"gateway:demo").digest()[:8], "big", signed=True)
ICON_MAX_BYTES = 262_144


@dataclass(frozen=True, kw_only=True)
class DemoCustomer:
    id: str
    name: str
    tenant_slug: str


@dataclass(frozen=True, kw_only=True)
class DemoInfo:
    """What the demo holds: the main tenant, the isolation tenant, and their customers."""

    tenant: Tenant
    other_tenant: Tenant | None
    customers: list[DemoCustomer]
    created: bool


@dataclass(frozen=True, kw_only=True)
class _CustomerPlan:
    data: Mapping[str, Any]
    card: tuple[str, str, int, int]  # brand, last4, exp_month, exp_year
    plan_name: str
    items: Sequence[Mapping[str, Any]]
    tax_rate_bps: int
    wallet_credit: int


ALPEAK_CUSTOMERS = (
    _CustomerPlan(
        data={
            "name": "Atelier Lumière SARL",
            "email": "facturation@atelier-lumiere.example",
            "address": {
                "line1": "12 rue des Lilas",
                "city": "Lyon",
                "postal_code": "69002",
                "country": "FR",
            },
            "vat_number": "FR32123456789",
            "language": "fr",
            "currency": "EUR",
        },
        card=("visa", "4242", 12, 2030),
        plan_name="Alpeak Pro",
        items=(
            {"name": "Pro plan", "unit_amount": 4900, "price_model": "flat"},
            {"name": "Extra seats", "unit_amount": 900, "quantity": 3},
        ),
        tax_rate_bps=2000,
        wallet_credit=2500,
    ),
    _CustomerPlan(
        data={
            "name": "Bergbrauerei Keller GmbH",
            "email": "buchhaltung@keller-brauerei.example",
            "address": {
                "line1": "Leopoldstraße 8",
                "line2": "2. OG",
                "city": "München",
                "postal_code": "80802",
                "country": "DE",
            },
            "vat_number": "DE123456789",
            "language": "de",
            "currency": "EUR",
        },
        card=("mastercard", "4444", 8, 2029),
        plan_name="Alpeak Team",
        items=(
            {"name": "Team plan", "unit_amount": 12900, "price_model": "flat"},
            {"name": "API calls (per 10,000)", "unit_amount": 250, "quantity": 12},
        ),
        tax_rate_bps=1900,
        wallet_credit=10000,
    ),
    _CustomerPlan(
        data={
            "name": "Harbour & Pine Ltd",
            "email": "accounts@harbourpine.example",
            "address": {
                "line1": "4 Quayside",
                "city": "Bristol",
                "postal_code": "BS1 4DJ",
                "country": "GB",
            },
            "vat_number": "GB123456789",
            "language": "en",
            "currency": "GBP",
        },
        card=("amex", "0005", 3, 2031),
        plan_name="Alpeak Starter",
        items=(
            {"name": "Starter plan", "unit_amount": 1900, "price_model": "flat"},
            {"name": "Extra projects", "unit_amount": 500, "quantity": 2},
        ),
        tax_rate_bps=2000,
        wallet_credit=1500,
    ),
)

BERGFELD_CUSTOMER = _CustomerPlan(
    data={
        "name": "Seehof Hotel AG",
        "email": "finanzen@seehof.example",
        "address": {"line1": "Seestrasse 1", "city": "Zürich", "postal_code": "8002"},
        "language": "de",
        "currency": "EUR",
    },
    card=("visa", "1881", 6, 2030),
    plan_name="Bergfeld Basic",
    items=(
        {"name": "Basic plan", "unit_amount": 2900, "price_model": "flat"},
        {"name": "Rooms", "unit_amount": 100, "quantity": 40},
    ),
    tax_rate_bps=0,
    wallet_credit=5000,
)


DEMO_CUSTOMER_EMAILS = [str(plan.data["email"]) for plan in (*ALPEAK_CUSTOMERS, BERGFELD_CUSTOMER)]


async def seed_demo(pool: Pool) -> DemoInfo:
    """Create the demo tenants and their data unless `alpeak` exists; return what is there."""
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", DEMO_LOCK)
        with contextlib.suppress(TenantNotFound):
            return await _existing(connection)
        tenant = await registry.create_tenant(
            connection, slug=DEMO_SLUG, name="Alpeak", brand_color="#0e7c66"
        )
        await registry.set_icon(
            connection,
            tenant_id=tenant.id,
            data=brand_icon((0x0E, 0x7C, 0x66)),
            max_bytes=ICON_MAX_BYTES,
        )
        tenant = await registry.update_settings(
            connection, tenant_id=tenant.id, changes={"wallet.topups_enabled": True}
        )
        other = await registry.create_tenant(
            connection, slug=OTHER_SLUG, name="Bergfeld", brand_color="#b4233c"
        )
        await registry.set_icon(
            connection,
            tenant_id=other.id,
            data=brand_icon((0xB4, 0x23, 0x3C)),
            max_bytes=ICON_MAX_BYTES,
        )
        made = [await _seed_customer(connection, tenant, plan) for plan in ALPEAK_CUSTOMERS]
        made.append(await _seed_customer(connection, other, BERGFELD_CUSTOMER))
        tenant = await registry.get_tenant(connection, tenant.id)
        other = await registry.get_tenant(connection, other.id)
    return DemoInfo(tenant=tenant, other_tenant=other, customers=_sorted(made), created=True)


async def _existing(connection: Db) -> DemoInfo:
    tenant = await registry.get_tenant_by_slug(connection, DEMO_SLUG)
    other: Tenant | None = None
    with contextlib.suppress(TenantNotFound):
        other = await registry.get_tenant_by_slug(connection, OTHER_SLUG)
    found: list[DemoCustomer] = []
    for owner in (tenant, other):
        if owner is None:
            continue
        # Only the customers the demo made: a tenant's API may have added others since.
        rows = await connection.fetch(
            """SELECT id, name FROM customers WHERE tenant_id = $1 AND email = ANY($2::text[])
               ORDER BY name, id""",
            owner.id,
            DEMO_CUSTOMER_EMAILS,
        )
        found.extend(
            DemoCustomer(id=row["id"], name=row["name"], tenant_slug=owner.slug) for row in rows
        )
    return DemoInfo(tenant=tenant, other_tenant=other, customers=_sorted(found), created=False)


def _sorted(found: list[DemoCustomer]) -> list[DemoCustomer]:
    # The main tenant's customers first, each tenant's by name: the same order on every run.
    return sorted(found, key=lambda c: (c.tenant_slug != DEMO_SLUG, c.tenant_slug, c.name))


async def _seed_customer(connection: Db, tenant: Tenant, plan: _CustomerPlan) -> DemoCustomer:
    customer = await customers.create_customer(
        connection, tenant_id=tenant.id, default_currency=tenant.default_currency, data=plan.data
    )
    brand, last4, exp_month, exp_year = plan.card
    await payment_methods.add_card(
        connection,
        tenant_id=tenant.id,
        customer_id=customer.id,
        brand=brand,
        last4=last4,
        exp_month=exp_month,
        exp_year=exp_year,
    )
    subscription = await subscriptions.create_subscription(
        connection,
        tenant_id=tenant.id,
        data={"customer": customer.id, "plan_name": plan.plan_name, "items": list(plan.items)},
    )
    lines = [
        {
            "description": item["name"],
            "quantity": item.get("quantity", 1),
            "unit_amount": item["unit_amount"],
            "tax_rate_bps": plan.tax_rate_bps,
        }
        for item in plan.items
    ]
    # Two subscription periods (the older paid, the current open) and a paid one-off.
    for paid in (True, False):
        invoice = await invoices.create_invoice(
            connection,
            tenant_id=tenant.id,
            data={"customer": customer.id, "lines": lines},
            kind="subscription",
            subscription_id=subscription.id,
        )
        invoice = await invoices.finalize_invoice(
            connection, tenant_id=tenant.id, invoice_id=invoice.id
        )
        if paid:
            await invoices.mark_paid(connection, tenant_id=tenant.id, invoice_id=invoice.id)
    onboarding = await invoices.create_invoice(
        connection,
        tenant_id=tenant.id,
        data={
            "customer": customer.id,
            "lines": [
                {
                    "description": "Onboarding workshop",
                    "unit_amount": 25000,
                    "tax_rate_bps": plan.tax_rate_bps,
                }
            ],
            "memo": "Thank you for your business.",
        },
    )
    onboarding = await invoices.finalize_invoice(
        connection, tenant_id=tenant.id, invoice_id=onboarding.id
    )
    await invoices.mark_paid(connection, tenant_id=tenant.id, invoice_id=onboarding.id)
    wallet = await wallets.create_wallet(
        connection, tenant_id=tenant.id, customer_id=customer.id, currency=customer.currency
    )
    await wallets.credit_wallet(
        connection,
        tenant_id=tenant.id,
        wallet_id=wallet.id,
        amount=plan.wallet_credit,
        kind="grant",
        description="Welcome credits",
    )
    return DemoCustomer(id=customer.id, name=customer.name, tenant_slug=tenant.slug)


async def ensure_demo_api_key(pool: Db, *, tenant: Tenant, key_file: Path) -> str:
    """The demo tenant's API key kept in `key_file`, or a new one (written there, mode 0600).

    A key that no longer works for this tenant (revoked, or from another database)
    is replaced.
    """
    secret = await asyncio.to_thread(_read_key, key_file)
    if secret is not None:
        with contextlib.suppress(InvalidApiKey):
            owner = await api_keys.authenticate(pool, secret)
            if owner.id == tenant.id:
                return secret
    _, secret = await api_keys.create_api_key(pool, tenant_id=tenant.id, name="demo")
    await asyncio.to_thread(_write_key, key_file, secret)
    return secret


def _read_key(key_file: Path) -> str | None:
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        return None


def _write_key(key_file: Path, secret: str) -> None:
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.unlink(missing_ok=True)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret + "\n")


INTERNAL_ROOT_FILE = "internal-ca.pem"


async def write_internal_root(
    pool: Db, sealer: Sealer, data_dir: Path, *, permitted_names: tuple[str, ...]
) -> Path:
    """Write the internal CA's root certificate (created if needed) to the data directory.

    The root is the one limited to `permitted_names` (Settings.internal_ca_permitted_names).
    Only the certificate is written: the root key stays sealed in PostgreSQL.
    """
    authority = await InternalCA.load_or_create(pool, sealer, permitted_names=permitted_names)
    path = data_dir / INTERNAL_ROOT_FILE
    await asyncio.to_thread(_write_text, path, authority.root_pem)
    return path


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def demo_lines(
    settings: Settings, info: DemoInfo, *, api_key: str, root_path: Path | None = None
) -> list[str]:
    """The lines a newcomer reads: one URL per line (HTTP, then HTTPS), then the API key.

    With `root_path` (the internal CA's root written by `write_internal_root`),
    the lines also say how to trust it.
    """
    lines = []
    for customer in info.customers:
        host = f"{customer.tenant_slug}.{settings.base_domain}"
        path = f"/portal/{customer.id}"
        label = f"{customer.name} ({customer.tenant_slug})"
        lines.append(f"Portal of {label}: {settings.public_url(host)}{path}")
        lines.append(f"Portal of {label} over HTTPS: {settings.secure_url(host)}{path}")
    if root_path is not None and info.customers:
        first = info.customers[0]
        url = settings.secure_url(f"{first.tenant_slug}.{settings.base_domain}")
        lines.append(f"HTTPS certificates come from the internal CA; its root is {root_path}")
        lines.append(f"Check HTTPS: curl --cacert {root_path} {url}/portal/{first.id}")
        lines.append(
            "Browsers: the http:// URLs above need no certificate; to try HTTPS, import the"
            " root as an authority in a separate browser profile used only for this demo (it"
            " lasts two years and is replaced before it ends; see README, Issuers)"
        )
    api = settings.public_url(settings.api_host) + "/api/v1"
    lines.append(f"API base URL: {api}")
    lines.append(f"OpenAPI document: {api}/openapi.json")
    lines.append(f"Demo API key of {info.tenant.slug}: {api_key}")
    lines.append(f"Try: curl -H 'Authorization: Bearer {api_key}' {api}/customers")
    return lines


def brand_icon(color: tuple[int, int, int], size: int = 64) -> bytes:
    """A PNG icon: a white mountain peak on a rounded square of `color`."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, size - 1, size - 1), radius=size // 5, fill=(*color, 255))
    base = size * 3 // 4
    white = (255, 255, 255, 255)
    # A big peak and a smaller one to its right, both standing on the same base line.
    for tip_x, tip_y in ((size * 0.42, size * 0.25), (size * 0.68, size * 0.45)):
        half = (base - tip_y) * 0.9
        draw.polygon([(tip_x, tip_y), (tip_x + half, base), (tip_x - half, base)], fill=white)
    output = io.BytesIO()
    image.save(output, format="PNG", optimize=True)
    return output.getvalue()


# Marks the checkout session the demo made, so sessions made through the API are not shown.
DEMO_CHECKOUT_METADATA = {"source": "gateway-demo"}
DEMO_TRIAL_DAYS = 14


@dataclass(frozen=True, kw_only=True)
class DemoCheckout:
    url: str
    trial_days: int | None

    @property
    def line(self) -> str:
        """The banner line: its label says what the session is."""
        kind = f" ({self.trial_days}-day trial)" if self.trial_days else ""
        return f"Demo checkout{kind}: {self.url}"


def demo_checkout_data(settings: Settings) -> dict[str, Any]:
    """The demo's checkout session as API data, returning to the tenant's own site.

    Its return URLs use https unless the base domain is local (localhost): checkout
    accepts plain http only there.
    """
    host = f"{DEMO_SLUG}.{settings.base_domain}"
    local = settings.base_domain == "localhost" or settings.base_domain.endswith(".localhost")
    base = settings.public_url(host) if local else settings.secure_url(host)
    return {
        "customer_details": {"name": "New Customer", "email": "new@example.com"},
        "currency": "EUR",
        "line_items": [
            {"name": "Alpeak Team", "unit_amount": 4900, "quantity": 1, "interval": "month"},
            {"name": "Onboarding", "unit_amount": 9900, "quantity": 1},
        ],
        "trial_days": DEMO_TRIAL_DAYS,
        "success_url": base + "/demo-shop/thanks?session={CHECKOUT_SESSION_ID}",
        "cancel_url": base + "/demo-shop/",
        "metadata": DEMO_CHECKOUT_METADATA,
    }


def check_demo_settings(settings: Settings) -> None:
    """Raise SettingsError when the demo could not be made with `settings`; creates nothing.

    Run it before seeding, so a wrong setting never leaves half a demo behind.
    """
    from billing.checkout_sessions import validate_redirect_url
    from billing.validation import FieldErrors

    errors = FieldErrors()
    data = demo_checkout_data(settings)
    for field in ("success_url", "cancel_url"):
        validate_redirect_url(errors, field, data[field])
    if errors.errors:
        problems = "; ".join(f"{field} {message}" for field, message in errors.errors.items())
        raise SettingsError(
            env_name("base_domain"), f"the demo's checkout cannot use it ({problems})"
        )


async def demo_checkout(pool: Any, settings: Settings, info: DemoInfo) -> DemoCheckout:
    """The hosted checkout of the demo's open session (a new one when none is open)."""
    from billing.checkout_sessions import create_checkout_session

    host = f"{info.tenant.slug}.{settings.base_domain}"
    row = await pool.fetchrow(
        """SELECT id, trial_days FROM checkout_sessions
           WHERE tenant_id = $1 AND status = 'open' AND metadata->>'source' = $2
           AND expires_at > now() + interval '1 hour' ORDER BY created_at DESC LIMIT 1""",
        info.tenant.id,
        DEMO_CHECKOUT_METADATA["source"],
    )
    if row is None:
        session = await create_checkout_session(
            pool,
            tenant_id=info.tenant.id,
            default_currency=info.tenant.default_currency,
            data=demo_checkout_data(settings),
        )
        session_id, trial_days = session.id, session.trial_days
    else:
        session_id, trial_days = row["id"], row["trial_days"]
    base = settings.public_url(host)
    return DemoCheckout(url=f"{base}/checkout/{session_id}", trial_days=trial_days)

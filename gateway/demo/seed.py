"""The demo: tenants alpeak and bergfeld with customers, cards, subscriptions, invoices, wallets.

`seed_demo` runs once per database (it does nothing when the tenant `alpeak`
exists), in one transaction, so a failure leaves nothing half-made and two
concurrent runs seed once. Everything goes through the billing and tenant
services, so the demo data obeys the same rules as data made through the API.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass

from billing import customers, invoices, payment_methods, subscriptions, wallets
from gateway.demo.icon import brand_icon
from gateway.demo.plans import (
    ALPEAK_CUSTOMERS,
    BERGFELD_CUSTOMER,
    DEMO_CUSTOMER_EMAILS,
    DEMO_SLUG,
    OTHER_SLUG,
    CustomerPlan,
)
from gateway.tenants import icons, registry
from gateway.tenants.errors import TenantNotFound
from gateway.tenants.models import Tenant
from kernel.db import Db, Pool

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


async def seed_demo(pool: Pool) -> DemoInfo:
    """Create the demo tenants and their data unless `alpeak` exists; return what is there."""
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", DEMO_LOCK)
        with contextlib.suppress(TenantNotFound):
            return await _existing(connection)
        tenant = await registry.create_tenant(
            connection, slug=DEMO_SLUG, name="Alpeak", brand_color="#0e7c66"
        )
        await icons.set_icon(
            connection,
            tenant_id=tenant.id,
            data=brand_icon((0x0E, 0x7C, 0x66)),
            max_bytes=ICON_MAX_BYTES,
        )
        # Alpeak shows every portal action; Bergfeld keeps the defaults (no cancelling).
        tenant = await registry.update_settings(
            connection,
            tenant_id=tenant.id,
            changes={
                "wallet.topups_enabled": True,
                "portal.subscription_cancel_enabled": True,
                # The seller's details, so the demo's invoices show the EU content in full.
                "legal.name": "Alpeak Outdoor SAS",
                "legal.address_line1": "1 rue des Cimes",
                "legal.postal_code": "74400",
                "legal.city": "Chamonix-Mont-Blanc",
                "legal.country": "FR",
                "legal.vat_number": "FR12345678901",
                "legal.registration_number": "RCS Annecy 123 456 789",
            },
        )
        other = await registry.create_tenant(
            connection, slug=OTHER_SLUG, name="Bergfeld", brand_color="#b4233c"
        )
        await icons.set_icon(
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


async def _seed_customer(connection: Db, tenant: Tenant, plan: CustomerPlan) -> DemoCustomer:
    """One customer of `tenant` with its card, subscription, invoices and credited wallet."""
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
    await _seed_invoices(
        connection,
        tenant_id=tenant.id,
        customer_id=customer.id,
        subscription_id=subscription.id,
        plan=plan,
    )
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


async def _seed_invoices(
    connection: Db, *, tenant_id: int, customer_id: str, subscription_id: str, plan: CustomerPlan
) -> None:
    """Two subscription periods (the older paid, the current open) and a paid one-off."""
    lines = [
        {
            "description": item["name"],
            "quantity": item.get("quantity", 1),
            "unit_amount": item["unit_amount"],
            "tax_rate_bps": plan.tax_rate_bps,
        }
        for item in plan.items
    ]
    for paid in (True, False):
        invoice = await invoices.create_invoice(
            connection,
            tenant_id=tenant_id,
            data={"customer": customer_id, "lines": lines},
            kind="subscription",
            subscription_id=subscription_id,
        )
        invoice = await invoices.finalize_invoice(
            connection, tenant_id=tenant_id, invoice_id=invoice.id
        )
        if paid:
            await invoices.mark_paid(connection, tenant_id=tenant_id, invoice_id=invoice.id)
    onboarding = await invoices.create_invoice(
        connection,
        tenant_id=tenant_id,
        data={
            "customer": customer_id,
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
        connection, tenant_id=tenant_id, invoice_id=onboarding.id
    )
    await invoices.mark_paid(connection, tenant_id=tenant_id, invoice_id=onboarding.id)

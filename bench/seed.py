"""Benchmark data: the portal customer of the issue's shape, and tenants, domains, certificates.

The portal customer is made through the billing functions the tenant API uses
(2 subscriptions, 3 cards, 24 final invoices, 1 wallet), plus a second
customer whose many invoices feed the "PDFs rendering" load.

Stored domains are bulk-copied (COPY) as active custom domains, one tenant per
ten domains. The hot names (at most 1,000) each get a real certificate with its
own P-256 key from the internal CA, stored exactly as `CertificateStore.save`
stores it (key sealed under its row's purpose). Every other name gets a row
only: a copy of one hot chain with its own sealed key, never served here, so
the certificates table has one row per domain like a real deployment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from billing import customers, invoices, payment_methods, subscriptions, wallets
from certs.internal_ca import InternalCA
from certs.store import CertificateStore, key_purpose
from gateway.demo.icon import brand_icon
from gateway.tenants import icons, registry
from kernel import clock
from kernel.ids import ALPHABET
from kernel.sealing import Sealer

TENANT_SLUG = "bench"
HOT_NAMES = 1_000
DOMAINS_PER_TENANT = 10
PORTAL_INVOICES = 24
PDF_LOAD_INVOICES = 240
# Seconds: copying 100,000 rows takes longer than the pool's per-query timeout on a busy machine.
COPY_TIMEOUT = 600.0
# The seeded custom domains' suffix; the gateway under test is started with it in
# GATEWAY_INTERNAL_CA_NAMES (bench.processes) so the internal CA's root permits them.
DOMAIN_SUFFIX = "bench.test"


def internal_ca_names(base_domain: str) -> tuple[str, ...]:
    """The names the gateway's internal CA root is limited to when serving the bench."""
    return tuple(sorted({base_domain, "localhost", DOMAIN_SUFFIX}))


@dataclass(frozen=True)
class PortalSeed:
    """What the portal rows request: the tenant, its customer and invoices."""

    tenant_id: int
    tenant_host: str
    customer_id: str
    invoice_ids: list[str]
    load_customer_id: str
    load_invoice_ids: list[str]
    root_pem: str


def fast_id(prefix: str) -> str:
    """A public id like `kernel.ids.new_id` makes, drawn faster for bulk rows."""
    raw = os.urandom(24)
    return prefix + "_" + "".join(ALPHABET[byte % 62] for byte in raw)


def domain_name(index: int) -> str:
    return f"billing.customer{index:06d}.{DOMAIN_SUFFIX}"


async def seed_portal(pool: asyncpg.Pool[Any], sealer: Sealer, base_domain: str) -> PortalSeed:
    """The bench tenant (with an icon) and its portal customer of the issue's shape."""
    tenant = await registry.create_tenant(
        pool, slug=TENANT_SLUG, name="Bench Outdoor", brand_color="#0e7c66"
    )
    await icons.set_icon(
        pool, tenant_id=tenant.id, data=brand_icon((0x0E, 0x7C, 0x66)), max_bytes=262_144
    )
    customer = await customers.create_customer(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data={
            "name": "Atelier Lumière SARL",
            "email": "billing@atelier.example",
            "address": {
                "line1": "12 rue des Lilas",
                "city": "Lyon",
                "postal_code": "69002",
                "country": "FR",
            },
            "vat_number": "FR32123456789",
            "currency": "EUR",
        },
    )
    for last4, month in (("4242", 12), ("5555", 6), ("0005", 3)):
        await payment_methods.add_card(
            pool,
            tenant_id=tenant.id,
            customer_id=customer.id,
            brand="visa",
            last4=last4,
            exp_month=month,
            exp_year=2031,
        )
    subscription_ids = []
    for plan in ("Pro", "Support"):
        subscription = await subscriptions.create_subscription(
            pool,
            tenant_id=tenant.id,
            data={
                "customer": customer.id,
                "plan_name": plan,
                "items": [
                    {"name": f"{plan} plan", "unit_amount": 4900, "price_model": "flat"},
                    {"name": "Extra seats", "unit_amount": 900, "quantity": 3},
                ],
            },
        )
        subscription_ids.append(subscription.id)
    invoice_ids = [
        await _final_invoice(pool, tenant.id, customer.id, subscription_ids[i % 2], paid=i > 1)
        for i in range(PORTAL_INVOICES)
    ]
    wallet = await wallets.create_wallet(
        pool, tenant_id=tenant.id, customer_id=customer.id, currency="EUR"
    )
    await wallets.credit_wallet(
        pool, tenant_id=tenant.id, wallet_id=wallet.id, amount=2500, description="Welcome"
    )
    load_customer = await customers.create_customer(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data={"name": "PDF Load GmbH", "currency": "EUR"},
    )
    load_invoice_ids = [
        await _final_invoice(pool, tenant.id, load_customer.id, None, paid=True)
        for _ in range(PDF_LOAD_INVOICES)
    ]
    authority = await InternalCA.load_or_create(
        pool, sealer, permitted_names=internal_ca_names(base_domain)
    )
    return PortalSeed(
        tenant_id=tenant.id,
        tenant_host=f"{TENANT_SLUG}.{base_domain}",
        customer_id=customer.id,
        invoice_ids=invoice_ids,
        load_customer_id=load_customer.id,
        load_invoice_ids=load_invoice_ids,
        root_pem=authority.root_pem,
    )


async def _final_invoice(
    pool: asyncpg.Pool[Any],
    tenant_id: int,
    customer_id: str,
    subscription_id: str | None,
    *,
    paid: bool,
) -> str:
    lines = [
        {"description": "Pro plan", "quantity": 1, "unit_amount": 4900, "tax_rate_bps": 2000},
        {"description": "Extra seats", "quantity": 3, "unit_amount": 900, "tax_rate_bps": 2000},
    ]
    draft = await invoices.create_invoice(
        pool,
        tenant_id=tenant_id,
        data={"customer": customer_id, "lines": lines},
        kind="one_off" if subscription_id is None else "subscription",
        subscription_id=subscription_id,
    )
    invoice = await invoices.finalize_invoice(pool, tenant_id=tenant_id, invoice_id=draft.id)
    if paid:
        await invoices.mark_paid(pool, tenant_id=tenant_id, invoice_id=invoice.id)
    return invoice.id


async def seed_domains(
    pool: asyncpg.Pool[Any], sealer: Sealer, count: int, *, base_domain: str
) -> list[str]:
    """`count` active custom domains with certificates; returns the hot names (the first 1,000)."""
    tenant_count = max(1, count // DOMAINS_PER_TENANT)
    base = await pool.fetchval("SELECT coalesce(max(id), 0) FROM tenants")
    await pool.copy_records_to_table(
        "tenants",
        records=[(f"domains{i:06d}", f"Domains {i}") for i in range(tenant_count)],
        columns=["slug", "name"],
        timeout=COPY_TIMEOUT,
    )
    tenant_ids = [
        row["id"]
        for row in await pool.fetch(
            "SELECT id FROM tenants WHERE id > $1 AND slug LIKE 'domains%' ORDER BY id", base
        )
    ]
    names = [domain_name(i) for i in range(count)]
    # Active names were proven theirs first (the domains_proven_before_use constraint).
    proven_at = clock.utc_now()
    domain_rows = [
        (fast_id("dom"), tenant_ids[i % tenant_count], name, "active", proven_at)
        for i, name in enumerate(names)
    ]
    await pool.copy_records_to_table(
        "domains",
        records=domain_rows,
        columns=["id", "tenant_id", "name", "status", "proven_at"],
        timeout=COPY_TIMEOUT,
    )
    authority = await InternalCA.load_or_create(
        pool, sealer, permitted_names=internal_ca_names(base_domain)
    )
    store = CertificateStore()
    hot = names[:HOT_NAMES]
    template: Any = None
    for (domain_id, tenant_id, name, _, _), _ in zip(domain_rows, hot, strict=False):
        issued = authority.issue([name])
        await store.save(
            pool,
            sealer,
            tenant_id=tenant_id,
            domain_id=domain_id,
            names=[name],
            issuer="internal",
            chain_pem=issued.chain_pem,
            key_pem=issued.key_pem,
        )
        template = template or issued
    cold = domain_rows[len(hot) :]
    if cold:
        now = clock.utc_now()
        records = []
        for domain_id, tenant_id, name, _, _ in cold:
            certificate_id = fast_id("crt")
            records.append(
                (
                    certificate_id,
                    tenant_id,
                    domain_id,
                    [name],
                    "internal",
                    template.serial,
                    now - timedelta(minutes=5),
                    now + timedelta(days=90),
                    template.chain_pem,
                    sealer.seal(template.key_pem, key_purpose(certificate_id)),
                )
            )
        await pool.copy_records_to_table(
            "certificates",
            records=records,
            columns=[
                "id",
                "tenant_id",
                "domain_id",
                "names",
                "issuer",
                "serial",
                "not_before",
                "not_after",
                "chain_pem",
                "key_sealed",
            ],
            timeout=COPY_TIMEOUT,
        )
    await pool.execute("ANALYZE", timeout=COPY_TIMEOUT)
    return hot

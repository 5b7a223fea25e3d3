"""Seed data for portal tests, made through the billing functions a tenant's API calls use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billing.customers import create_customer
from billing.invoices import Invoice, create_invoice, finalize_invoice, mark_paid
from gateway.tenants.models import Tenant
from gateway.tenants.registry import create_tenant

ALPEAK = {"Host": "alpeak.localhost:8080"}
BERGWERK = {"Host": "bergwerk.localhost:8080"}


@dataclass(frozen=True)
class Seeded:
    alpeak: Tenant
    bergwerk: Tenant
    customer_id: str
    other_customer_id: str
    foreign_customer_id: str


async def seed_tenants(pool: Any) -> Seeded:
    """Two tenants; Ada (with a full address) and Grace at Alpeak, Linus at Bergwerk."""
    alpeak = await create_tenant(pool, slug="alpeak", name="Alpeak Outdoor", brand_color="#aa0000")
    bergwerk = await create_tenant(pool, slug="bergwerk", name="Bergwerk", brand_color="#fde68a")
    ada = await create_customer(
        pool,
        tenant_id=alpeak.id,
        default_currency=alpeak.default_currency,
        data={
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "address": {
                "line1": "12 Rue des Alpes",
                "city": "Grenoble",
                "postal_code": "38000",
                "country": "FR",
            },
            "vat_number": "FR40303265045",
            "currency": "EUR",
        },
    )
    grace = await create_customer(
        pool,
        tenant_id=alpeak.id,
        default_currency=alpeak.default_currency,
        data={"name": "Grace Hopper"},
    )
    linus = await create_customer(
        pool,
        tenant_id=bergwerk.id,
        default_currency=bergwerk.default_currency,
        data={"name": "Linus Torvalds"},
    )
    return Seeded(alpeak, bergwerk, ada.id, grace.id, linus.id)


async def final_invoice(
    pool: Any, tenant_id: int, customer_id: str, *, paid: bool = False, amount: int = 1250
) -> Invoice:
    """An open (or paid) invoice of one line at `amount` minor units of EUR, no tax."""
    draft = await create_invoice(
        pool,
        tenant_id=tenant_id,
        data={
            "customer": customer_id,
            "currency": "EUR",
            "lines": [{"description": "Ski rental", "quantity": 1, "unit_amount": amount}],
        },
    )
    invoice = await finalize_invoice(pool, tenant_id=tenant_id, invoice_id=draft.id)
    if paid:
        invoice = await mark_paid(pool, tenant_id=tenant_id, invoice_id=invoice.id)
    return invoice


async def draft_invoice(pool: Any, tenant_id: int, customer_id: str) -> Invoice:
    return await create_invoice(
        pool,
        tenant_id=tenant_id,
        data={
            "customer": customer_id,
            "currency": "EUR",
            "lines": [{"description": "Not yet billed", "quantity": 1, "unit_amount": 999}],
        },
    )

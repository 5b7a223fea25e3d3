"""Invoices: totals with per-line half-up tax, gapless numbering, status changes, scoping."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from billing import customers, invoices
from billing.errors import Conflict, InvalidInput, NotFound
from gateway.tenants.models import Tenant


async def make_customer(pool: Any, tenant: Tenant) -> customers.Customer:
    return await customers.create_customer(
        pool, tenant_id=tenant.id, default_currency=tenant.default_currency, data={"name": "Ada"}
    )


async def draft(pool: Any, tenant: Tenant, customer_id: str, **data: Any) -> invoices.Invoice:
    return await invoices.create_invoice(
        pool,
        tenant_id=tenant.id,
        data={
            "customer": customer_id,
            "lines": [{"description": "Consulting", "quantity": 1, "unit_amount": 1000}],
            **data,
        },
    )


async def test_totals_round_tax_half_up_per_line(pool: Any, tenant: Tenant) -> None:
    customer = await make_customer(pool, tenant)
    created = await invoices.create_invoice(
        pool,
        tenant_id=tenant.id,
        data={
            "customer": customer.id,
            "lines": [
                {"description": "Widget", "quantity": 3, "unit_amount": 111, "tax_rate_bps": 550},
                {"description": "Gadget", "quantity": 1, "unit_amount": 5, "tax_rate_bps": 1000},
                {"description": "Exempt", "unit_amount": 700},
            ],
        },
    )
    # 333 at 5.5% = 18.315 -> 18; 5 at 10% = 0.5 -> 1
    assert (created.subtotal, created.tax, created.total) == (1038, 19, 1057)
    assert [line.tax for line in created.lines] == [18, 1, 0]
    assert created.status == "draft"
    assert created.number is None
    assert created.currency == "EUR"
    read = await invoices.get_invoice(pool, tenant_id=tenant.id, invoice_id=created.id)
    assert read == created


async def test_wrong_lines_are_named_and_nothing_is_stored(pool: Any, tenant: Tenant) -> None:
    customer = await make_customer(pool, tenant)
    with pytest.raises(InvalidInput) as caught:
        await invoices.create_invoice(
            pool,
            tenant_id=tenant.id,
            data={
                "customer": customer.id,
                "currency": "EURO",
                "lines": [
                    {"description": "ok", "unit_amount": 100},
                    {"description": "", "quantity": 0, "unit_amount": 1.5, "tax_rate_bps": 10001},
                ],
            },
        )
    assert set(caught.value.errors) == {
        "currency",
        "lines.1.description",
        "lines.1.quantity",
        "lines.1.unit_amount",
        "lines.1.tax_rate_bps",
    }
    assert await pool.fetchval("SELECT count(*) FROM invoices") == 0


async def test_finalizing_numbers_with_the_tenant_slug(pool: Any, tenant: Tenant) -> None:
    customer = await make_customer(pool, tenant)
    created = await draft(pool, tenant, customer.id)
    final = await invoices.finalize_invoice(pool, tenant_id=tenant.id, invoice_id=created.id)
    assert final.status == "open"
    assert final.number == "ALPEAK-0001"
    assert final.finalized_at is not None
    assert final.due_at is not None
    with pytest.raises(Conflict):
        await invoices.finalize_invoice(pool, tenant_id=tenant.id, invoice_id=created.id)


async def test_concurrent_finalizes_get_distinct_consecutive_numbers(
    pool: Any, tenant: Tenant
) -> None:
    customer = await make_customer(pool, tenant)
    drafts = [await draft(pool, tenant, customer.id) for _ in range(8)]
    finals = await asyncio.gather(
        *(invoices.finalize_invoice(pool, tenant_id=tenant.id, invoice_id=d.id) for d in drafts)
    )
    assert sorted(str(f.number) for f in finals) == [f"ALPEAK-{n:04d}" for n in range(1, 9)]


async def test_an_empty_invoice_cannot_be_finalized_and_uses_no_number(
    pool: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    customer = await make_customer(pool, tenant)
    empty = await draft(pool, tenant, customer.id, lines=[])
    with pytest.raises(Conflict):
        await invoices.finalize_invoice(pool, tenant_id=tenant.id, invoice_id=empty.id)
    # Another tenant's numbering is its own.
    theirs = await make_customer(pool, other_tenant)
    their_final = await invoices.finalize_invoice(
        pool,
        tenant_id=other_tenant.id,
        invoice_id=(await draft(pool, other_tenant, theirs.id)).id,
    )
    assert their_final.number == "BOREALIS-0001"
    final = await invoices.finalize_invoice(
        pool, tenant_id=tenant.id, invoice_id=(await draft(pool, tenant, customer.id)).id
    )
    assert final.number == "ALPEAK-0001"


async def test_void_and_paid_follow_the_status_rules(pool: Any, tenant: Tenant) -> None:
    customer = await make_customer(pool, tenant)
    first = await draft(pool, tenant, customer.id)
    with pytest.raises(Conflict):
        await invoices.void_invoice(pool, tenant_id=tenant.id, invoice_id=first.id)
    with pytest.raises(Conflict):
        await invoices.mark_paid(pool, tenant_id=tenant.id, invoice_id=first.id)
    await invoices.finalize_invoice(pool, tenant_id=tenant.id, invoice_id=first.id)
    voided = await invoices.void_invoice(pool, tenant_id=tenant.id, invoice_id=first.id)
    assert voided.status == "void"
    assert voided.voided_at is not None
    assert voided.amount_due == 0
    with pytest.raises(Conflict):
        await invoices.mark_paid(pool, tenant_id=tenant.id, invoice_id=first.id)
    second = await draft(pool, tenant, customer.id)
    await invoices.finalize_invoice(pool, tenant_id=tenant.id, invoice_id=second.id)
    paid = await invoices.mark_paid(pool, tenant_id=tenant.id, invoice_id=second.id)
    assert (paid.status, paid.amount_paid, paid.amount_due) == ("paid", 1000, 0)
    with pytest.raises(Conflict):
        await invoices.void_invoice(pool, tenant_id=tenant.id, invoice_id=second.id)


async def test_other_tenants_cannot_read_or_change_an_invoice(
    pool: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    customer = await make_customer(pool, tenant)
    created = await draft(pool, tenant, customer.id)
    for action in (invoices.get_invoice, invoices.finalize_invoice, invoices.void_invoice):
        with pytest.raises(NotFound):
            await action(pool, tenant_id=other_tenant.id, invoice_id=created.id)
    listed, _ = await invoices.list_invoices(pool, tenant_id=other_tenant.id)
    assert listed == []
    assert (
        await invoices.get_invoice(pool, tenant_id=tenant.id, invoice_id=created.id)
    ).status == ("draft")


async def test_lists_filter_on_customer_and_status(pool: Any, tenant: Tenant) -> None:
    ada = await make_customer(pool, tenant)
    bob = await make_customer(pool, tenant)
    a1 = await draft(pool, tenant, ada.id)
    a2 = await draft(pool, tenant, ada.id)
    await draft(pool, tenant, bob.id)
    await invoices.finalize_invoice(pool, tenant_id=tenant.id, invoice_id=a1.id)
    open_of_ada, _ = await invoices.list_invoices(
        pool, tenant_id=tenant.id, customer_id=ada.id, status="open"
    )
    assert [i.id for i in open_of_ada] == [a1.id]
    page, more = await invoices.list_invoices(pool, tenant_id=tenant.id, limit=2)
    assert more
    assert page[1].id == a2.id
    assert page[1].lines[0].description == "Consulting"

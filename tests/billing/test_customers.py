"""Customers: validation names every wrong field, pagination, billing info, tenant scoping."""

from __future__ import annotations

from typing import Any

import pytest

from billing import customers
from billing.errors import InvalidInput, NotFound
from gateway.tenants.models import Tenant


async def count_customers(pool: Any) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM customers"))


async def test_created_customer_reads_back_with_normalised_fields(
    pool: Any, tenant: Tenant
) -> None:
    created = await customers.create_customer(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data={
            "name": "  Ada Lovelace ",
            "email": "ada@example.com",
            "address": {"line1": "1 Rue de Rivoli", "city": "Paris", "country": "fr"},
            "vat_number": "fr 12.345 678 901",
            "language": "FR",
            "metadata": {"crm": "42"},
        },
    )
    assert created.id.startswith("cus_")
    assert created.name == "Ada Lovelace"
    assert created.country == "FR"
    assert created.vat_number == "FR12345678901"
    assert created.language == "fr"
    assert created.currency == "EUR"  # the tenant's default currency
    read = await customers.get_customer(pool, tenant_id=tenant.id, customer_id=created.id)
    assert read == created


async def test_every_wrong_field_is_reported_at_once_and_nothing_is_stored(
    pool: Any, tenant: Tenant
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await customers.create_customer(
            pool,
            tenant_id=tenant.id,
            default_currency=tenant.default_currency,
            data={
                "name": "",
                "email": "not-an-email",
                "address": {"country": "XX", "zip": "1"},
                "language": "tlh",
                "currency": "ABC",
                "nickname": "x",
            },
        )
    assert set(caught.value.errors) == {
        "name",
        "email",
        "address.country",
        "address.zip",
        "language",
        "currency",
        "nickname",
    }
    assert await count_customers(pool) == 0


async def test_vat_number_requires_a_country(pool: Any, tenant: Tenant) -> None:
    with pytest.raises(InvalidInput) as caught:
        await customers.create_customer(
            pool,
            tenant_id=tenant.id,
            default_currency=tenant.default_currency,
            data={"name": "Acme", "vat_number": "DE123456789"},
        )
    assert "vat_number" in caught.value.errors


async def test_vat_number_must_fit_the_country(pool: Any, tenant: Tenant) -> None:
    with pytest.raises(InvalidInput) as caught:
        await customers.create_customer(
            pool,
            tenant_id=tenant.id,
            default_currency=tenant.default_currency,
            data={"name": "Acme", "address": {"country": "DE"}, "vat_number": "DE12345"},
        )
    assert "DE" in caught.value.errors["vat_number"]


async def test_unknown_malformed_and_other_tenants_ids_are_not_found(
    pool: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = await customers.create_customer(
        pool,
        tenant_id=other_tenant.id,
        default_currency=other_tenant.default_currency,
        data={"name": "B"},
    )
    for customer_id in (theirs.id, "cus_" + "x" * 24, "nonsense", ""):
        with pytest.raises(NotFound):
            await customers.get_customer(pool, tenant_id=tenant.id, customer_id=customer_id)


async def test_list_pages_newest_first_with_a_cursor(
    pool: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    made = [
        await customers.create_customer(
            pool,
            tenant_id=tenant.id,
            default_currency=tenant.default_currency,
            data={"name": f"C{i}"},
        )
        for i in range(5)
    ]
    await customers.create_customer(
        pool,
        tenant_id=other_tenant.id,
        default_currency=other_tenant.default_currency,
        data={"name": "theirs"},
    )
    first, more = await customers.list_customers(pool, tenant_id=tenant.id, limit=3)
    assert more
    second, more_again = await customers.list_customers(
        pool, tenant_id=tenant.id, limit=3, starting_after=first[-1].id
    )
    assert not more_again
    assert [c.id for c in first + second] == [c.id for c in reversed(made)]


async def test_a_cursor_from_another_tenant_is_a_field_error(
    pool: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = await customers.create_customer(
        pool,
        tenant_id=other_tenant.id,
        default_currency=other_tenant.default_currency,
        data={"name": "B"},
    )
    with pytest.raises(InvalidInput) as caught:
        await customers.list_customers(
            pool, tenant_id=tenant.id, limit=10, starting_after=theirs.id
        )
    assert set(caught.value.errors) == {"starting_after"}


async def test_list_filters_on_email_ignoring_case(pool: Any, tenant: Tenant) -> None:
    await customers.create_customer(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data={"name": "A", "email": "Ada@Example.com"},
    )
    await customers.create_customer(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data={"name": "B", "email": "bob@example.com"},
    )
    found, _ = await customers.list_customers(
        pool, tenant_id=tenant.id, limit=10, email="ada@example.com"
    )
    assert [c.name for c in found] == ["A"]


async def test_billing_info_update_merges_the_address_and_keeps_other_fields(
    pool: Any, tenant: Tenant
) -> None:
    created = await customers.create_customer(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data={"name": "Acme", "email": "a@example.com", "address": {"city": "Berlin"}},
    )
    updated = await customers.update_billing_info(
        pool,
        tenant_id=tenant.id,
        customer_id=created.id,
        changes={"address": {"country": "DE"}, "vat_number": "123456789"},
    )
    assert updated.city == "Berlin"
    assert updated.country == "DE"
    assert updated.vat_number == "DE123456789"
    assert updated.email == "a@example.com"
    assert updated.updated_at >= created.updated_at


async def test_changing_country_under_a_vat_number_that_no_longer_fits_is_refused(
    pool: Any, tenant: Tenant
) -> None:
    created = await customers.create_customer(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data={"name": "Acme", "address": {"country": "DE"}, "vat_number": "DE123456789"},
    )
    with pytest.raises(InvalidInput) as caught:
        await customers.update_billing_info(
            pool,
            tenant_id=tenant.id,
            customer_id=created.id,
            changes={"address": {"country": "FR"}},
        )
    assert "vat_number" in caught.value.errors
    again = await customers.get_customer(pool, tenant_id=tenant.id, customer_id=created.id)
    assert again.country == "DE"


async def test_billing_info_update_refuses_non_billing_fields(pool: Any, tenant: Tenant) -> None:
    created = await customers.create_customer(
        pool, tenant_id=tenant.id, default_currency=tenant.default_currency, data={"name": "Acme"}
    )
    with pytest.raises(InvalidInput) as caught:
        await customers.update_billing_info(
            pool, tenant_id=tenant.id, customer_id=created.id, changes={"currency": "USD"}
        )
    assert set(caught.value.errors) == {"currency"}


async def test_another_tenant_cannot_update_a_customer(
    pool: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    created = await customers.create_customer(
        pool, tenant_id=tenant.id, default_currency=tenant.default_currency, data={"name": "Acme"}
    )
    with pytest.raises(NotFound):
        await customers.update_billing_info(
            pool, tenant_id=other_tenant.id, customer_id=created.id, changes={"name": "Evil"}
        )
    assert (
        await customers.get_customer(pool, tenant_id=tenant.id, customer_id=created.id)
    ).name == "Acme"

"""Checkout sessions: redirect URL rules, expiry window and lazy expiry, totals, scoping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing import checkout_sessions, customers
from billing.errors import Conflict, InvalidInput, NotFound
from gateway.tenants.models import Tenant


def offer(**overrides: Any) -> dict[str, Any]:
    return {
        "customer_details": {"name": "Ada", "email": "ada@example.com", "country": "fr"},
        "line_items": [
            {"name": "Setup", "unit_amount": 5000},
            {"name": "Seats", "unit_amount": 1200, "quantity": 3, "interval": "month"},
        ],
        "success_url": "https://shop.example.com/thanks",
        **overrides,
    }


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example.com/thanks?session={id}",
        "http://localhost:3000/done",
        "http://shop.localhost/done",
        "http://127.0.0.1:8080/done",
    ],
)
async def test_https_or_local_http_redirects_are_accepted(
    pool: Any, tenant: Tenant, url: str
) -> None:
    session = await checkout_sessions.create_checkout_session(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data=offer(success_url=url, cancel_url=url),
    )
    assert session.success_url == url
    assert session.cancel_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://shop.example.com/thanks",
        "/thanks",
        "shop.example.com/thanks",
        "javascript:alert(1)",
        "https://user:pw@shop.example.com/",
        "ftp://shop.example.com/",
        "http://localhost.evil.com/",
    ],
)
async def test_other_redirects_are_field_errors_and_store_nothing(
    pool: Any, tenant: Tenant, url: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await checkout_sessions.create_checkout_session(
            pool,
            tenant_id=tenant.id,
            default_currency=tenant.default_currency,
            data=offer(success_url=url, cancel_url=url),
        )
    assert set(caught.value.errors) == {"success_url", "cancel_url"}
    assert await pool.fetchval("SELECT count(*) FROM checkout_sessions") == 0


async def test_expiry_defaults_to_a_day_and_must_stay_in_the_window(
    pool: Any, tenant: Tenant
) -> None:
    now = datetime.now(UTC)
    session = await checkout_sessions.create_checkout_session(
        pool, tenant_id=tenant.id, default_currency=tenant.default_currency, data=offer(), now=now
    )
    assert session.expires_at == now + timedelta(hours=24)
    for lifetime in (timedelta(minutes=20), timedelta(hours=25)):
        with pytest.raises(InvalidInput) as caught:
            await checkout_sessions.create_checkout_session(
                pool,
                tenant_id=tenant.id,
                default_currency=tenant.default_currency,
                data=offer(expires_at=(now + lifetime).isoformat()),
                now=now,
            )
        assert set(caught.value.errors) == {"expires_at"}
    ok = await checkout_sessions.create_checkout_session(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data=offer(expires_at=(now + timedelta(minutes=30)).isoformat()),
        now=now,
    )
    assert ok.expires_at == now + timedelta(minutes=30)


async def test_amount_total_counts_recurring_items_unless_a_trial_defers_them(
    pool: Any, tenant: Tenant
) -> None:
    paid_now = await checkout_sessions.create_checkout_session(
        pool, tenant_id=tenant.id, default_currency=tenant.default_currency, data=offer()
    )
    assert paid_now.amount_total == 5000 + 3600
    assert paid_now.currency == "EUR"  # the tenant's default for a new customer
    trial = await checkout_sessions.create_checkout_session(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data=offer(trial_days=14, currency="gbp"),
    )
    assert trial.amount_total == 5000
    assert trial.currency == "GBP"


async def test_field_errors_name_each_problem(pool: Any, tenant: Tenant) -> None:
    with pytest.raises(InvalidInput) as caught:
        await checkout_sessions.create_checkout_session(
            pool,
            tenant_id=tenant.id,
            default_currency=tenant.default_currency,
            data={
                "customer_details": {"email": "nope", "country": "ZZ"},
                "line_items": [{"name": "x", "unit_amount": -5, "interval": "hour"}],
                "currency": "ABC",
                "metadata": {str(i): "v" for i in range(51)},
            },
        )
    assert set(caught.value.errors) == {
        "customer_details.name",
        "customer_details.email",
        "customer_details.country",
        "line_items.0.unit_amount",
        "line_items.0.interval",
        "currency",
        "success_url",
        "metadata",
    }


async def test_an_existing_customer_sets_the_currency(
    pool: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    customer = await customers.create_customer(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data={"name": "Ada", "currency": "SEK"},
    )
    data = offer(customer=customer.id)
    del data["customer_details"]
    session = await checkout_sessions.create_checkout_session(
        pool, tenant_id=tenant.id, default_currency=tenant.default_currency, data=data
    )
    assert (session.customer_id, session.currency) == (customer.id, "SEK")
    with pytest.raises(InvalidInput) as caught:
        await checkout_sessions.create_checkout_session(
            pool,
            tenant_id=other_tenant.id,
            default_currency=other_tenant.default_currency,
            data=data,
        )
    assert set(caught.value.errors) == {"customer"}


async def test_a_lapsed_open_session_reads_as_expired(pool: Any, tenant: Tenant) -> None:
    session = await checkout_sessions.create_checkout_session(
        pool, tenant_id=tenant.id, default_currency=tenant.default_currency, data=offer()
    )
    await pool.execute(
        "UPDATE checkout_sessions SET expires_at = now() - interval '1 second' WHERE id = $1",
        session.id,
    )
    read = await checkout_sessions.get_checkout_session(
        pool, tenant_id=tenant.id, session_id=session.id
    )
    assert read.status == "expired"
    listed, _ = await checkout_sessions.list_checkout_sessions(
        pool, tenant_id=tenant.id, status="open"
    )
    assert listed == []


async def test_expire_closes_an_open_session_but_not_a_complete_one(
    pool: Any, tenant: Tenant
) -> None:
    session = await checkout_sessions.create_checkout_session(
        pool, tenant_id=tenant.id, default_currency=tenant.default_currency, data=offer()
    )
    expired = await checkout_sessions.expire_checkout_session(
        pool, tenant_id=tenant.id, session_id=session.id
    )
    assert expired.status == "expired"
    assert expired.expires_at <= datetime.now(UTC)
    complete = await checkout_sessions.create_checkout_session(
        pool, tenant_id=tenant.id, default_currency=tenant.default_currency, data=offer()
    )
    await pool.execute(
        "UPDATE checkout_sessions SET status = 'complete', completed_at = now() WHERE id = $1",
        complete.id,
    )
    with pytest.raises(Conflict):
        await checkout_sessions.expire_checkout_session(
            pool, tenant_id=tenant.id, session_id=complete.id
        )


async def test_another_tenant_cannot_see_or_expire_a_session(
    pool: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    session = await checkout_sessions.create_checkout_session(
        pool, tenant_id=tenant.id, default_currency=tenant.default_currency, data=offer()
    )
    with pytest.raises(NotFound):
        await checkout_sessions.get_checkout_session(
            pool, tenant_id=other_tenant.id, session_id=session.id
        )
    with pytest.raises(NotFound):
        await checkout_sessions.expire_checkout_session(
            pool, tenant_id=other_tenant.id, session_id=session.id
        )
    listed, _ = await checkout_sessions.list_checkout_sessions(pool, tenant_id=other_tenant.id)
    assert listed == []

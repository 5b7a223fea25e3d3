"""A past-due subscription on the portal overview: what to pay, where, when the card is retried."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.app import create_app
from gateway.settings import Settings
from tests.dates import days_from_now
from tests.portal.seed import final_invoice
from tests.portal.test_overview import (
    ALPEAK,
    english_day,
    insert_customer,
    insert_subscription,
    insert_tenant,
)

Client = TestClient[web.Request, web.Application]
RETRY_AT = days_from_now(2)


async def past_due_invoice(
    pool: asyncpg.Pool, tenant_id: int, customer_id: str, *, retry: bool = True
) -> tuple[str, str]:
    """Make the customer's subscription past due with an open renewal invoice of €24.00."""
    subscription_id = await pool.fetchval(
        "UPDATE subscriptions SET status = 'past_due' WHERE tenant_id = $1 AND customer_id = $2 "
        "RETURNING id",
        tenant_id,
        customer_id,
    )
    invoice = await final_invoice(pool, tenant_id, customer_id, amount=2400)
    await pool.execute(
        "UPDATE invoices SET subscription_id = $3, next_payment_attempt_at = $4 "
        "WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        invoice.id,
        subscription_id,
        RETRY_AT if retry else None,
    )
    return subscription_id, str(invoice.number)


@pytest.fixture
async def tenant_id(pool: asyncpg.Pool) -> int:
    return await insert_tenant(pool, "alpeak", "Alpeak Outdoor", "#aa0000")


@pytest.fixture
async def customer_id(pool: asyncpg.Pool, tenant_id: int) -> str:
    customer = await insert_customer(pool, tenant_id, "Ada Lovelace")
    await insert_subscription(pool, tenant_id, customer)
    return customer


@pytest.fixture
async def client(
    customer_id: str,
    settings: Settings,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> Client:
    return await aiohttp_client(create_app(settings))


async def test_a_past_due_subscription_shows_the_invoice_to_pay_and_the_retry_day(
    client: Client, pool: asyncpg.Pool, tenant_id: int, customer_id: str
) -> None:
    page = await (await client.get(f"/portal/{customer_id}", headers=ALPEAK)).text()
    assert "Payment needed" not in page
    assert "past-due" not in page
    subscription_id, number = await past_due_invoice(pool, tenant_id, customer_id)
    invoice_id = await pool.fetchval("SELECT id FROM invoices WHERE number = $1", number)
    page = await (await client.get(f"/portal/{customer_id}", headers=ALPEAK)).text()
    assert "Payment needed: a subscription renewal was not paid." in page
    assert f'href="#{subscription_id}-past-due"' in page
    assert "Past due" in page  # the subscription's badge
    assert "The last payment for this subscription failed." in page
    assert f"Invoice {number}: €24.00 to pay." in page
    assert f"We will try your card again on {english_day(RETRY_AT)}." in page
    assert f'href="/portal/{customer_id}/invoices/{invoice_id}#pay"' in page
    assert f"Pay invoice {number}" in page


async def test_the_pay_link_opens_the_open_invoice(
    client: Client, pool: asyncpg.Pool, tenant_id: int, customer_id: str
) -> None:
    _, number = await past_due_invoice(pool, tenant_id, customer_id)
    invoice_id = await pool.fetchval("SELECT id FROM invoices WHERE number = $1", number)
    response = await client.get(f"/portal/{customer_id}/invoices/{invoice_id}", headers=ALPEAK)
    assert response.status == 200
    page = await response.text()
    # The pay form itself needs the tenant's Stripe keys: tests/portal/test_invoice_payments.py.
    assert number in page
    assert "€24.00" in page


async def test_an_unpaid_subscription_says_no_retry_is_planned(
    client: Client, pool: asyncpg.Pool, tenant_id: int, customer_id: str
) -> None:
    await past_due_invoice(pool, tenant_id, customer_id, retry=False)
    await pool.execute("UPDATE subscriptions SET status = 'unpaid' WHERE tenant_id = $1", tenant_id)
    page = await (await client.get(f"/portal/{customer_id}", headers=ALPEAK)).text()
    assert "Every payment attempt for this subscription failed." in page
    assert "No further automatic payment is planned." in page
    assert "We will try your card again" not in page


async def test_a_paid_invoice_clears_the_past_due_notice(
    client: Client, pool: asyncpg.Pool, tenant_id: int, customer_id: str
) -> None:
    _, number = await past_due_invoice(pool, tenant_id, customer_id)
    await pool.execute(
        "UPDATE invoices SET status = 'paid', amount_paid = total, paid_at = now() "
        "WHERE number = $1",
        number,
    )
    page = await (await client.get(f"/portal/{customer_id}", headers=ALPEAK)).text()
    assert "Payment needed" not in page
    assert "to pay." not in page


async def test_the_notice_is_in_the_customers_language(
    client: Client, pool: asyncpg.Pool, tenant_id: int, customer_id: str
) -> None:
    _, number = await past_due_invoice(pool, tenant_id, customer_id)
    headers = {**ALPEAK, "Accept-Language": "fr"}
    page = await (await client.get(f"/portal/{customer_id}", headers=headers)).text()
    assert f"Payer la facture {number}" in page
    assert "Payment needed" not in page

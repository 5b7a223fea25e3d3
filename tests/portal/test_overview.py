"""Portal overview: a customer sees their billing information and subscriptions, in the brand."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from babel.dates import format_date

from billing.renewals import renew_next_due
from gateway.app import create_app
from gateway.settings import Settings
from kernel import clock
from kernel.ids import new_id
from tests.dates import days_from_now
from tests.portal.seed import draft_invoice, final_invoice

Client = TestClient[web.Request, web.Application]
# The current period, around whatever day the suite runs: under way, and far from its end.
PERIOD_START = days_from_now(-10)
PERIOD_END = days_from_now(20)


def english_day(moment: datetime) -> str:
    """How an English page writes a day (CLDR's "d MMM y": 1 Dec 2026)."""
    return str(format_date(moment.date(), "d MMM y", locale="en"))


ALPEAK = {"Host": "alpeak.localhost:8080"}
BERGWERK = {"Host": "bergwerk.localhost:8080"}


async def insert_tenant(pool: asyncpg.Pool, slug: str, name: str, color: str) -> int:
    tenant_id: int = await pool.fetchval(
        "INSERT INTO tenants (slug, name, brand_color) VALUES ($1, $2, $3) RETURNING id",
        slug,
        name,
        color,
    )
    return tenant_id


async def insert_customer(pool: asyncpg.Pool, tenant_id: int, name: str) -> str:
    customer_id = new_id("cus")
    await pool.execute(
        "INSERT INTO customers (id, tenant_id, name, email, address_line1, address_line2,"
        " city, postal_code, country, vat_number)"
        " VALUES ($1, $2, $3, 'ada@example.com', '12 Rue des Alpes', 'Bâtiment B',"
        " 'Grenoble', '38000', 'FR', 'FR40303265045')",
        customer_id,
        tenant_id,
        name,
    )
    return customer_id


async def insert_subscription(
    pool: asyncpg.Pool, tenant_id: int, customer_id: str, *, cancel_at_period_end: bool = False
) -> str:
    subscription_id = new_id("sub")
    await pool.execute(
        "INSERT INTO subscriptions (id, tenant_id, customer_id, status, currency, plan_name,"
        " current_period_start, current_period_end, cancel_at_period_end)"
        " VALUES ($1, $2, $3, 'active', 'EUR', 'Team plan', $4, $5, $6)",
        subscription_id,
        tenant_id,
        customer_id,
        PERIOD_START,
        PERIOD_END,
        cancel_at_period_end,
    )
    items = [
        ("Seats", "per_unit", 1250, 3, "month"),
        ("Support", "flat", 4900, 1, "month"),
    ]
    for position, (name, model, amount, quantity, interval) in enumerate(items):
        await pool.execute(
            "INSERT INTO subscription_items (id, tenant_id, subscription_id, position, name,"
            " price_model, unit_amount, quantity, billing_interval)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            new_id("si"),
            tenant_id,
            subscription_id,
            position,
            name,
            model,
            amount,
            quantity,
            interval,
        )
    return subscription_id


@pytest.fixture
async def tenants(pool: asyncpg.Pool) -> dict[str, int]:
    return {
        "alpeak": await insert_tenant(pool, "alpeak", "Alpeak Outdoor", "#aa0000"),
        "bergwerk": await insert_tenant(pool, "bergwerk", "Bergwerk Tools", "#fde68a"),
    }


@pytest.fixture
async def customer_id(pool: asyncpg.Pool, tenants: dict[str, int]) -> str:
    customer = await insert_customer(pool, tenants["alpeak"], "Ada Lovelace")
    await insert_subscription(pool, tenants["alpeak"], customer)
    return customer


@pytest.fixture
async def client(
    customer_id: str,
    settings: Settings,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> Client:
    # Rows exist before the app starts, so its host index loads them at start-up.
    return await aiohttp_client(create_app(settings))


async def test_the_customer_sees_billing_information_and_subscription(
    client: Client, customer_id: str
) -> None:
    response = await client.get(f"/portal/{customer_id}", headers=ALPEAK)
    assert response.status == 200
    page = await response.text()
    for shown in (
        "Ada Lovelace",
        "ada@example.com",
        "12 Rue des Alpes",
        "Bâtiment B",
        "38000 Grenoble",
        "FR40303265045",
        "Team plan",
        "Active",
        f"{english_day(PERIOD_START)} – {english_day(PERIOD_END)}",
        "Seats",
        "€12.50",  # unit price
        "€37.50 / month",  # 3 seats
        "Support",
        "€49.00 / month",
    ):
        assert shown in page, shown
    assert "will not renew" not in page


async def test_the_portal_is_drawn_in_the_tenants_brand(client: Client, customer_id: str) -> None:
    page = await (await client.get(f"/portal/{customer_id}", headers=ALPEAK)).text()
    assert "--brand: #aa0000" in page
    assert "--brand-contrast: #ffffff" in page
    assert "Alpeak Outdoor" in page
    assert '<html lang="en">' in page
    assert "Bergwerk" not in page


async def test_a_subscription_ending_at_period_end_says_so(
    client: Client, pool: asyncpg.Pool, customer_id: str
) -> None:
    await pool.execute(
        "UPDATE subscriptions SET cancel_at_period_end = true WHERE customer_id = $1",
        customer_id,
    )
    page = await (await client.get(f"/portal/{customer_id}", headers=ALPEAK)).text()
    assert f"ends on {english_day(PERIOD_END)} and will not renew" in page


async def test_another_tenants_customer_is_not_found(client: Client, customer_id: str) -> None:
    response = await client.get(f"/portal/{customer_id}", headers=BERGWERK)
    assert response.status == 404
    page = await response.text()
    assert "Ada Lovelace" not in page
    assert "Alpeak" not in page
    assert "--brand: #fde68a" in page  # the visited tenant's own 404 page


@pytest.mark.parametrize(
    "path",
    [
        "/portal/cus_000000000000000000000000",  # well formed, nobody
        "/portal/not-a-customer-id",
        "/portal/sub_000000000000000000000000",
    ],
)
async def test_an_unknown_customer_is_not_found(client: Client, path: str) -> None:
    response = await client.get(path, headers=ALPEAK)
    assert response.status == 404
    assert "Ada Lovelace" not in await response.text()


async def test_the_portal_is_not_served_on_unknown_hosts(client: Client, customer_id: str) -> None:
    response = await client.get(f"/portal/{customer_id}", headers={"Host": "nobody.localhost"})
    assert response.status == 404
    page = await response.text()
    assert "Ada Lovelace" not in page
    assert "Alpeak" not in page


async def test_a_tenant_using_signed_links_asks_for_a_fresh_link_on_a_bare_customer_id(
    client: Client, pool: asyncpg.Pool, customer_id: str, tenants: dict[str, int]
) -> None:
    await pool.execute(
        "UPDATE tenants SET portal_link_mode = 'signed' WHERE id = $1", tenants["alpeak"]
    )
    # The host index learns of the change through NOTIFY; wait for it, generously.
    for _ in range(200):  # up to about 10 s
        response = await client.get(f"/portal/{customer_id}", headers=ALPEAK)
        if response.status == 403:
            break
        await response.release()
        await asyncio.sleep(0.05)
    assert response.status == 403
    page = await response.text()
    assert "Ada Lovelace" not in page
    assert "fresh link" in page


async def test_a_subscription_set_to_end_shows_canceled_once_the_renewal_job_ends_it(
    client: Client, pool: asyncpg.Pool, customer_id: str
) -> None:
    await pool.execute(
        "UPDATE subscriptions SET cancel_at_period_end = true,"
        " current_period_end = now() - interval '1 second' WHERE customer_id = $1",
        customer_id,
    )
    # The app's own job may get there first; either way one step ends it.
    await renew_next_due(pool, now=clock.utc_now())
    page = await (await client.get(f"/portal/{customer_id}", headers=ALPEAK)).text()
    assert "Canceled" in page
    assert "will not renew" not in page
    status = await pool.fetchval(
        "SELECT status FROM subscriptions WHERE customer_id = $1", customer_id
    )
    assert status == "canceled"


async def test_drafts_do_not_push_a_customers_invoices_off_the_overview(
    client: Client, pool: asyncpg.Pool, customer_id: str, tenants: dict[str, int]
) -> None:
    tenant_id = tenants["alpeak"]
    finals = [
        await final_invoice(pool, tenant_id, customer_id, amount=1000 + index) for index in range(6)
    ]
    for _ in range(20):
        await draft_invoice(pool, tenant_id, customer_id)
    page = await (await client.get(f"/portal/{customer_id}", headers=ALPEAK)).text()
    numbers = [str(invoice.number) for invoice in finals]
    for number in numbers[1:]:
        assert number in page, number
    assert numbers[0] not in page  # only the five newest are on the overview
    assert "Draft" not in page


async def test_the_next_invoice_of_a_taxed_subscription_shows_its_tax_and_total(
    client: Client, customer_id: str, pool: asyncpg.Pool
) -> None:
    response = await client.get(f"/portal/{customer_id}", headers=ALPEAK)
    assert "Total with tax" not in await response.text()
    await pool.execute("UPDATE subscription_items SET tax_rate_bps = 2000 WHERE name = 'Seats'")
    response = await client.get(f"/portal/{customer_id}", headers=ALPEAK)
    page = await response.text()
    # Seats 37.50 + Support 49.00 before tax; 20% of the seats is 7.50.
    assert "€86.50" in page
    assert "€7.50" in page
    assert "Total with tax" in page
    assert "€94.00" in page

"""Subscriptions through the tenant API: create, page, filter, cancel, validation, isolation."""

from __future__ import annotations

import calendar
from typing import Any

from kernel import clock
from tests.conftest import ApiTenant
from tests.gateway.api.billing_api import call, make_customer, problem_fields

PLAN = {
    "plan_name": "Pro",
    "items": [
        {"name": "Seats", "unit_amount": 1500, "quantity": 2, "interval": "month"},
        {"name": "Base", "unit_amount": 4900, "price_model": "flat"},
    ],
}


async def subscribe(client: Any, tenant: ApiTenant, customer_id: str, **extra: Any) -> Any:
    return await call(
        client,
        tenant,
        "POST",
        "/subscriptions",
        json={"customer": customer_id, **PLAN, **extra},
        expect=201,
    )


async def test_a_subscription_shows_its_items_and_next_invoice(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    customer = await make_customer(gateway_client, alpeak, currency="GBP")
    # 31 January of this year: within a year of now whatever the day, and its month ends short.
    year = clock.utc_now().year
    created = await subscribe(
        gateway_client, alpeak, customer["id"], start=f"{year}-01-31T10:00:00+00:00"
    )
    assert created["object"] == "subscription"
    assert created["status"] == "active"
    assert created["currency"] == "GBP"
    february_end = 29 if calendar.isleap(year) else 28
    assert created["current_period_end"] == f"{year}-02-{february_end}T10:00:00+00:00"
    assert [i["amount"] for i in created["items"]] == [3000, 4900]
    assert created["upcoming_invoice"]["subtotal"] == 7900
    read = await call(gateway_client, alpeak, "GET", f"/subscriptions/{created['id']}")
    assert read == created


async def test_list_pages_and_filters_by_customer_and_status(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    ada = await make_customer(gateway_client, alpeak)
    bob = await make_customer(gateway_client, alpeak, name="Bob")
    first = await subscribe(gateway_client, alpeak, ada["id"])
    second = await subscribe(gateway_client, alpeak, bob["id"])
    third = await subscribe(gateway_client, alpeak, ada["id"], trial_days=7)
    page = await call(gateway_client, alpeak, "GET", "/subscriptions?limit=2", expect=200)
    assert [s["id"] for s in page["data"]] == [third["id"], second["id"]]
    rest = await call(
        gateway_client,
        alpeak,
        "GET",
        f"/subscriptions?limit=2&starting_after={page['next_cursor']}",
        expect=200,
    )
    assert [s["id"] for s in rest["data"]] == [first["id"]]
    trialing = await call(
        gateway_client, alpeak, "GET", f"/subscriptions?customer={ada['id']}&status=trialing"
    )
    assert [s["id"] for s in trialing["data"]] == [third["id"]]
    response = await gateway_client.get(
        "/api/v1/subscriptions?status=sleeping", headers=alpeak.headers
    )
    assert await problem_fields(response, 422) == {"status"}


async def test_cancel_at_period_end_then_now_then_again_conflicts(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    customer = await make_customer(gateway_client, alpeak)
    created = await subscribe(gateway_client, alpeak, customer["id"])
    path = f"/subscriptions/{created['id']}/cancel"
    later = await call(
        gateway_client, alpeak, "POST", path, json={"at_period_end": True}, expect=200
    )
    assert (later["status"], later["cancel_at_period_end"]) == ("active", True)
    assert later["upcoming_invoice"]["lines"] == []
    now = await call(gateway_client, alpeak, "POST", path, json={}, expect=200)
    assert now["status"] == "canceled"
    assert now["canceled_at"] is not None
    response = await gateway_client.post("/api/v1" + path, headers=alpeak.headers, json={})
    assert response.status == 409
    assert response.content_type == "application/problem+json"


async def test_a_taxed_item_puts_its_tax_on_every_next_invoice(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    customer = await make_customer(gateway_client, alpeak)
    created = await call(
        gateway_client,
        alpeak,
        "POST",
        "/subscriptions",
        json={
            "customer": customer["id"],
            "plan_name": "Pro",
            "items": [
                {"name": "Seats", "unit_amount": 1250, "quantity": 3, "tax_rate_bps": 2000},
                {"name": "Support", "unit_amount": 999, "price_model": "flat"},
            ],
        },
        expect=201,
    )
    assert [item["tax_rate_bps"] for item in created["items"]] == [2000, 0]
    upcoming = created["upcoming_invoice"]
    # 20% of 37.50 is 7.50; the untaxed item adds nothing.
    assert (upcoming["subtotal"], upcoming["tax"], upcoming["total"]) == (4749, 750, 5499)
    assert [line["tax_rate_bps"] for line in upcoming["lines"]] == [2000, 0]
    response = await gateway_client.post(
        "/api/v1/subscriptions",
        headers=alpeak.headers,
        json={
            "customer": customer["id"],
            "plan_name": "Pro",
            "items": [{"name": "Seats", "unit_amount": 100, "tax_rate_bps": 10_001}],
        },
    )
    assert await problem_fields(response, 422) == {"items.0.tax_rate_bps"}


async def test_bad_subscriptions_name_each_field_and_store_nothing(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    customer = await make_customer(gateway_client, alpeak)
    response = await gateway_client.post(
        "/api/v1/subscriptions",
        headers=alpeak.headers,
        json={
            "customer": customer["id"],
            "plan_name": "Pro",
            "items": [{"name": "Seats", "unit_amount": "15", "colour": "red"}],
            "trial_days": 0,
        },
    )
    assert await problem_fields(response, 422) == {
        "items.0.unit_amount",
        "items.0.colour",
        "trial_days",
    }
    response = await gateway_client.post(
        "/api/v1/subscriptions",
        headers=alpeak.headers,
        json={
            "customer": customer["id"],
            "plan_name": "Pro",
            "currency": "ZZZ",
            "items": [
                {"name": "A", "unit_amount": 1, "interval": "month"},
                {"name": "B", "unit_amount": 1, "interval": "year"},
            ],
        },
    )
    assert await problem_fields(response, 422) == {"currency", "items.1.interval"}
    assert await pool.fetchval("SELECT count(*) FROM subscriptions") == 0


async def test_another_tenant_gets_404_and_an_empty_list(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    borealis: ApiTenant = await make_tenant("borealis")
    customer = await make_customer(gateway_client, alpeak)
    created = await subscribe(gateway_client, alpeak, customer["id"])
    response = await gateway_client.get(
        f"/api/v1/subscriptions/{created['id']}", headers=borealis.headers
    )
    assert response.status == 404
    response = await gateway_client.post(
        f"/api/v1/subscriptions/{created['id']}/cancel", headers=borealis.headers, json={}
    )
    assert response.status == 404
    response = await gateway_client.post(
        "/api/v1/subscriptions", headers=borealis.headers, json={"customer": customer["id"], **PLAN}
    )
    assert await problem_fields(response, 422) == {"customer"}
    listed = await call(gateway_client, borealis, "GET", "/subscriptions", expect=200)
    assert listed["data"] == []
    still = await call(gateway_client, alpeak, "GET", f"/subscriptions/{created['id']}")
    assert still["status"] == "active"

"""Checkout sessions through the tenant API: hosted URL, totals, URL rules, expiry, isolation."""

from __future__ import annotations

from typing import Any

from gateway.ids import new_id
from tests.conftest import ApiTenant
from tests.gateway.api.billing_api import call, make_customer, problem_fields

OFFER = {
    "customer_details": {"name": "Ada", "email": "ada@example.com"},
    "line_items": [
        {"name": "Setup", "unit_amount": 5000},
        {"name": "Seats", "unit_amount": 1200, "quantity": 2, "interval": "month"},
    ],
    "success_url": "https://shop.example.com/thanks",
    "cancel_url": "http://localhost:3000/cart",
}


async def create(client: Any, tenant: ApiTenant, **overrides: Any) -> Any:
    return await call(
        client, tenant, "POST", "/checkout_sessions", json={**OFFER, **overrides}, expect=201
    )


async def test_a_session_links_to_the_hosted_checkout_on_the_tenant_host(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    session = await create(gateway_client, alpeak)
    assert session["object"] == "checkout_session"
    assert session["status"] == "open"
    assert session["amount_total"] == 5000 + 2400
    assert session["currency"] == "EUR"
    assert session["url"] == f"http://alpeak.localhost:8080/checkout/{session['id']}"
    await pool.execute(
        "INSERT INTO domains (id, tenant_id, name, status) VALUES ($1, $2, $3, 'active')",
        new_id("dom"),
        alpeak.tenant.id,
        "pay.alpeak.example",
    )
    read = await call(gateway_client, alpeak, "GET", f"/checkout_sessions/{session['id']}")
    assert read["url"] == f"https://pay.alpeak.example/checkout/{session['id']}"


async def test_a_session_for_an_existing_customer_bills_in_their_currency(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    customer = await make_customer(gateway_client, alpeak, currency="JPY")
    body = {key: value for key, value in OFFER.items() if key != "customer_details"}
    session = await call(
        gateway_client,
        alpeak,
        "POST",
        "/checkout_sessions",
        json={**body, "customer": customer["id"], "trial_days": 30},
        expect=201,
    )
    assert (session["customer"], session["currency"]) == (customer["id"], "JPY")
    assert session["amount_total"] == 5000  # the trial defers the recurring seats


async def test_insecure_redirects_and_bad_expiry_are_named_and_store_nothing(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    response = await gateway_client.post(
        "/api/v1/checkout_sessions",
        headers=alpeak.headers,
        json={
            **OFFER,
            "success_url": "http://shop.example.com/thanks",
            "cancel_url": "/cart",
            "expires_at": "2020-01-01T00:00:00Z",
            "currency": "ABC",
        },
    )
    assert await problem_fields(response, 422) == {
        "success_url",
        "cancel_url",
        "expires_at",
        "currency",
    }
    response = await gateway_client.post(
        "/api/v1/checkout_sessions",
        headers=alpeak.headers,
        json={**OFFER, "line_items": [{"name": "x", "unit_amount": 1, "interval": "hourly"}]},
    )
    assert await problem_fields(response, 400) == {"line_items.0.interval"}
    assert await pool.fetchval("SELECT count(*) FROM checkout_sessions") == 0


async def test_expire_closes_a_session_and_the_list_pages(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    made = [await create(gateway_client, alpeak) for _ in range(3)]
    expired = await call(
        gateway_client, alpeak, "POST", f"/checkout_sessions/{made[0]['id']}/expire", expect=200
    )
    assert expired["status"] == "expired"
    page = await call(gateway_client, alpeak, "GET", "/checkout_sessions?limit=2", expect=200)
    assert [s["id"] for s in page["data"]] == [made[2]["id"], made[1]["id"]]
    rest = await call(
        gateway_client,
        alpeak,
        "GET",
        f"/checkout_sessions?limit=2&starting_after={page['next_cursor']}",
    )
    assert [s["id"] for s in rest["data"]] == [made[0]["id"]]
    open_only = await call(gateway_client, alpeak, "GET", "/checkout_sessions?status=open")
    assert {s["id"] for s in open_only["data"]} == {made[1]["id"], made[2]["id"]}


async def test_another_tenant_gets_404_and_an_empty_list(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    borealis: ApiTenant = await make_tenant("borealis")
    session = await create(gateway_client, alpeak)
    for method, path in (
        ("GET", f"/checkout_sessions/{session['id']}"),
        ("POST", f"/checkout_sessions/{session['id']}/expire"),
    ):
        response = await gateway_client.request(method, "/api/v1" + path, headers=borealis.headers)
        assert response.status == 404, path
    listed = await call(gateway_client, borealis, "GET", "/checkout_sessions", expect=200)
    assert listed["data"] == []
    still = await call(gateway_client, alpeak, "GET", f"/checkout_sessions/{session['id']}")
    assert still["status"] == "open"

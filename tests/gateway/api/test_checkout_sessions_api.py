"""Checkout sessions through the tenant API: hosted URL, totals, URL rules, expiry, isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kernel.ids import new_id
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
        "INSERT INTO domains (id, tenant_id, name, status, proven_at)"
        " VALUES ($1, $2, $3, 'active', now())",
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
    assert await problem_fields(response, 422) == {"line_items.0.interval"}
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


async def test_line_item_tax_is_added_to_the_total_rounded_per_line(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    session = await create(
        gateway_client,
        alpeak,
        line_items=[
            {"name": "Setup", "unit_amount": 5000, "tax_rate_bps": 2000},
            # 2 x 1205 = 2410 at 5.5% = 132.55 -> 133 (half-up, like an invoice line)
            {"name": "Seats", "unit_amount": 1205, "quantity": 2, "tax_rate_bps": 550},
            {"name": "Support", "unit_amount": 1000, "interval": "month"},
        ],
    )
    assert [item["tax_rate_bps"] for item in session["line_items"]] == [2000, 550, 0]
    assert session["amount_subtotal"] == 5000 + 2410 + 1000
    assert session["amount_tax"] == 1000 + 133
    assert session["amount_total"] == 8410 + 1133
    read = await call(gateway_client, alpeak, "GET", f"/checkout_sessions/{session['id']}")
    assert read["amount_total"] == 9543


async def test_a_trial_defers_the_recurring_items_tax_with_them(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    session = await create(
        gateway_client,
        alpeak,
        trial_days=7,
        line_items=[
            {"name": "Setup", "unit_amount": 5000, "tax_rate_bps": 2000},
            {"name": "Plan", "unit_amount": 2900, "interval": "month", "tax_rate_bps": 2000},
        ],
    )
    assert (session["amount_subtotal"], session["amount_tax"], session["amount_total"]) == (
        5000,
        1000,
        6000,
    )


async def test_a_tax_rate_out_of_range_is_named_with_its_line(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    items = [
        {"name": "A", "unit_amount": 100},
        {"name": "B", "unit_amount": 100, "tax_rate_bps": -1},
        {"name": "C", "unit_amount": 100, "tax_rate_bps": 10_001},
        {"name": "D", "unit_amount": 100, "tax_rate_bps": "20%"},
    ]
    response = await gateway_client.post(
        "/api/v1/checkout_sessions", headers=alpeak.headers, json={**OFFER, "line_items": items}
    )
    assert await problem_fields(response, 422) == {
        "line_items.1.tax_rate_bps",
        "line_items.2.tax_rate_bps",
        "line_items.3.tax_rate_bps",
    }
    full = await create(
        gateway_client,
        alpeak,
        line_items=[{"name": "A", "unit_amount": 100, "tax_rate_bps": 10_000}],
    )
    assert full["amount_total"] == 200
    assert await pool.fetchval("SELECT count(*) FROM checkout_sessions") == 1


async def test_empty_and_negative_items_are_refused_naming_the_field(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    for items, field in (
        ([], "line_items"),
        ([{"name": "x", "unit_amount": -100}], "line_items.0.unit_amount"),
        (
            [{"name": "x", "unit_amount": 100}, {"name": "y", "unit_amount": 1, "quantity": 0}],
            "line_items.1.quantity",
        ),
        ([{"name": "x", "unit_amount": 100, "quantity": -2}], "line_items.0.quantity"),
        ([{"name": "", "unit_amount": 100}], "line_items.0.name"),
    ):
        response = await gateway_client.post(
            "/api/v1/checkout_sessions",
            headers=alpeak.headers,
            json={**OFFER, "line_items": items},
        )
        assert response.status == 422
        assert await problem_fields(response, 422) == {field}, items
    assert await pool.fetchval("SELECT count(*) FROM checkout_sessions") == 0


async def test_mixed_currencies_are_refused_naming_the_item(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    response = await gateway_client.post(
        "/api/v1/checkout_sessions",
        headers=alpeak.headers,
        json={
            **OFFER,
            "line_items": [
                {"name": "Setup", "unit_amount": 5000, "currency": "EUR"},
                {"name": "Seats", "unit_amount": 1200, "currency": "USD"},
                {"name": "Extra", "unit_amount": 100, "currency": "XXX"},
            ],
        },
    )
    assert await problem_fields(response, 422) == {"line_items.1.currency", "line_items.2.currency"}
    response = await gateway_client.post(
        "/api/v1/checkout_sessions",
        headers=alpeak.headers,
        json={
            **OFFER,
            "currency": "GBP",
            "line_items": [{"name": "x", "unit_amount": 1, "currency": "EUR"}],
        },
    )
    assert await problem_fields(response, 422) == {"line_items.0.currency"}
    assert await pool.fetchval("SELECT count(*) FROM checkout_sessions") == 0
    # Items that agree set the session's currency.
    session = await create(
        gateway_client, alpeak, line_items=[{"name": "x", "unit_amount": 100, "currency": "usd"}]
    )
    assert session["currency"] == "USD"


async def test_redirects_may_use_http_only_on_localhost_and_expiry_stays_within_a_day(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    now = datetime.now(UTC)
    local = await create(
        gateway_client,
        alpeak,
        success_url="http://localhost:3000/thanks/{CHECKOUT_SESSION_ID}",
        cancel_url="http://127.0.0.1:3000/cart",
        expires_at=(now + timedelta(hours=1)).isoformat(),
    )
    assert local["success_url"].startswith("http://localhost:3000/")
    for overrides, field in (
        ({"success_url": "http://localhost.example.com/thanks"}, "success_url"),
        ({"success_url": "ftp://shop.example.com/thanks"}, "success_url"),
        ({"cancel_url": "http://shop.example.com/cart"}, "cancel_url"),
        ({"expires_at": (now + timedelta(minutes=10)).isoformat()}, "expires_at"),
        ({"expires_at": (now + timedelta(hours=25)).isoformat()}, "expires_at"),
        ({"currency": "EURO"}, "currency"),
    ):
        response = await gateway_client.post(
            "/api/v1/checkout_sessions", headers=alpeak.headers, json={**OFFER, **overrides}
        )
        assert response.status == 422
        assert await problem_fields(response, 422) == {field}, overrides


async def test_the_openapi_document_declares_the_line_item_tax_rate(gateway_client: Any) -> None:
    response = await gateway_client.get(
        "/api/v1/openapi.json", headers={"Host": "api.localhost:8080"}
    )
    schemas = (await response.json())["components"]["schemas"]

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = schemas[schema["$ref"].rsplit("/", 1)[1]]
        return found

    create_item = resolve(schemas["CheckoutSessionCreate"]["properties"]["line_items"]["items"])
    assert create_item["properties"]["tax_rate_bps"]["maximum"] == 10_000
    assert create_item["properties"]["tax_rate_bps"]["minimum"] == 0
    assert "currency" in create_item["properties"]
    read = schemas["CheckoutSession"]["properties"]
    assert {"amount_subtotal", "amount_tax"} <= set(read)
    assert "tax_rate_bps" in resolve(read["line_items"]["items"])["properties"]

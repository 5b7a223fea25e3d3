"""Customers through the tenant API: create, page, update, validation, isolation, idempotency."""

from __future__ import annotations

from typing import Any

from kernel.ids import new_id
from tests.conftest import ApiTenant
from tests.dates import CARD_EXP_YEAR
from tests.gateway.api.billing_api import call, make_customer, problem_fields


async def count(pool: Any, table: str) -> int:
    return int(await pool.fetchval(f"SELECT count(*) FROM {table}"))


async def test_a_created_customer_reads_back_the_same(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    created = await make_customer(
        gateway_client,
        alpeak,
        email="ada@example.com",
        address={"line1": "Unter den Linden 1", "city": "Berlin", "country": "de"},
        vat_number="DE 123 456 789",
        language="de",
        metadata={"crm_id": "42"},
    )
    assert created["object"] == "customer"
    assert created["id"].startswith("cus_")
    assert created["address"]["country"] == "DE"
    assert created["vat_number"] == "DE123456789"
    assert created["currency"] == "EUR"
    read = await call(gateway_client, alpeak, "GET", f"/customers/{created['id']}", expect=200)
    assert read == created


async def test_the_list_pages_with_a_cursor_and_filters_on_email(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    made = [
        await make_customer(gateway_client, alpeak, name=f"C{i}", email=f"c{i}@example.com")
        for i in range(3)
    ]
    first = await call(gateway_client, alpeak, "GET", "/customers?limit=2", expect=200)
    assert first["object"] == "list"
    assert first["has_more"] is True
    assert [c["id"] for c in first["data"]] == [made[2]["id"], made[1]["id"]]
    second = await call(
        gateway_client,
        alpeak,
        "GET",
        f"/customers?limit=2&starting_after={first['next_cursor']}",
        expect=200,
    )
    assert [c["id"] for c in second["data"]] == [made[0]["id"]]
    assert second["has_more"] is False
    assert second["next_cursor"] is None
    found = await call(gateway_client, alpeak, "GET", "/customers?email=c1@example.com")
    assert [c["id"] for c in found["data"]] == [made[1]["id"]]


async def test_billing_info_is_updated_and_other_fields_are_refused(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    created = await make_customer(gateway_client, alpeak, address={"city": "Paris"})
    updated = await call(
        gateway_client,
        alpeak,
        "PATCH",
        f"/customers/{created['id']}",
        json={
            "name": "Ada Lovelace",
            "address": {"country": "FR", "postal_code": "75001"},
            "vat_number": "FR12345678901",
            "language": "fr",
        },
        expect=200,
    )
    assert updated["name"] == "Ada Lovelace"
    assert updated["address"]["city"] == "Paris"
    assert updated["address"]["postal_code"] == "75001"
    assert updated["vat_number"] == "FR12345678901"
    response = await gateway_client.patch(
        f"/api/v1/customers/{created['id']}",
        headers=alpeak.headers,
        json={"currency": "USD", "metadata": {}},
    )
    assert await problem_fields(response, 422) == {"currency", "metadata"}
    response = await gateway_client.patch(
        f"/api/v1/customers/{created['id']}",
        headers=alpeak.headers,
        json={"vat_number": "FR123", "name": "Renamed"},
    )
    assert await problem_fields(response, 422) == {"vat_number"}
    again = await call(gateway_client, alpeak, "GET", f"/customers/{created['id']}")
    assert again == updated


async def test_malformed_json_is_a_problem_document_and_stores_nothing(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    response = await gateway_client.post(
        "/api/v1/customers",
        headers={**alpeak.headers, "Content-Type": "application/json"},
        data=b'{"name": "Ada",',
    )
    assert response.status == 400
    assert response.content_type == "application/problem+json"
    assert "JSON" in (await response.json())["detail"]
    assert await count(pool, "customers") == 0


async def test_unknown_fields_and_wrong_types_are_named(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    response = await gateway_client.post(
        "/api/v1/customers",
        headers=alpeak.headers,
        json={"name": 42, "nickname": "x", "address": {"country": 7, "zip": "1"}},
    )
    assert await problem_fields(response, 422) == {
        "name",
        "nickname",
        "address.country",
        "address.zip",
    }
    response = await gateway_client.post(
        "/api/v1/customers",
        headers=alpeak.headers,
        json={"name": "Ada", "email": "not-an-address", "address": {"country": "XX"}},
    )
    assert await problem_fields(response, 422) == {"email", "address.country"}
    assert await count(pool, "customers") == 0


async def test_another_tenant_gets_404_and_never_sees_the_customer(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    borealis: ApiTenant = await make_tenant("borealis")
    created = await make_customer(gateway_client, alpeak)
    for method, path, body in (
        ("GET", f"/customers/{created['id']}", None),
        ("PATCH", f"/customers/{created['id']}", {"name": "Evil"}),
        ("GET", f"/customers/{created['id']}/payment_methods", None),
        ("GET", f"/customers/{created['id']}/portal", None),
    ):
        response = await gateway_client.request(
            method, "/api/v1" + path, headers=borealis.headers, json=body
        )
        assert response.status == 404, path
        assert response.content_type == "application/problem+json"
    listed = await call(gateway_client, borealis, "GET", "/customers", expect=200)
    assert listed["data"] == []
    response = await gateway_client.get(
        f"/api/v1/customers?starting_after={created['id']}", headers=borealis.headers
    )
    assert response.status == 422
    assert (await call(gateway_client, alpeak, "GET", f"/customers/{created['id']}"))["name"] == (
        "Ada"
    )


async def test_the_same_idempotency_key_creates_one_customer_and_replays_it(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    headers = {**alpeak.headers, "Idempotency-Key": "create-ada-1"}
    first = await gateway_client.post("/api/v1/customers", headers=headers, json={"name": "Ada"})
    second = await gateway_client.post("/api/v1/customers", headers=headers, json={"name": "Ada"})
    assert first.status == second.status == 201
    assert await first.json() == await second.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert await count(pool, "customers") == 1
    other = await gateway_client.post("/api/v1/customers", headers=headers, json={"name": "Bob"})
    assert other.status == 409
    assert other.content_type == "application/problem+json"
    assert await count(pool, "customers") == 1


async def test_payment_methods_list_the_default_card_first(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    from billing import payment_methods

    alpeak: ApiTenant = await make_tenant("alpeak")
    created = await make_customer(gateway_client, alpeak)
    for brand, last4 in (("visa", "4242"), ("mastercard", "4444")):
        await payment_methods.add_card(
            pool,
            tenant_id=alpeak.tenant.id,
            customer_id=created["id"],
            brand=brand,
            last4=last4,
            exp_month=12,
            exp_year=CARD_EXP_YEAR,
        )
    listed = await call(
        gateway_client, alpeak, "GET", f"/customers/{created['id']}/payment_methods", expect=200
    )
    assert [(m["object"], m["card"]["last4"], m["is_default"]) for m in listed["data"]] == [
        ("payment_method", "4444", True),
        ("payment_method", "4242", False),
    ]


async def test_the_portal_link_uses_the_active_custom_domain_when_there_is_one(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    created = await make_customer(gateway_client, alpeak)
    link = await call(
        gateway_client, alpeak, "GET", f"/customers/{created['id']}/portal", expect=200
    )
    assert link["url"] == f"http://alpeak.localhost:8080/portal/{created['id']}"
    await pool.execute(
        "INSERT INTO domains (id, tenant_id, name, status, proven_at)"
        " VALUES ($1, $2, $3, 'active', now())",
        new_id("dom"),
        alpeak.tenant.id,
        "billing.alpeak.example",
    )
    link = await call(gateway_client, alpeak, "GET", f"/customers/{created['id']}/portal")
    assert link["url"] == f"https://billing.alpeak.example/portal/{created['id']}"


async def test_every_wrong_field_comes_back_at_once_with_a_code(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    response = await gateway_client.post(
        "/api/v1/customers",
        headers=alpeak.headers,
        json={
            "email": "not-an-address",
            "address": {"country": "XX", "city": "x" * 101},
            "language": "tlh",
            "nickname": "Ada",
            "metadata": {"plan": 7},
        },
    )
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["status"] == 422
    codes = {error["field"]: error["code"] for error in problem["errors"]}
    assert codes == {
        "name": "required",
        "email": "invalid_email",
        "address.country": "invalid_country",
        "address.city": "too_long",
        "language": "not_allowed",
        "nickname": "unknown_field",
        "metadata.plan": "wrong_type",
    }
    assert all(error["message"] for error in problem["errors"])
    assert await count(pool, "customers") == 0


async def test_a_vat_number_that_does_not_fit_the_country_comes_with_the_other_errors(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    response = await gateway_client.post(
        "/api/v1/customers",
        headers=alpeak.headers,
        json={"name": "Ada", "address": {"country": "FR"}, "vat_number": "DE123", "zip": "1"},
    )
    assert response.status == 422
    errors = {e["field"]: e for e in (await response.json())["errors"]}
    assert {name: e["code"] for name, e in errors.items()} == {
        "vat_number": "invalid_vat_number",
        "zip": "unknown_field",
    }
    assert "FR" in errors["vat_number"]["message"]
    response = await gateway_client.post(
        "/api/v1/customers", headers=alpeak.headers, json={"name": "Ada", "vat_number": "FR1"}
    )
    assert response.status == 422
    assert [(e["field"], e["code"]) for e in (await response.json())["errors"]] == [
        ("vat_number", "country_required")
    ]


async def test_every_wrong_query_parameter_comes_back_at_once(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    response = await gateway_client.get(
        "/api/v1/customers?limit=0&colour=blue&email=" + "x" * 300, headers=alpeak.headers
    )
    assert response.status == 422
    problem = await response.json()
    assert {error["field"]: error["code"] for error in problem["errors"]} == {
        "limit": "out_of_range",
        "colour": "unknown_field",
        "email": "too_long",
    }


async def test_the_tenant_chooses_the_default_card_and_only_its_own_customers_cards(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    from billing import payment_methods

    alpeak: ApiTenant = await make_tenant("alpeak")
    borealis: ApiTenant = await make_tenant("borealis")
    created = await make_customer(gateway_client, alpeak)
    cards = [
        await payment_methods.add_card(
            pool,
            tenant_id=alpeak.tenant.id,
            customer_id=created["id"],
            brand=brand,
            last4=last4,
            exp_month=12,
            exp_year=CARD_EXP_YEAR,
        )
        for brand, last4 in (("visa", "4242"), ("mastercard", "4444"))
    ]
    visa = cards[0].id
    path = f"/customers/{created['id']}/payment_methods/{visa}/default"
    for tenant, expected in ((borealis, 404), (alpeak, 200)):
        response = await gateway_client.post("/api/v1" + path, headers=tenant.headers)
        assert response.status == expected, await response.text()
    chosen = await response.json()
    assert (chosen["id"], chosen["is_default"]) == (visa, True)
    listed = await call(
        gateway_client, alpeak, "GET", f"/customers/{created['id']}/payment_methods", expect=200
    )
    assert [(m["card"]["last4"], m["is_default"]) for m in listed["data"]] == [
        ("4242", True),
        ("4444", False),
    ]
    events = await pool.fetch(
        "SELECT payload FROM outbound_events WHERE tenant_id = $1 "
        "AND type = 'payment_method.default_changed'",
        alpeak.tenant.id,
    )
    assert len(events) == 1
    missing = await gateway_client.post(
        f"/api/v1/customers/{created['id']}/payment_methods/pm_unknown/default",
        headers=alpeak.headers,
    )
    assert missing.status == 404

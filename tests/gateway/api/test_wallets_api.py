"""Wallets through the tenant API: create, credit once per Idempotency-Key, ledger, isolation."""

from __future__ import annotations

from typing import Any

from tests.conftest import ApiTenant
from tests.gateway.api.billing_api import call, make_customer, problem_fields


async def make_wallet(client: Any, tenant: ApiTenant, currency: str = "EUR") -> Any:
    customer = await make_customer(client, tenant)
    return await call(
        client,
        tenant,
        "POST",
        "/wallets",
        json={"customer": customer["id"], "currency": currency},
        expect=201,
    )


async def test_a_credit_returns_the_entry_and_the_new_balance(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    wallet = await make_wallet(gateway_client, alpeak)
    assert (wallet["object"], wallet["balance"], wallet["name"]) == ("wallet", 0, "Credits")
    credit = await call(
        gateway_client,
        alpeak,
        "POST",
        f"/wallets/{wallet['id']}/credits",
        json={"amount": 2500, "description": "Goodwill"},
        expect=201,
    )
    assert credit["transaction"]["object"] == "wallet_transaction"
    assert (credit["transaction"]["amount"], credit["transaction"]["balance_after"]) == (2500, 2500)
    assert credit["wallet"]["balance"] == 2500
    read = await call(gateway_client, alpeak, "GET", f"/wallets/{wallet['id']}", expect=200)
    assert read["balance"] == 2500


async def test_the_same_idempotency_key_credits_once(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    wallet = await make_wallet(gateway_client, alpeak)
    path = f"/api/v1/wallets/{wallet['id']}/credits"
    headers = {**alpeak.headers, "Idempotency-Key": "credit-7"}
    first = await gateway_client.post(path, headers=headers, json={"amount": 700})
    second = await gateway_client.post(path, headers=headers, json={"amount": 700})
    assert first.status == second.status == 201
    assert await first.json() == await second.json()
    changed = await gateway_client.post(path, headers=headers, json={"amount": 9999})
    assert changed.status == 409
    read = await call(gateway_client, alpeak, "GET", f"/wallets/{wallet['id']}")
    assert read["balance"] == 700
    assert await pool.fetchval("SELECT count(*) FROM wallet_ledger") == 1


async def test_one_wallet_per_customer_and_currency(gateway_client: Any, make_tenant: Any) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    wallet = await make_wallet(gateway_client, alpeak)
    response = await gateway_client.post(
        "/api/v1/wallets",
        headers=alpeak.headers,
        json={"customer": wallet["customer"], "currency": "EUR"},
    )
    assert await problem_fields(response, 409) == {"currency"}


async def test_bad_credits_are_named_and_change_nothing(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    wallet = await make_wallet(gateway_client, alpeak)
    path = f"/api/v1/wallets/{wallet['id']}/credits"
    for body, fields in (
        ({"amount": 0}, {"amount"}),
        ({"amount": -5}, {"amount"}),
        ({"amount": "5"}, {"amount"}),
        ({"amount": 5, "kind": "debit"}, {"kind"}),
        ({}, {"amount"}),
    ):
        response = await gateway_client.post(path, headers=alpeak.headers, json=body)
        assert await problem_fields(response, 422) == fields, body
    assert await pool.fetchval("SELECT count(*) FROM wallet_ledger") == 0


async def test_transactions_page_newest_first(gateway_client: Any, make_tenant: Any) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    wallet = await make_wallet(gateway_client, alpeak)
    for amount in (100, 200, 300):
        await call(
            gateway_client,
            alpeak,
            "POST",
            f"/wallets/{wallet['id']}/credits",
            json={"amount": amount},
            expect=201,
        )
    page = await call(
        gateway_client, alpeak, "GET", f"/wallets/{wallet['id']}/transactions?limit=2", expect=200
    )
    assert [t["amount"] for t in page["data"]] == [300, 200]
    rest = await call(
        gateway_client,
        alpeak,
        "GET",
        f"/wallets/{wallet['id']}/transactions?limit=2&starting_after={page['next_cursor']}",
        expect=200,
    )
    assert [t["amount"] for t in rest["data"]] == [100]
    assert rest["has_more"] is False


async def test_another_tenant_gets_404_and_cannot_credit(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    borealis: ApiTenant = await make_tenant("borealis")
    wallet = await make_wallet(gateway_client, alpeak)
    for method, path, body in (
        ("GET", f"/wallets/{wallet['id']}", None),
        ("GET", f"/wallets/{wallet['id']}/transactions", None),
        ("POST", f"/wallets/{wallet['id']}/credits", {"amount": 100}),
    ):
        response = await gateway_client.request(
            method, "/api/v1" + path, headers=borealis.headers, json=body
        )
        assert response.status == 404, path
    response = await gateway_client.post(
        "/api/v1/wallets",
        headers=borealis.headers,
        json={"customer": wallet["customer"], "currency": "USD"},
    )
    assert await problem_fields(response, 422) == {"customer"}
    assert await pool.fetchval("SELECT count(*) FROM wallet_ledger") == 0

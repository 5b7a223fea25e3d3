"""Postal codes through the tenant API: checked against the country as the billing form does."""

from __future__ import annotations

from typing import Any

from tests.conftest import ApiTenant
from tests.gateway.api.billing_api import call, make_customer


async def test_a_postal_code_that_does_not_fit_the_country_is_a_field_error(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    body = {
        "name": "Ada",
        "email": "ada@example.com",
        "address": {"city": "Bristol", "postal_code": "75001", "country": "GB"},
    }
    problem = await call(gateway_client, alpeak, "POST", "/customers", json=body, expect=422)
    assert problem["errors"] == [
        {
            "field": "address.postal_code",
            "code": "invalid_postal_code",
            "message": "must be a postal code of United Kingdom, such as EC1Y 8SY",
        }
    ]
    assert await pool.fetchval("SELECT count(*) FROM customers") == 0
    body["address"] = {"city": "Bristol", "postal_code": "bs1 4dj", "country": "gb"}
    created = await call(gateway_client, alpeak, "POST", "/customers", json=body, expect=201)
    assert created["address"]["postal_code"] == "BS1 4DJ"


async def test_a_change_is_checked_against_the_stored_country_and_state(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    created = await make_customer(
        gateway_client,
        alpeak,
        address={"city": "Springfield", "postal_code": "62701", "state": "IL", "country": "US"},
    )
    path = f"/customers/{created['id']}"
    # Only the code is sent: the stored country and state decide (10001 is New York's).
    problem = await call(
        gateway_client, alpeak, "PATCH", path, json={"address": {"postal_code": "10001"}}
    )
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [
        ("address.postal_code", "invalid_postal_code")
    ]
    # Only the country is sent: the stored code must fit it.
    problem = await call(gateway_client, alpeak, "PATCH", path, json={"address": {"country": "GB"}})
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [
        ("address.postal_code", "invalid_postal_code")
    ]
    read = await call(gateway_client, alpeak, "GET", path, expect=200)
    assert read["address"] == created["address"]
    moved = {"address": {"postal_code": "10001", "state": "NY", "city": "New York"}}
    updated = await call(gateway_client, alpeak, "PATCH", path, json=moved, expect=200)
    assert updated["address"]["postal_code"] == "10001"

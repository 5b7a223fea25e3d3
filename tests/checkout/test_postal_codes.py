"""The checkout's billing step checks the postal code against the country, as the portal does."""

from __future__ import annotations

from typing import Any

from tests.checkout.conftest import BILLING, JSON, Shop


async def test_a_postal_code_of_another_country_is_refused_and_nothing_is_stored(
    shop: Shop,
) -> None:
    created = await shop.create_session()
    token = await shop.csrf_token(created["id"])
    response = await shop.client.post(
        f"/checkout/{created['id']}/customer",
        data={**BILLING, "csrf_token": token, "city": "Bristol", "postal_code": "38000",
              "country": "GB"},
        headers={**JSON, "Accept-Language": "de-DE"},
    )  # fmt: skip
    assert response.status == 422
    problem: dict[str, Any] = await response.json()
    assert [(item["field"], item["code"]) for item in problem["errors"]] == [
        ("address.postal_code", "invalid_postal_code")
    ]
    assert await shop.pool.fetchval("SELECT count(*) FROM customers") == 0
    intent = await shop.billing_step(created["id"], token, postal_code="bs1 4dj", country="GB")
    assert intent
    stored = await shop.pool.fetchval("SELECT postal_code FROM customers")
    assert stored == "BS1 4DJ"

"""Invoices through the tenant API: drafts, totals, numbering, void, validation, isolation."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import ApiTenant
from tests.gateway.api.billing_api import call, make_customer, problem_fields

LINES = [
    {"description": "Consulting", "quantity": 3, "unit_amount": 111, "tax_rate_bps": 550},
    {"description": "Travel", "unit_amount": 5000},
]


async def make_draft(client: Any, tenant: ApiTenant, customer_id: str) -> Any:
    return await call(
        client,
        tenant,
        "POST",
        "/invoices",
        json={"customer": customer_id, "lines": LINES},
        expect=201,
    )


async def test_a_draft_totals_its_lines_and_finalizing_numbers_it(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    customer = await make_customer(gateway_client, alpeak)
    draft = await make_draft(gateway_client, alpeak, customer["id"])
    assert (draft["object"], draft["status"], draft["number"]) == ("invoice", "draft", None)
    assert (draft["subtotal"], draft["tax"], draft["total"]) == (5333, 18, 5351)
    final = await call(
        gateway_client, alpeak, "POST", f"/invoices/{draft['id']}/finalize", expect=200
    )
    assert (final["status"], final["number"]) == ("open", "ALPEAK-0001")
    assert final["amount_due"] == 5351
    response = await gateway_client.post(
        f"/api/v1/invoices/{draft['id']}/finalize", headers=alpeak.headers
    )
    assert response.status == 409
    voided = await call(gateway_client, alpeak, "POST", f"/invoices/{draft['id']}/void")
    assert (voided["status"], voided["number"]) == ("void", "ALPEAK-0001")
    read = await call(gateway_client, alpeak, "GET", f"/invoices/{draft['id']}", expect=200)
    assert read == voided


async def test_concurrent_finalize_requests_get_consecutive_numbers(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    customer = await make_customer(gateway_client, alpeak)
    drafts = [await make_draft(gateway_client, alpeak, customer["id"]) for _ in range(4)]
    finals = await asyncio.gather(
        *(
            call(gateway_client, alpeak, "POST", f"/invoices/{d['id']}/finalize", expect=200)
            for d in drafts
        )
    )
    assert sorted(f["number"] for f in finals) == [f"ALPEAK-{n:04d}" for n in range(1, 5)]


async def test_list_pages_and_filters(gateway_client: Any, make_tenant: Any) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    ada = await make_customer(gateway_client, alpeak)
    bob = await make_customer(gateway_client, alpeak, name="Bob")
    a = await make_draft(gateway_client, alpeak, ada["id"])
    b = await make_draft(gateway_client, alpeak, bob["id"])
    c = await make_draft(gateway_client, alpeak, ada["id"])
    await call(gateway_client, alpeak, "POST", f"/invoices/{a['id']}/finalize", expect=200)
    page = await call(gateway_client, alpeak, "GET", "/invoices?limit=2", expect=200)
    assert [i["id"] for i in page["data"]] == [c["id"], b["id"]]
    rest = await call(
        gateway_client, alpeak, "GET", f"/invoices?limit=2&starting_after={page['next_cursor']}"
    )
    assert [i["id"] for i in rest["data"]] == [a["id"]]
    drafts_of_ada = await call(
        gateway_client, alpeak, "GET", f"/invoices?customer={ada['id']}&status=draft"
    )
    assert [i["id"] for i in drafts_of_ada["data"]] == [c["id"]]


async def test_bad_lines_are_named_and_nothing_is_stored(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    customer = await make_customer(gateway_client, alpeak)
    response = await gateway_client.post(
        "/api/v1/invoices",
        headers=alpeak.headers,
        json={
            "customer": customer["id"],
            "lines": [{"description": "x", "unit_amount": 1.5, "tax_rate_bps": 20000}],
            "discount": 5,
        },
    )
    assert await problem_fields(response, 422) == {
        "lines.0.unit_amount",
        "lines.0.tax_rate_bps",
        "discount",
    }
    response = await gateway_client.post(
        "/api/v1/invoices", headers=alpeak.headers, json={"customer": "cus_nope", "lines": LINES}
    )
    assert await problem_fields(response, 422) == {"customer"}
    assert await pool.fetchval("SELECT count(*) FROM invoices") == 0


async def test_an_empty_draft_cannot_be_finalized(gateway_client: Any, make_tenant: Any) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    customer = await make_customer(gateway_client, alpeak)
    empty = await call(
        gateway_client, alpeak, "POST", "/invoices", json={"customer": customer["id"]}, expect=201
    )
    response = await gateway_client.post(
        f"/api/v1/invoices/{empty['id']}/finalize", headers=alpeak.headers
    )
    assert response.status == 409


async def test_another_tenant_gets_404_and_an_empty_list(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    borealis: ApiTenant = await make_tenant("borealis")
    customer = await make_customer(gateway_client, alpeak)
    draft = await make_draft(gateway_client, alpeak, customer["id"])
    for method, path in (
        ("GET", f"/invoices/{draft['id']}"),
        ("POST", f"/invoices/{draft['id']}/finalize"),
        ("POST", f"/invoices/{draft['id']}/void"),
    ):
        response = await gateway_client.request(method, "/api/v1" + path, headers=borealis.headers)
        assert response.status == 404, path
    listed = await call(gateway_client, borealis, "GET", "/invoices", expect=200)
    assert listed["data"] == []
    still = await call(gateway_client, alpeak, "GET", f"/invoices/{draft['id']}")
    assert still["status"] == "draft"

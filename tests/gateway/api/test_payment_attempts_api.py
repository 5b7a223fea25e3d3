"""The renewal job's charges and the dunning settings through the tenant API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from billing.payment_attempts import finish_attempt, start_attempt
from tests.conftest import ApiTenant
from tests.gateway.api.billing_api import call, make_customer

NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)


async def failed_attempt(pool: Any, tenant: ApiTenant, invoice: dict[str, Any]) -> None:
    row = await pool.fetchrow(
        "SELECT id, customer_id, currency FROM invoices WHERE id = $1", invoice["id"]
    )
    attempt = await start_attempt(
        pool, tenant_id=tenant.tenant.id, invoice=row, amount=1200, now=NOW
    )
    await finish_attempt(
        pool,
        tenant_id=tenant.tenant.id,
        attempt_id=attempt.id,
        status="failed",
        now=NOW,
        failure_code="card_declined",
        failure_message="Your card was declined.",
    )


async def test_a_tenant_lists_its_payment_attempts_and_no_one_elses(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    borealis: ApiTenant = await make_tenant("borealis")
    customer = await make_customer(gateway_client, alpeak)
    invoice = await call(
        gateway_client,
        alpeak,
        "POST",
        "/invoices",
        json={"customer": customer["id"], "lines": [{"description": "Seat", "unit_amount": 1200}]},
        expect=201,
    )
    await call(gateway_client, alpeak, "POST", f"/invoices/{invoice['id']}/finalize", expect=200)
    await failed_attempt(pool, alpeak, invoice)
    page = await call(
        gateway_client, alpeak, "GET", f"/payment_attempts?invoice={invoice['id']}", expect=200
    )
    (attempt,) = page["data"]
    assert attempt["object"] == "payment_attempt"
    assert attempt["attempt"] == 1
    assert (attempt["status"], attempt["failure_code"]) == ("failed", "card_declined")
    assert (attempt["amount"], attempt["customer"]) == (1200, customer["id"])
    other = await call(gateway_client, borealis, "GET", "/payment_attempts", expect=200)
    assert other["data"] == []


async def test_a_tenant_sets_its_dunning_schedule_final_action_and_wallet_spending(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    settings = await call(gateway_client, alpeak, "GET", "/settings", expect=200)
    assert settings["dunning"] == {
        "retry_days": [1, 3, 5, 7],
        "final_action": "cancel",
        "wallet_spend_enabled": False,
    }
    changed = await call(
        gateway_client,
        alpeak,
        "PATCH",
        "/settings",
        json={
            "dunning": {
                "retry_days": [2, 4],
                "final_action": "unpaid",
                "wallet_spend_enabled": True,
            }
        },
        expect=200,
    )
    assert changed["dunning"] == {
        "retry_days": [2, 4],
        "final_action": "unpaid",
        "wallet_spend_enabled": True,
    }
    response = await gateway_client.patch(
        "/api/v1/settings", headers=alpeak.headers, json={"dunning": {"retry_days": [5, 3]}}
    )
    assert response.status == 422, await response.text()

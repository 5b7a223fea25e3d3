"""Paying an open invoice from the portal, through the whole gateway against localstripe.

One charge for ten concurrent submissions, declines, 3-D Secure settled by the page
or by Stripe's webhook, another tenant's invoice, and no pay button once paid or void.
"""

# The `shop` fixture is imported from test_payments; tests take it by that name.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import pytest

from billing.invoices import void_invoice
from billing.stripe_webhooks import endpoint_secret, signature_header
from billing.wallets import credit_wallet
from gateway.tenants.registry import update_settings
from tests.fixtures.localstripe import LocalStripe, localstripe, stripe_settings  # noqa: F401
from tests.portal.seed import final_invoice
from tests.portal.test_payments import ALPEAK, BOREALIS, JSON, Shop, save_card, shop  # noqa: F401

DUE = 9120  # ALPEAK-0002 of the demo: €91.20


async def pay_form(shop: Shop, invoice_id: str) -> dict[str, str]:
    """The hidden fields of the invoice page's pay form."""
    response = await shop.client.get(
        f"/portal/{shop.customer_id}/invoices/{invoice_id}", headers=ALPEAK
    )
    assert response.status == 200
    page = await response.text()
    fields = dict(re.findall(r'name="(csrf_token|nonce)" value="([^"]+)"', page))
    assert set(fields) == {"csrf_token", "nonce"}
    return fields


async def charges(shop: Shop) -> int:
    found = await asyncio.to_thread(shop.server.payment_intents, customer=shop.stripe_customer)
    return len([intent for intent in found if intent["status"] == "succeeded"])


async def invoice_state(shop: Shop, invoice_id: str) -> Any:
    return await shop.pool.fetchrow(
        "SELECT status, paid_at, amount_paid, paid_with, paid_with_detail, "
        "stripe_payment_intent_id FROM invoices WHERE id = $1",
        invoice_id,
    )


async def paid_events(shop: Shop, invoice_id: str) -> int:
    return int(
        await shop.pool.fetchval(
            "SELECT count(*) FROM outbound_events WHERE type = 'invoice.paid' "
            "AND payload->>'invoice' = $1",
            invoice_id,
        )
    )


async def test_ten_concurrent_pay_submissions_charge_once(shop: Shop) -> None:
    await save_card(shop, "4242424242424242")
    invoice = await final_invoice(shop.pool, shop.tenant.id, shop.customer_id, amount=DUE)
    form = await pay_form(shop, invoice.id)
    url = f"/portal/{shop.customer_id}/invoices/{invoice.id}/pay"

    async def submit() -> Any:
        response = await shop.client.post(url, data=form, headers=JSON)
        assert response.status == 200
        return await response.json()

    outcomes = await asyncio.gather(*(submit() for _ in range(10)))
    assert {outcome["status"] for outcome in outcomes} == {"succeeded"}
    assert await charges(shop) == 1
    state = await invoice_state(shop, invoice.id)
    assert (state["status"], state["amount_paid"], state["paid_with"]) == ("paid", DUE, "card")
    assert state["paid_with_detail"] == "visa 4242"
    assert state["paid_at"] is not None
    assert await paid_events(shop, invoice.id) == 1
    # A second tab with a fresh form joins the paid attempt instead of charging again.
    response = await shop.client.post(url, data={**form, "nonce": "x" * 40}, headers=JSON)
    assert response.status == 200
    joined = await response.json()
    assert (joined["status"], joined["nonce"]) == ("succeeded", form["nonce"])
    assert await charges(shop) == 1


async def test_a_plain_form_post_lands_on_the_paid_invoice(shop: Shop) -> None:
    await save_card(shop, "4242424242424242")
    invoice = await final_invoice(shop.pool, shop.tenant.id, shop.customer_id, amount=DUE)
    form = await pay_form(shop, invoice.id)
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/invoices/{invoice.id}/pay", data=form, headers=ALPEAK
    )
    assert response.status == 200  # followed the redirect to the invoice page
    page = await response.text()
    assert "Thank you: €91.20 was paid on" in page
    assert "Visa ending in 4242" in page
    assert 'id="pay-form"' not in page


async def test_a_declined_card_leaves_the_invoice_open_and_says_why(shop: Shop) -> None:
    await save_card(shop, "4000000000000341")  # saves, declined when charged
    invoice = await final_invoice(shop.pool, shop.tenant.id, shop.customer_id, amount=DUE)
    form = await pay_form(shop, invoice.id)
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/invoices/{invoice.id}/pay", data=form, headers=JSON
    )
    outcome = await response.json()
    assert outcome["status"] == "failed"
    assert "Nothing was charged." in outcome["message"]
    assert outcome["retry_nonce"]
    assert (await invoice_state(shop, invoice.id))["status"] == "open"
    assert await paid_events(shop, invoice.id) == 0


async def test_three_d_secure_is_settled_by_the_webhook_when_the_tab_closes(shop: Shop) -> None:
    await save_card(shop, "4000002500003155")
    invoice = await final_invoice(shop.pool, shop.tenant.id, shop.customer_id, amount=DUE)
    form = await pay_form(shop, invoice.id)
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/invoices/{invoice.id}/pay", data=form, headers=JSON
    )
    outcome = await response.json()
    assert outcome["status"] == "requires_action"
    assert outcome["client_secret"]
    assert (await invoice_state(shop, invoice.id))["status"] == "open"
    # The bank's challenge passes in another tab; only Stripe's webhook tells us.
    intent = outcome["payment_intent"]
    await asyncio.to_thread(
        shop.server.request,
        "POST",
        f"/v1/payment_intents/{intent}/_authenticate",
        {"client_secret": outcome["client_secret"], "success": "true"},
    )
    event = {
        "id": "evt_invoice_" + intent,
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": intent,
                "status": "succeeded",
                "amount": DUE,
                "currency": "eur",
                "metadata": {"invoice_payment_nonce": form["nonce"]},
            }
        },
    }
    body = json.dumps(event).encode()
    secret = endpoint_secret(shop.sealer, tenant_id=shop.tenant.id)
    headers = {
        **ALPEAK,
        "Stripe-Signature": signature_header(body, secret=secret, timestamp=int(time.time())),
        "Content-Type": "application/json",
    }
    for _ in range(2):  # delivered twice: paid once
        response = await shop.client.post("/stripe/webhooks/alpeak", data=body, headers=headers)
        assert response.status == 200
    state = await invoice_state(shop, invoice.id)
    assert (state["status"], state["stripe_payment_intent_id"]) == ("paid", intent)
    assert await paid_events(shop, invoice.id) == 1


async def test_another_tenants_invoice_is_not_found(shop: Shop) -> None:
    invoice = await final_invoice(shop.pool, shop.tenant.id, shop.customer_id, amount=DUE)
    form = await pay_form(shop, invoice.id)
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/invoices/{invoice.id}/pay", data=form, headers=BOREALIS
    )
    assert response.status == 404
    assert (await invoice_state(shop, invoice.id))["status"] == "open"


@pytest.mark.parametrize("ending", ["paid", "void"])
async def test_a_paid_or_void_invoice_offers_no_pay_button(shop: Shop, ending: str) -> None:
    await save_card(shop, "4242424242424242")
    invoice = await final_invoice(
        shop.pool, shop.tenant.id, shop.customer_id, amount=DUE, paid=ending == "paid"
    )
    if ending == "void":
        await void_invoice(shop.pool, tenant_id=shop.tenant.id, invoice_id=invoice.id)
    page = await (
        await shop.client.get(f"/portal/{shop.customer_id}/invoices/{invoice.id}", headers=ALPEAK)
    ).text()
    assert 'id="pay-form"' not in page
    overview = await (await shop.client.get(f"/portal/{shop.customer_id}", headers=ALPEAK)).text()
    assert "#pay" not in overview


async def test_an_open_invoice_row_links_to_its_pay_form(shop: Shop) -> None:
    invoice = await final_invoice(shop.pool, shop.tenant.id, shop.customer_id, amount=DUE)
    overview = await (await shop.client.get(f"/portal/{shop.customer_id}", headers=ALPEAK)).text()
    assert f"/invoices/{invoice.id}#pay" in overview


async def allow_wallet_payments(shop: Shop, *, allowed: bool = True) -> None:
    await update_settings(
        shop.pool, tenant_id=shop.tenant.id, changes={"wallet.pays_invoices": allowed}
    )
    await credit_wallet(shop.pool, tenant_id=shop.tenant.id, wallet_id=shop.wallet_id, amount=10000)


async def wallet_offered(shop: Shop, invoice_id: str, *, offered: bool = True) -> str:
    """The invoice page once the gateway's tenant cache (refreshed on NOTIFY) has the setting."""
    for _ in range(100):
        response = await shop.client.get(
            f"/portal/{shop.customer_id}/invoices/{invoice_id}", headers=ALPEAK
        )
        page = str(await response.text())
        if (f'value="{shop.wallet_id}"' in page) == offered:
            return page
        await asyncio.sleep(0.05)
    raise AssertionError("the wallet setting did not reach the portal")


async def test_ten_concurrent_wallet_payments_debit_the_credits_once(shop: Shop) -> None:
    await allow_wallet_payments(shop)
    invoice = await final_invoice(shop.pool, shop.tenant.id, shop.customer_id, amount=DUE)
    await wallet_offered(shop, invoice.id)
    form = await pay_form(shop, invoice.id)
    url = f"/portal/{shop.customer_id}/invoices/{invoice.id}/pay"

    async def submit() -> Any:
        response = await shop.client.post(
            url, data={**form, "payment_method": shop.wallet_id}, headers=JSON
        )
        assert response.status == 200, await response.text()
        return await response.json()

    outcomes = await asyncio.gather(*(submit() for _ in range(10)))
    assert {outcome["status"] for outcome in outcomes} == {"succeeded"}
    balance = await shop.pool.fetchval("SELECT balance FROM wallets WHERE id = $1", shop.wallet_id)
    assert balance == 10000 - DUE
    debits = await shop.pool.fetch(
        "SELECT amount, invoice_id FROM wallet_ledger WHERE wallet_id = $1 AND kind = 'debit'",
        shop.wallet_id,
    )
    assert [tuple(row) for row in debits] == [(-DUE, invoice.id)]
    state = await invoice_state(shop, invoice.id)
    assert (state["status"], state["paid_with"]) == ("paid", "wallet")
    assert await paid_events(shop, invoice.id) == 1
    assert await charges(shop) == 0
    page = await (
        await shop.client.get(f"/portal/{shop.customer_id}/invoices/{invoice.id}", headers=ALPEAK)
    ).text()
    assert "Wallet credits" in page


async def test_credits_are_offered_only_where_the_tenant_allows_and_they_cover_the_invoice(
    shop: Shop,
) -> None:
    await save_card(shop, "4242424242424242")
    await allow_wallet_payments(shop, allowed=False)
    invoice = await final_invoice(shop.pool, shop.tenant.id, shop.customer_id, amount=DUE)
    page_url = f"/portal/{shop.customer_id}/invoices/{invoice.id}"
    await wallet_offered(shop, invoice.id, offered=False)
    form = await pay_form(shop, invoice.id)
    refused = await shop.client.post(
        page_url + "/pay", data={**form, "payment_method": shop.wallet_id}, headers=JSON
    )
    assert refused.status == 422
    assert "Credits cannot pay invoices here." in await refused.text()
    await update_settings(
        shop.pool, tenant_id=shop.tenant.id, changes={"wallet.pays_invoices": True}
    )
    page = await wallet_offered(shop, invoice.id)
    assert "Wallet credits (€100.00 available)" in page
    larger = await final_invoice(shop.pool, shop.tenant.id, shop.customer_id, amount=20000)
    page = await (
        await shop.client.get(f"/portal/{shop.customer_id}/invoices/{larger.id}", headers=ALPEAK)
    ).text()
    assert 'id="pay-form"' in page
    assert shop.wallet_id not in page


async def test_an_invoice_voided_during_3d_secure_is_not_paid_and_the_customer_is_told(
    shop: Shop,
) -> None:
    await save_card(shop, "4000002500003155")
    invoice = await final_invoice(shop.pool, shop.tenant.id, shop.customer_id, amount=DUE)
    form = await pay_form(shop, invoice.id)
    url = f"/portal/{shop.customer_id}/invoices/{invoice.id}/pay"
    outcome = await (await shop.client.post(url, data=form, headers=JSON)).json()
    assert outcome["status"] == "requires_action"
    await void_invoice(shop.pool, tenant_id=shop.tenant.id, invoice_id=invoice.id)
    await asyncio.to_thread(
        shop.server.request,
        "POST",
        f"/v1/payment_intents/{outcome['payment_intent']}/_authenticate",
        {"client_secret": outcome["client_secret"], "success": "true"},
    )
    done = await shop.client.post(
        url + "/complete",
        data={"csrf_token": form["csrf_token"], "nonce": form["nonce"]},
        headers=JSON,
    )
    finished = await done.json()
    assert finished["status"] == "failed"
    assert "will be refunded" in finished["message"]
    assert (await invoice_state(shop, invoice.id))["status"] == "void"
    assert await paid_events(shop, invoice.id) == 0
    # The money went back, once, however often the page and Stripe's webhook ask.
    assert await refunded(shop, outcome["payment_intent"]) == [DUE]
    await shop.client.post(
        url + "/complete",
        data={"csrf_token": form["csrf_token"], "nonce": form["nonce"]},
        headers=JSON,
    )
    await deliver_succeeded(shop, outcome["payment_intent"], form["nonce"])
    assert await refunded(shop, outcome["payment_intent"]) == [DUE]


async def refunded(shop: Shop, payment_intent: str) -> list[int]:
    listing = await asyncio.to_thread(
        shop.server.request, "GET", f"/v1/refunds?payment_intent={payment_intent}"
    )
    return [refund["amount"] for refund in listing["data"]]


async def deliver_succeeded(shop: Shop, payment_intent: str, nonce: str) -> None:
    """Stripe's `payment_intent.succeeded` webhook for the attempt `nonce`, signed."""
    event = {
        "id": "evt_invoice_" + payment_intent,
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": payment_intent,
                "status": "succeeded",
                "amount": DUE,
                "currency": "eur",
                "metadata": {"invoice_payment_nonce": nonce},
            }
        },
    }
    body = json.dumps(event).encode()
    secret = endpoint_secret(shop.sealer, tenant_id=shop.tenant.id)
    headers = {
        **ALPEAK,
        "Stripe-Signature": signature_header(body, secret=secret, timestamp=int(time.time())),
        "Content-Type": "application/json",
    }
    response = await shop.client.post("/stripe/webhooks/alpeak", data=body, headers=headers)
    assert response.status == 200


async def test_a_payment_confirmed_after_the_void_is_refunded_by_the_webhook(shop: Shop) -> None:
    await save_card(shop, "4000002500003155")
    invoice = await final_invoice(shop.pool, shop.tenant.id, shop.customer_id, amount=DUE)
    form = await pay_form(shop, invoice.id)
    url = f"/portal/{shop.customer_id}/invoices/{invoice.id}/pay"
    outcome = await (await shop.client.post(url, data=form, headers=JSON)).json()
    await void_invoice(shop.pool, tenant_id=shop.tenant.id, invoice_id=invoice.id)
    await asyncio.to_thread(
        shop.server.request,
        "POST",
        f"/v1/payment_intents/{outcome['payment_intent']}/_authenticate",
        {"client_secret": outcome["client_secret"], "success": "true"},
    )
    # The tab was closed: only Stripe's webhook tells the gateway, twice.
    for _ in range(2):
        await deliver_succeeded(shop, outcome["payment_intent"], form["nonce"])
    assert await refunded(shop, outcome["payment_intent"]) == [DUE]
    assert (await invoice_state(shop, invoice.id))["status"] == "void"
    assert await paid_events(shop, invoice.id) == 0


async def test_voiding_through_the_api_cancels_the_payment_waiting_for_the_bank(
    shop: Shop,
) -> None:
    from gateway.tenants.api_keys import create_api_key

    await save_card(shop, "4000002500003155")
    invoice = await final_invoice(shop.pool, shop.tenant.id, shop.customer_id, amount=DUE)
    form = await pay_form(shop, invoice.id)
    url = f"/portal/{shop.customer_id}/invoices/{invoice.id}/pay"
    outcome = await (await shop.client.post(url, data=form, headers=JSON)).json()
    assert outcome["status"] == "requires_action"
    _, key = await create_api_key(shop.pool, tenant_id=shop.tenant.id)
    voided = await shop.client.post(
        f"/api/v1/invoices/{invoice.id}/void",
        headers={"Host": "api.localhost:8080", "Authorization": f"Bearer {key}"},
    )
    assert voided.status == 200, await voided.text()
    assert (await voided.json())["status"] == "void"
    intent = await asyncio.to_thread(
        shop.server.request, "GET", f"/v1/payment_intents/{outcome['payment_intent']}"
    )
    assert intent["status"] == "canceled"
    done = await shop.client.post(
        url + "/complete",
        data={"csrf_token": form["csrf_token"], "nonce": form["nonce"]},
        headers=JSON,
    )
    finished = await done.json()
    assert finished["status"] == "failed"
    assert finished["message"] == (
        "This invoice was voided before you confirmed. Nothing was charged."
    )
    assert await charges(shop) == 0

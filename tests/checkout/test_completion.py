"""Paying a hosted checkout through the page's endpoints against a real localstripe.

Success lands on the tenant's success_url and shows up in the portal; a decline
keeps the session open with the reason; 3-D Secure goes through the page;
concurrent submissions charge once; the tenant's webhook receives one signed
`checkout.completed` even when its first delivery attempt fails. Tax reaches the
first invoice; a stale 3-D Secure tab cannot charge a paid session, and a second
payment that succeeded anyway is refunded once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import urllib.error
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from billing.checkout_completion import settle_checkout_from_webhook
from billing.stripe_gateway import PaymentIntentState, StripePayments
from billing.stripe_refunds import StripeRefunds
from billing.stripe_webhooks import endpoint_secret, handle_webhook, signature_header
from gateway.jobs.outbox_delivery import OutboxDelivery
from kernel.db import transaction
from tests.checkout.conftest import ALPEAK, JSON, SUCCESS_URL, Shop


async def counts(shop: Shop, session_id: str) -> tuple[int, int, int]:
    """(PaymentIntents in Stripe, subscriptions, invoices) of the session's customer."""
    stripe_customer = await shop.stripe_customer(session_id)
    intents = await asyncio.to_thread(shop.server.payment_intents, customer=stripe_customer)
    subscriptions = await shop.pool.fetchval(
        "SELECT count(*) FROM subscriptions WHERE tenant_id = $1", shop.tenant.id
    )
    invoices = await shop.pool.fetchval(
        "SELECT count(*) FROM invoices WHERE tenant_id = $1", shop.tenant.id
    )
    return len(intents), int(subscriptions), int(invoices)


async def test_paying_lands_on_the_success_url_and_the_portal_shows_subscription_and_invoice(
    shop: Shop,
) -> None:
    created = await shop.create_session()
    token, setup_intent = await shop.saved_card(created["id"], "4242424242424242")
    response = await shop.client.post(
        f"/checkout/{created['id']}/complete",
        data={"csrf_token": token, "setup_intent": setup_intent},
        headers=ALPEAK,
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == SUCCESS_URL.replace(
        "{CHECKOUT_SESSION_ID}", created["id"]
    )

    read = await shop.client.get(f"/api/v1/checkout_sessions/{created['id']}", headers=shop.api)
    session = await read.json()
    assert session["status"] == "complete"
    assert session["completed_at"]
    assert session["subscription"].startswith("sub_")
    assert session["invoice"].startswith("in_")
    customer = session["customer"]
    assert customer.startswith("cus_")
    assert await counts(shop, created["id"]) == (1, 1, 1)
    stripe_customer = await shop.stripe_customer(created["id"])
    [intent] = await asyncio.to_thread(shop.server.payment_intents, customer=stripe_customer)
    assert (intent["amount"], intent["status"]) == (7900, "succeeded")

    portal = await shop.client.get(f"/portal/{customer}", headers=ALPEAK)
    assert portal.status == 200
    page = await portal.text()
    assert "Pro plan" in page
    assert "Active" in page
    assert "Paid" in page
    assert "€79.00" in page
    assert "ending in 4242" in page
    invoice = await shop.pool.fetchrow(
        "SELECT status, total, kind, stripe_payment_intent_id, period_end FROM invoices"
    )
    assert (invoice["status"], invoice["total"], invoice["kind"]) == ("paid", 7900, "checkout")
    assert invoice["stripe_payment_intent_id"] == intent["id"]
    assert invoice["period_end"] is not None

    again = await shop.client.get(f"/checkout/{created['id']}", headers=ALPEAK)
    closed = await again.text()
    assert "This checkout is complete" in closed
    assert "<form" not in closed
    # What was paid and what comes next, not what was due before paying.
    assert "You paid €79.00 on" in closed
    assert "Your next payment of €29.00 is due on" in closed
    assert "Due today" not in closed


async def test_a_completed_trial_says_nothing_was_charged_and_when_the_trial_ends(
    shop: Shop,
) -> None:
    created = await shop.create_session(
        line_items=[{"name": "Pro plan", "unit_amount": 2900, "interval": "month"}],
        trial_days=14,
    )
    token, setup_intent = await shop.saved_card(created["id"], "4242424242424242")
    response = await shop.client.post(
        f"/checkout/{created['id']}/complete",
        data={"csrf_token": token, "setup_intent": setup_intent},
        headers=JSON,
    )
    assert (await response.json())["status"] == "succeeded"
    closed = await (await shop.client.get(f"/checkout/{created['id']}", headers=ALPEAK)).text()
    assert "Nothing was charged today." in closed
    assert "Your free trial ends on" in closed
    assert "your card is then charged €29.00" in closed


async def test_a_success_url_that_is_the_checkout_page_itself_offers_no_loop(
    shop: Shop,
) -> None:
    created = await shop.create_session(
        success_url="http://alpeak.localhost:8080/checkout/{CHECKOUT_SESSION_ID}"
    )
    token, setup_intent = await shop.saved_card(created["id"], "4242424242424242")
    await shop.client.post(
        f"/checkout/{created['id']}/complete",
        data={"csrf_token": token, "setup_intent": setup_intent},
        headers=JSON,
    )
    closed = await (await shop.client.get(f"/checkout/{created['id']}", headers=ALPEAK)).text()
    assert "This checkout is complete" in closed
    assert "Continue" not in closed


async def test_a_declined_card_keeps_the_session_open_with_the_reason_and_another_card_pays(
    shop: Shop,
) -> None:
    created = await shop.create_session()
    token, setup_intent = await shop.saved_card(created["id"], "4000000000000341")
    response = await shop.client.post(
        f"/checkout/{created['id']}/complete",
        data={"csrf_token": token, "setup_intent": setup_intent},
        headers=ALPEAK,
    )
    assert response.status == 402
    page = await response.text()
    assert "The payment did not go through" in page
    assert "declined" in page
    assert 'id="card-element"' in page
    status = await shop.pool.fetchval(
        "SELECT status FROM checkout_sessions WHERE id = $1", created["id"]
    )
    assert status == "open"
    _, subscriptions, invoices = await counts(shop, created["id"])
    assert (subscriptions, invoices) == (0, 0)
    assert await shop.pool.fetchval("SELECT count(*) FROM payment_methods") == 0

    intent = await shop.billing_step(created["id"], token)
    await shop.confirm_card_setup(intent, "4242424242424242")
    paid = await shop.complete(created["id"], token, intent["setup_intent"])
    assert (await paid.json())["status"] == "succeeded"
    _, subscriptions, invoices = await counts(shop, created["id"])
    assert (subscriptions, invoices) == (1, 1)


async def test_3d_secure_is_asked_of_the_page_then_the_same_payment_completes(shop: Shop) -> None:
    created = await shop.create_session()
    token, setup_intent = await shop.saved_card(created["id"], "4000002500003155")
    first = await (await shop.complete(created["id"], token, setup_intent)).json()
    assert first["status"] == "requires_action"
    assert first["client_secret"]
    # What stripe.confirmCardPayment does in the page when the customer authenticates.
    await asyncio.to_thread(
        shop.server.request,
        "POST",
        f"/v1/payment_intents/{first['payment_intent']}/_authenticate",
        {"client_secret": first["client_secret"], "success": "true"},
    )
    second = await (await shop.complete(created["id"], token, setup_intent)).json()
    assert second["status"] == "succeeded"
    assert second["redirect"].endswith(created["id"])
    assert await counts(shop, created["id"]) == (1, 1, 1)


async def test_concurrent_completions_make_one_charge_one_subscription_one_invoice(
    shop: Shop,
) -> None:
    created = await shop.create_session()
    token, setup_intent = await shop.saved_card(created["id"], "4242424242424242")

    async def submit() -> dict[str, Any]:
        response = await shop.complete(created["id"], token, setup_intent)
        assert response.status == 200
        outcome: dict[str, Any] = await response.json()
        return outcome

    outcomes = await asyncio.gather(*(submit() for _ in range(5)))
    assert {outcome["status"] for outcome in outcomes} == {"succeeded"}
    assert await counts(shop, created["id"]) == (1, 1, 1)
    events = await shop.pool.fetchval(
        "SELECT count(*) FROM outbound_events WHERE type = 'checkout.completed'"
    )
    assert events == 1


async def test_a_stripe_webhook_racing_the_page_completes_the_session_once(shop: Shop) -> None:
    created = await shop.create_session()
    token, setup_intent = await shop.saved_card(created["id"], "4000002500003155")
    first = await (await shop.complete(created["id"], token, setup_intent)).json()
    await asyncio.to_thread(
        shop.server.request,
        "POST",
        f"/v1/payment_intents/{first['payment_intent']}/_authenticate",
        {"client_secret": first["client_secret"], "success": "true"},
    )
    intent = await asyncio.to_thread(
        shop.server.request, "GET", f"/v1/payment_intents/{first['payment_intent']}"
    )
    payload = json.dumps(
        {"id": "evt_checkout_race", "type": "payment_intent.succeeded", "data": {"object": intent}}
    ).encode()
    from billing.stripe_webhooks import signature_header

    secret = "whsec_test_checkout"

    async def webhook() -> Any:
        return await handle_webhook(
            shop.pool,
            tenant_id=shop.tenant.id,
            payload=payload,
            signature=signature_header(payload, secret=secret),
            secret=secret,
        )

    results = await asyncio.gather(
        webhook(), shop.complete(created["id"], token, setup_intent), webhook()
    )
    page_outcome = await results[1].json()
    assert page_outcome["status"] == "succeeded"
    assert await counts(shop, created["id"]) == (1, 1, 1)
    status = await shop.pool.fetchval(
        "SELECT status FROM checkout_sessions WHERE id = $1", created["id"]
    )
    assert status == "complete"


def verify(body: bytes, header: str, secret: str) -> bool:
    parts = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts["v1"])


async def test_the_tenants_webhook_gets_one_signed_checkout_completed_after_a_failed_attempt(
    shop: Shop, aiohttp_server: Any
) -> None:
    received: list[tuple[bytes, dict[str, str], int]] = []

    async def receiver(request: web.Request) -> web.Response:
        body = await request.read()
        kind = json.loads(body)["type"]
        # The first attempt to deliver checkout.completed fails.
        first = not any(json.loads(item[0])["type"] == kind for item in received)
        status = 500 if first and kind == "checkout.completed" else 200
        received.append((body, dict(request.headers), status))
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/hooks", receiver)
    server = await aiohttp_server(app, host="127.0.0.1")
    url = f"http://127.0.0.1:{server.port}/hooks"
    patched = await shop.client.patch(
        "/api/v1/settings", json={"webhook_url": url}, headers=shop.api
    )
    assert patched.status == 200, await patched.text()
    rotated = await shop.client.post("/api/v1/settings/webhook_secret", headers=shop.api)
    assert rotated.status == 200
    read = await shop.client.get("/api/v1/settings/webhook_secret", headers=shop.api)
    secret = (await read.json())["secret"]

    created = await shop.create_session()
    token, setup_intent = await shop.saved_card(created["id"], "4242424242424242")
    assert (await (await shop.complete(created["id"], token, setup_intent)).json())[
        "status"
    ] == "succeeded"

    delivery = OutboxDelivery(
        shop.pool, shop.sealer, retry_base_seconds=0.05, poll_seconds=0.1, allow_loopback=True
    )
    worker = asyncio.create_task(delivery.run_forever())
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while asyncio.get_running_loop().time() < deadline:
            completed = [
                item for item in received if json.loads(item[0])["type"] == "checkout.completed"
            ]
            if any(status == 200 for _, _, status in completed):
                break
            await asyncio.sleep(0.05)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await delivery.close()
    # Nothing is left to send: a further pass delivers nothing again.
    assert await OutboxDelivery(shop.pool, shop.sealer, allow_loopback=True).run_due() == []
    completed = [item for item in received if json.loads(item[0])["type"] == "checkout.completed"]
    assert [status for _, _, status in completed] == [500, 200]
    accepted = [item for item in received if item[2] == 200]
    [(body, headers, _)] = [
        item for item in accepted if json.loads(item[0])["type"] == "checkout.completed"
    ]
    assert verify(body, headers["Gateway-Signature"], secret)
    event = json.loads(body)
    assert headers["Gateway-Event-Id"] == event["id"] == json.loads(completed[0][0])["id"]
    assert event["data"]["checkout_session"] == created["id"]
    assert event["data"]["amount_total"] == 7900
    assert urlsplit(url).path == "/hooks"


async def test_the_first_invoice_carries_each_lines_tax_and_totals_what_was_charged(
    shop: Shop,
) -> None:
    created = await shop.create_session(
        line_items=[
            {"name": "Pro plan", "unit_amount": 2900, "interval": "month", "tax_rate_bps": 2000},
            {"name": "Setup", "unit_amount": 5000, "tax_rate_bps": 550},
        ]
    )
    token, setup_intent = await shop.saved_card(created["id"], "4242424242424242")
    outcome = await (await shop.complete(created["id"], token, setup_intent)).json()
    assert outcome["status"] == "succeeded"
    stripe_customer = await shop.stripe_customer(created["id"])
    [intent] = await asyncio.to_thread(shop.server.payment_intents, customer=stripe_customer)
    assert intent["amount"] == created["amount_total"] == 7900 + 580 + 275
    invoice = await shop.pool.fetchrow(
        "SELECT id, subtotal, tax, total, amount_paid, status FROM invoices WHERE tenant_id = $1",
        shop.tenant.id,
    )
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (7900, 855, 8755)
    assert (invoice["amount_paid"], invoice["status"]) == (intent["amount"], "paid")
    lines = await shop.pool.fetch(
        "SELECT description, tax_rate_bps FROM invoice_lines WHERE tenant_id = $1 "
        "AND invoice_id = $2 ORDER BY position",
        shop.tenant.id,
        invoice["id"],
    )
    assert [(line["description"], line["tax_rate_bps"]) for line in lines] == [
        ("Pro plan", 2000),
        ("Setup", 550),
    ]
    # The plan's next periods are billed with the same tax.
    recurring = await shop.pool.fetch(
        "SELECT name, tax_rate_bps FROM subscription_items WHERE tenant_id = $1",
        shop.tenant.id,
    )
    assert [(item["name"], item["tax_rate_bps"]) for item in recurring] == [("Pro plan", 2000)]


async def stripe_status(shop: Shop, payment_intent: str) -> str:
    intent = await asyncio.to_thread(
        shop.server.request, "GET", f"/v1/payment_intents/{payment_intent}"
    )
    return str(intent["status"])


async def refunds_of(shop: Shop, payment_intent: str) -> list[dict[str, Any]]:
    listing = await asyncio.to_thread(
        shop.server.request, "GET", f"/v1/refunds?payment_intent={payment_intent}"
    )
    return list(listing["data"])


async def test_a_stale_3d_secure_tab_cannot_charge_after_another_tab_paid(shop: Shop) -> None:
    created = await shop.create_session()
    # Tab 1: a card that asks for 3-D Secure; the customer leaves the bank's dialog open.
    token, stale_setup = await shop.saved_card(created["id"], "4000002500003155")
    stale = await (await shop.complete(created["id"], token, stale_setup)).json()
    assert stale["status"] == "requires_action"
    # Tab 2: the same session paid with another card.
    intent = await shop.billing_step(created["id"], token)
    await shop.confirm_card_setup(intent, "4242424242424242")
    paid = await (await shop.complete(created["id"], token, intent["setup_intent"])).json()
    assert paid["status"] == "succeeded"
    # Tab 1's payment was canceled before tab 2's card was charged: 3-D Secure now fails.
    assert await stripe_status(shop, stale["payment_intent"]) == "canceled"
    with pytest.raises(urllib.error.HTTPError):
        await asyncio.to_thread(
            shop.server.request,
            "POST",
            f"/v1/payment_intents/{stale['payment_intent']}/_authenticate",
            {"client_secret": stale["client_secret"], "success": "true"},
        )
    # Tab 1 asks how its payment ended: the session is paid, it goes to the success URL.
    response = await shop.client.post(
        f"/checkout/{created['id']}/complete",
        data={
            "csrf_token": token,
            "setup_intent": stale_setup,
            "payment_intent": stale["payment_intent"],
        },
        headers=JSON,
    )
    back = await response.json()
    assert back["status"] == "succeeded"
    assert back["redirect"] == SUCCESS_URL.replace("{CHECKOUT_SESSION_ID}", created["id"])
    stripe_customer = await shop.stripe_customer(created["id"])
    intents = await asyncio.to_thread(shop.server.payment_intents, customer=stripe_customer)
    assert sorted(item["status"] for item in intents) == ["canceled", "succeeded"]
    _, subscriptions, invoices = await counts(shop, created["id"])
    assert (subscriptions, invoices) == (1, 1)


async def charge_lost_in_transit(shop: Shop, session_id: str, setup_intent: str) -> str:
    """A charge for the session that Stripe made but whose answer never reached the gateway."""
    payments = StripePayments(api_key=shop.server.secret_key, api_base=shop.server.api_base)
    stripe_customer = await shop.stripe_customer(session_id)
    saved = await payments.retrieve_setup_intent(setup_intent)
    assert saved.payment_method_id is not None
    await payments.attach_payment_method(
        payment_method_id=saved.payment_method_id, customer_id=stripe_customer
    )
    session = await shop.pool.fetchrow(
        "SELECT amount_total, currency FROM checkout_sessions WHERE id = $1", session_id
    )
    intent = await payments.charge_off_session(
        customer_id=stripe_customer,
        payment_method_id=saved.payment_method_id,
        amount=session["amount_total"],
        currency=session["currency"],
        idempotency_key=f"lost:{session_id}",
        metadata={"checkout_session": session_id, "tenant_id": str(shop.tenant.id)},
    )
    assert intent.status == "succeeded"
    return intent.id


async def test_a_second_payment_returning_to_a_paid_session_is_refunded_once(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    created = await shop.create_session()
    token, setup_intent = await shop.saved_card(created["id"], "4242424242424242")
    lost = await charge_lost_in_transit(shop, created["id"], setup_intent)
    paid = await (await shop.complete(created["id"], token, setup_intent)).json()
    assert paid["status"] == "succeeded"

    caplog.set_level(logging.WARNING, logger="billing.checkout_completion")

    async def tab_returns() -> dict[str, Any]:
        response = await shop.client.post(
            f"/checkout/{created['id']}/complete",
            data={"csrf_token": token, "setup_intent": setup_intent, "payment_intent": lost},
            headers=JSON,
        )
        outcome: dict[str, Any] = await response.json()
        return outcome

    outcomes = await asyncio.gather(tab_returns(), tab_returns())
    assert {outcome["status"] for outcome in outcomes} == {"succeeded"}
    [refund] = await refunds_of(shop, lost)
    assert refund["amount"] == 7900
    assert refund["metadata"]["checkout_session"] == created["id"]
    assert refund["metadata"]["reason"] == "checkout_already_paid"
    assert any(
        lost in record.getMessage() and "refunded" in record.getMessage()
        for record in caplog.records
    )
    # Stripe's payment_intent.succeeded for it arrives too: no second refund, nothing new.
    intent = await asyncio.to_thread(shop.server.request, "GET", f"/v1/payment_intents/{lost}")
    async with transaction(shop.pool) as connection:
        handled = await settle_checkout_from_webhook(
            connection,
            tenant_id=shop.tenant.id,
            intent=webhook_intent(intent),
            refunds=StripeRefunds(api_key=shop.server.secret_key, api_base=shop.server.api_base),
        )
    assert handled
    assert len(await refunds_of(shop, lost)) == 1
    _, subscriptions, invoices = await counts(shop, created["id"])
    assert (subscriptions, invoices) == (1, 1)
    events = await shop.pool.fetchval(
        "SELECT count(*) FROM outbound_events WHERE type = 'checkout.completed'"
    )
    assert events == 1


def webhook_intent(data: dict[str, Any]) -> PaymentIntentState:
    return PaymentIntentState(
        id=data["id"],
        status=data["status"],
        amount=data["amount"],
        currency=data["currency"].upper(),
        customer_id=data["customer"],
        client_secret=None,
        failure_message=None,
        metadata=data["metadata"],
    )


async def test_stripes_webhook_for_a_second_payment_of_a_paid_session_refunds_it(
    shop: Shop,
) -> None:
    created = await shop.create_session()
    token, setup_intent = await shop.saved_card(created["id"], "4242424242424242")
    lost = await charge_lost_in_transit(shop, created["id"], setup_intent)
    assert (await (await shop.complete(created["id"], token, setup_intent)).json())[
        "status"
    ] == "succeeded"
    intent = webhook_intent(
        await asyncio.to_thread(shop.server.request, "GET", f"/v1/payment_intents/{lost}")
    )
    refunds = StripeRefunds(api_key=shop.server.secret_key, api_base=shop.server.api_base)
    for _ in range(2):  # Stripe delivers at least once
        async with transaction(shop.pool) as connection:
            assert await settle_checkout_from_webhook(
                connection, tenant_id=shop.tenant.id, intent=intent, refunds=refunds
            )
    [refund] = await refunds_of(shop, lost)
    assert refund["amount"] == 7900
    session = await shop.pool.fetchrow(
        "SELECT status, stripe_payment_intent_id FROM checkout_sessions WHERE id = $1",
        created["id"],
    )
    assert session["status"] == "complete"
    assert session["stripe_payment_intent_id"] != lost
    _, subscriptions, invoices = await counts(shop, created["id"])
    assert (subscriptions, invoices) == (1, 1)


async def test_the_tenants_webhook_endpoint_refunds_a_second_payment_of_a_paid_session(
    shop: Shop,
) -> None:
    created = await shop.create_session()
    token, setup_intent = await shop.saved_card(created["id"], "4242424242424242")
    lost = await charge_lost_in_transit(shop, created["id"], setup_intent)
    assert (await (await shop.complete(created["id"], token, setup_intent)).json())[
        "status"
    ] == "succeeded"
    intent = await asyncio.to_thread(shop.server.request, "GET", f"/v1/payment_intents/{lost}")
    payload = json.dumps(
        {"id": "evt_stale_tab", "type": "payment_intent.succeeded", "data": {"object": intent}}
    ).encode()
    secret = endpoint_secret(shop.sealer, tenant_id=shop.tenant.id)
    for _ in range(2):  # Stripe delivers at least once
        response = await shop.client.post(
            "/stripe/webhooks/alpeak",
            data=payload,
            headers={**ALPEAK, "Stripe-Signature": signature_header(payload, secret=secret)},
        )
        assert response.status == 200, await response.text()
    [refund] = await refunds_of(shop, lost)
    assert refund["amount"] == 7900
    _, subscriptions, invoices = await counts(shop, created["id"])
    assert (subscriptions, invoices) == (1, 1)


async def test_a_payment_of_another_session_is_never_refunded_through_this_one(
    shop: Shop,
) -> None:
    first = await shop.create_session()
    token, setup_intent = await shop.saved_card(first["id"], "4242424242424242")
    assert (await (await shop.complete(first["id"], token, setup_intent)).json())[
        "status"
    ] == "succeeded"
    kept = await shop.pool.fetchval(
        "SELECT stripe_payment_intent_id FROM checkout_sessions WHERE id = $1", first["id"]
    )
    second = await shop.create_session()
    token2, setup_intent2 = await shop.saved_card(second["id"], "4242424242424242")
    assert (await (await shop.complete(second["id"], token2, setup_intent2)).json())[
        "status"
    ] == "succeeded"
    # A page of the second session names the first session's (legitimate) payment.
    response = await shop.client.post(
        f"/checkout/{second['id']}/complete",
        data={"csrf_token": token2, "setup_intent": setup_intent2, "payment_intent": kept},
        headers=JSON,
    )
    assert (await response.json())["status"] == "succeeded"
    assert await refunds_of(shop, kept) == []
    assert await stripe_status(shop, kept) == "succeeded"


async def test_a_webhook_completing_the_session_cancels_a_tab_still_waiting_for_3d_secure(
    shop: Shop,
) -> None:
    created = await shop.create_session()
    token, waiting_setup = await shop.saved_card(created["id"], "4000002500003155")
    waiting = await (await shop.complete(created["id"], token, waiting_setup)).json()
    assert waiting["status"] == "requires_action"
    intent = await shop.billing_step(created["id"], token)
    await shop.confirm_card_setup(intent, "4242424242424242")
    lost = await charge_lost_in_transit(shop, created["id"], intent["setup_intent"])
    paid = webhook_intent(
        await asyncio.to_thread(shop.server.request, "GET", f"/v1/payment_intents/{lost}")
    )
    refunds = StripeRefunds(api_key=shop.server.secret_key, api_base=shop.server.api_base)
    async with transaction(shop.pool) as connection:
        assert await settle_checkout_from_webhook(
            connection, tenant_id=shop.tenant.id, intent=paid, refunds=refunds
        )
    session = await shop.pool.fetchrow(
        "SELECT status, stripe_payment_intent_id FROM checkout_sessions WHERE id = $1",
        created["id"],
    )
    assert (session["status"], session["stripe_payment_intent_id"]) == ("complete", lost)
    assert await stripe_status(shop, waiting["payment_intent"]) == "canceled"
    assert await refunds_of(shop, lost) == []
    _, subscriptions, invoices = await counts(shop, created["id"])
    assert (subscriptions, invoices) == (1, 1)

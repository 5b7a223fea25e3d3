"""Portal payments through the whole gateway against a real localstripe.

Cards, buying credits (one charge per form nonce, declines, 3-D Secure), CSRF,
cross-tenant ids and Stripe's webhooks, as a customer or an operator sees them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import pytest

from billing.customers import create_customer
from billing.payment_methods import add_card
from billing.payment_methods_service import ensure_stripe_customer
from billing.stripe_gateway import StripePayments
from billing.stripe_webhooks import endpoint_secret, signature_header
from billing.subscriptions import create_subscription
from billing.wallets import create_wallet
from gateway.app import create_app
from gateway.tenants.registry import create_tenant, set_stripe_keys, update_settings
from kernel.sealing import Sealer
from tests.dates import CARD_EXP_YEAR
from tests.fixtures.localstripe import LocalStripe, localstripe, stripe_settings  # noqa: F401
from tests.fixtures.pebble import free_port

ALPEAK = {"Host": "alpeak.localhost:8080"}
BOREALIS = {"Host": "borealis.localhost:8080"}
JSON = {**ALPEAK, "Accept": "application/json"}


@dataclass
class Shop:
    client: Any
    pool: Any
    server: LocalStripe
    sealer: Sealer
    tenant: Any
    customer_id: str
    wallet_id: str
    stripe_customer: str


def card_method(server: LocalStripe, number: str) -> str:
    created = server.request(
        "POST",
        "/v1/payment_methods",
        {
            "type": "card",
            "card[number]": number,
            "card[exp_month]": "12",
            "card[exp_year]": str(CARD_EXP_YEAR),
            "card[cvc]": "123",
        },
    )
    return str(created["id"])


async def save_card(shop: Shop, number: str) -> str:
    """A card attached in Stripe and saved as the customer's default."""
    payments = StripePayments(api_key=shop.server.secret_key, api_base=shop.server.api_base)
    method = card_method(shop.server, number)
    card = await payments.attach_payment_method(
        payment_method_id=method, customer_id=shop.stripe_customer
    )
    saved = await add_card(
        shop.pool,
        tenant_id=shop.tenant.id,
        customer_id=shop.customer_id,
        brand=card.brand,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        stripe_payment_method_id=card.payment_method_id,
    )
    return saved.id


@pytest.fixture
async def shop(
    aiohttp_client: Any,
    settings: Any,
    pool: Any,
    localstripe: LocalStripe,  # noqa: F811
) -> Shop:
    assert settings.kek is not None
    sealer = Sealer(settings.kek)
    tenant = await create_tenant(pool, slug="alpeak", name="Alpeak")
    tenant = await update_settings(
        pool,
        tenant_id=tenant.id,
        changes={"wallet.topups_enabled": True, "wallet.topup_max": 10000},
    )
    await set_stripe_keys(
        pool,
        sealer,
        tenant_id=tenant.id,
        secret_key=localstripe.secret_key,
        publishable_key=localstripe.publishable_key,
    )
    other = await create_tenant(pool, slug="borealis", name="Borealis")
    await set_stripe_keys(
        pool,
        sealer,
        tenant_id=other.id,
        secret_key=localstripe.secret_key,
        publishable_key=localstripe.publishable_key,
    )
    customer = await create_customer(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data={"name": "Ada Lovelace", "email": "ada@example.com"},
    )
    wallet = await create_wallet(pool, tenant_id=tenant.id, customer_id=customer.id, currency="EUR")
    payments = StripePayments(api_key=localstripe.secret_key, api_base=localstripe.api_base)
    stripe_customer = await ensure_stripe_customer(
        pool, payments, tenant_id=tenant.id, customer_id=customer.id
    )
    app = create_app(stripe_settings(settings, localstripe), domain_worker=False)
    client = await aiohttp_client(app)
    return Shop(client, pool, localstripe, sealer, tenant, customer.id, wallet.id, stripe_customer)


async def topup_form(shop: Shop) -> dict[str, str]:
    """The hidden fields of a freshly loaded buy-credits form."""
    response = await shop.client.get(
        f"/portal/{shop.customer_id}/wallets/{shop.wallet_id}/topup", headers=ALPEAK
    )
    assert response.status == 200
    page = await response.text()
    fields = dict(re.findall(r'name="(csrf_token|nonce)" value="([^"]+)"', page))
    assert set(fields) == {"csrf_token", "nonce"}
    return fields


async def balance(shop: Shop) -> int:
    return int(
        await shop.pool.fetchval("SELECT balance FROM wallets WHERE id = $1", shop.wallet_id)
    )


async def counts(shop: Shop) -> tuple[int, int, int]:
    """(PaymentIntents in Stripe, ledger rows, top-up invoices) for the customer."""
    ledger = await shop.pool.fetchval(
        "SELECT count(*) FROM wallet_ledger WHERE wallet_id = $1", shop.wallet_id
    )
    invoices = await shop.pool.fetchval(
        "SELECT count(*) FROM invoices WHERE customer_id = $1 AND kind = 'wallet_topup'",
        shop.customer_id,
    )
    charges = await asyncio.to_thread(shop.server.payment_intents, customer=shop.stripe_customer)
    return len(charges), int(ledger), int(invoices)


async def test_ten_concurrent_submissions_of_one_form_charge_once(shop: Shop) -> None:
    await save_card(shop, "4242424242424242")
    form = await topup_form(shop)
    url = f"/portal/{shop.customer_id}/wallets/{shop.wallet_id}/topup"

    async def submit() -> Any:
        response = await shop.client.post(url, data={**form, "amount": "25"}, headers=JSON)
        assert response.status == 200
        return await response.json()

    outcomes = await asyncio.gather(*(submit() for _ in range(10)))
    assert {outcome["status"] for outcome in outcomes} == {"succeeded"}
    assert await counts(shop) == (1, 1, 1)
    assert await balance(shop) == 2500
    invoice = await shop.pool.fetchrow(
        "SELECT status, total, number FROM invoices WHERE customer_id = $1", shop.customer_id
    )
    assert (invoice["status"], invoice["total"]) == ("paid", 2500)
    assert invoice["number"]


async def test_a_successful_purchase_shows_the_new_balance_on_the_page(shop: Shop) -> None:
    await save_card(shop, "4242424242424242")
    form = await topup_form(shop)
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/wallets/{shop.wallet_id}/topup",
        data={**form, "amount": "12.50"},
        headers=ALPEAK,
    )
    assert response.status == 200
    page = await response.text()
    assert "was added to your wallet" in page
    assert "12.50" in page
    assert await balance(shop) == 1250
    policy = response.headers["Content-Security-Policy"]
    assert shop.server.js_url.split("/js.stripe.com")[0] in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]


async def test_a_declined_card_credits_nothing_and_says_why(shop: Shop) -> None:
    await save_card(shop, "4000000000000341")
    form = await topup_form(shop)
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/wallets/{shop.wallet_id}/topup",
        data={**form, "amount": "20"},
        headers=ALPEAK,
    )
    assert response.status == 200
    assert "declined" in (await response.text())
    assert await balance(shop) == 0
    _, ledger, invoices = await counts(shop)
    assert (ledger, invoices) == (0, 0)
    status = await shop.pool.fetchval("SELECT status FROM wallet_topups")
    assert status == "failed"


async def test_a_3d_secure_card_asks_the_page_to_authenticate_then_credits(shop: Shop) -> None:
    await save_card(shop, "4000002500003155")
    form = await topup_form(shop)
    url = f"/portal/{shop.customer_id}/wallets/{shop.wallet_id}/topup"
    response = await shop.client.post(url, data={**form, "amount": "30"}, headers=JSON)
    outcome = await response.json()
    assert outcome["status"] == "requires_action"
    assert outcome["client_secret"]
    assert await balance(shop) == 0
    # What stripe.confirmCardPayment does in the page when the customer completes 3-D Secure.
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
    assert (await done.json())["status"] == "succeeded"
    assert await balance(shop) == 3000


@pytest.mark.parametrize(
    ("amount", "starting_balance", "message"),
    [("150", 0, "the largest top-up is"), ("90", 45000, "may not exceed")],
)
async def test_caps_refuse_the_amount_with_a_field_error_and_charge_nothing(
    shop: Shop, amount: str, starting_balance: int, message: str
) -> None:
    await save_card(shop, "4242424242424242")
    if starting_balance:
        await shop.pool.execute(
            "INSERT INTO wallet_ledger (tenant_id, wallet_id, amount, balance_after, kind) "
            "VALUES ($1, $2, $3, $3, 'grant')",
            shop.tenant.id,
            shop.wallet_id,
            starting_balance,
        )
        await shop.pool.execute(
            "UPDATE wallets SET balance = $2 WHERE id = $1", shop.wallet_id, starting_balance
        )
    form = await topup_form(shop)
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/wallets/{shop.wallet_id}/topup",
        data={**form, "amount": amount},
        headers=ALPEAK,
    )
    assert response.status == 422
    assert message in await response.text()
    charges, _, _ = await counts(shop)
    assert charges == 0
    assert await shop.pool.fetchval("SELECT count(*) FROM wallet_topups") == 0


async def test_a_post_without_the_csrf_token_is_forbidden(shop: Shop) -> None:
    await save_card(shop, "4242424242424242")
    form = await topup_form(shop)
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/wallets/{shop.wallet_id}/topup",
        data={"nonce": form["nonce"], "amount": "25"},
        headers=ALPEAK,
    )
    assert response.status == 403
    charges, _, _ = await counts(shop)
    assert charges == 0


async def test_another_tenants_host_does_not_find_the_customer_or_wallet(shop: Shop) -> None:
    form = await topup_form(shop)
    for path in (
        f"/portal/{shop.customer_id}/wallets/{shop.wallet_id}/topup",
        f"/portal/{shop.customer_id}/payment_methods/new",
    ):
        response = await shop.client.get(path, headers=BOREALIS)
        assert response.status == 404
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/setup_intents", data=form, headers=BOREALIS
    )
    assert response.status == 404


async def test_removing_the_only_card_under_an_active_subscription_is_refused(
    shop: Shop,
) -> None:
    card = await save_card(shop, "4242424242424242")
    await create_subscription(
        shop.pool,
        tenant_id=shop.tenant.id,
        data={
            "customer": shop.customer_id,
            "plan_name": "Pro",
            "items": [{"name": "Seat", "unit_amount": 1000, "interval": "month"}],
        },
    )
    form = await topup_form(shop)
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/payment_methods/{card}/delete",
        data={"csrf_token": form["csrf_token"]},
        headers=ALPEAK,
        allow_redirects=False,
    )
    assert response.status == 409
    assert "Add a new card first" in await response.text()
    status = await shop.pool.fetchval("SELECT status FROM payment_methods WHERE id = $1", card)
    assert status == "active"


async def test_a_card_added_through_a_setup_intent_becomes_the_default_and_the_old_one_can_go(
    shop: Shop,
) -> None:
    old = await save_card(shop, "4242424242424242")
    form = await topup_form(shop)
    created = await shop.client.post(
        f"/portal/{shop.customer_id}/setup_intents",
        data={"csrf_token": form["csrf_token"]},
        headers=JSON,
    )
    assert created.status == 200
    intent = await created.json()
    # What stripe.confirmCardSetup does in the page; it leaves the card unattached.
    method = card_method(shop.server, "5555555555554444")
    await asyncio.to_thread(
        shop.server.request,
        "POST",
        f"/v1/setup_intents/{intent['id']}/confirm",
        {"payment_method": method, "client_secret": intent["client_secret"]},
    )
    saved = await shop.client.post(
        f"/portal/{shop.customer_id}/payment_methods",
        data={"csrf_token": form["csrf_token"], "setup_intent": intent["id"]},
        headers=JSON,
    )
    assert saved.status == 200
    body = await saved.json()
    assert body["payment_method"]["last4"] == "4444"
    assert body["payment_method"]["is_default"] is True
    stripe_method = await asyncio.to_thread(
        shop.server.request, "GET", f"/v1/payment_methods/{method}"
    )
    assert stripe_method["customer"] == shop.stripe_customer
    removed = await shop.client.post(
        f"/portal/{shop.customer_id}/payment_methods/{old}/delete",
        data={"csrf_token": form["csrf_token"]},
        headers=ALPEAK,
        allow_redirects=False,
    )
    assert removed.status == 303
    rows = await shop.pool.fetch(
        "SELECT last4, status, is_default FROM payment_methods ORDER BY created_at"
    )
    assert [tuple(row) for row in rows] == [("4242", "detached", False), ("4444", "active", True)]


def webhook_event(intent_id: str, nonce: str, amount: int, event_id: str) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": intent_id,
                    "object": "payment_intent",
                    "status": "succeeded",
                    "amount": amount,
                    "currency": "eur",
                    "metadata": {"topup_nonce": nonce},
                }
            },
        }
    ).encode()


async def abandoned_topup(shop: Shop) -> tuple[str, str]:
    """A 3-D Secure top-up authenticated in the page, whose page never came back."""
    await save_card(shop, "4000002500003155")
    form = await topup_form(shop)
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/wallets/{shop.wallet_id}/topup",
        data={**form, "amount": "40"},
        headers=JSON,
    )
    outcome = await response.json()
    await asyncio.to_thread(
        shop.server.request,
        "POST",
        f"/v1/payment_intents/{outcome['payment_intent']}/_authenticate",
        {"client_secret": outcome["client_secret"], "success": "true"},
    )
    return outcome["payment_intent"], form["nonce"]


async def test_a_webhook_replayed_three_times_credits_once(shop: Shop) -> None:
    intent, nonce = await abandoned_topup(shop)
    payload = webhook_event(intent, nonce, 4000, "evt_replayed_once")
    secret = endpoint_secret(shop.sealer, tenant_id=shop.tenant.id)

    async def deliver() -> int:
        response = await shop.client.post(
            "/stripe/webhooks/alpeak",
            data=payload,
            headers={**ALPEAK, "Stripe-Signature": signature_header(payload, secret=secret)},
        )
        return int(response.status)

    assert list(await asyncio.gather(deliver(), deliver(), deliver())) == [200, 200, 200]
    assert await balance(shop) == 4000
    _, ledger, invoices = await counts(shop)
    assert (ledger, invoices) == (1, 1)


@pytest.mark.parametrize("problem", ["bad signature", "stale timestamp", "no signature"])
async def test_a_forged_or_stale_webhook_is_rejected_and_credits_nothing(
    shop: Shop, problem: str
) -> None:
    intent, nonce = await abandoned_topup(shop)
    payload = webhook_event(intent, nonce, 4000, f"evt_{problem.replace(' ', '_')}")
    secret = endpoint_secret(shop.sealer, tenant_id=shop.tenant.id)
    headers = dict(ALPEAK)
    if problem == "bad signature":
        headers["Stripe-Signature"] = signature_header(payload, secret="whsec_wrong")
    elif problem == "stale timestamp":
        headers["Stripe-Signature"] = signature_header(
            payload, secret=secret, timestamp=int(time.time()) - 301
        )
    response = await shop.client.post("/stripe/webhooks/alpeak", data=payload, headers=headers)
    assert response.status == 400
    assert await balance(shop) == 0
    assert await shop.pool.fetchval("SELECT count(*) FROM stripe_events") == 0


async def test_a_stripe_webhook_secret_set_through_the_api_replaces_the_derived_one(
    shop: Shop, make_tenant: Any
) -> None:
    from gateway.tenants.api_keys import create_api_key

    _, key = await create_api_key(shop.pool, tenant_id=shop.tenant.id)
    api = {"Host": "api.localhost:8080", "Authorization": f"Bearer {key}"}
    response = await shop.client.patch(
        "/api/v1/settings", headers=api, json={"stripe_webhook_secret": "whsec_fromstripe12345"}
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["stripe_webhook_secret_configured"] is True
    assert body["stripe_webhook_url"].endswith(f"/stripe/webhooks/{shop.tenant.slug}")
    assert "whsec_fromstripe12345" not in await response.text()
    payload = b'{"id": "evt_1", "type": "ping", "data": {"object": {}}}'
    host = {"Host": f"{shop.tenant.slug}.localhost:8080", "Content-Type": "application/json"}
    derived = endpoint_secret(shop.sealer, tenant_id=shop.tenant.id)
    refused = await shop.client.post(
        f"/stripe/webhooks/{shop.tenant.slug}",
        data=payload,
        headers={**host, "Stripe-Signature": signature_header(payload, secret=derived)},
    )
    assert refused.status == 400
    accepted = await shop.client.post(
        f"/stripe/webhooks/{shop.tenant.slug}",
        data=payload,
        headers={
            **host,
            "Stripe-Signature": signature_header(payload, secret="whsec_fromstripe12345"),
        },
    )
    assert accepted.status == 200, await accepted.text()


async def test_a_card_that_was_not_confirmed_is_refused_with_a_reason_the_page_can_show(
    shop: Shop,
) -> None:
    form = await topup_form(shop)
    created = await shop.client.post(
        f"/portal/{shop.customer_id}/setup_intents",
        data={"csrf_token": form["csrf_token"]},
        headers=JSON,
    )
    intent = await created.json()
    # Stripe.js never confirmed it (declined, or 3-D Secure abandoned).
    saved = await shop.client.post(
        f"/portal/{shop.customer_id}/payment_methods",
        data={"csrf_token": form["csrf_token"], "setup_intent": intent["id"]},
        headers={**JSON, "Accept-Language": "fr"},
    )
    assert saved.status == 422
    problem = await saved.json()
    assert [item["field"] for item in problem["errors"]] == ["setup_intent"]
    assert problem["errors"][0]["message"].startswith("La carte n’a pas été enregistrée")
    assert await shop.pool.fetchval("SELECT count(*) FROM payment_methods") == 0


async def test_the_last_card_of_a_subscriber_is_kept_with_a_french_explanation(
    shop: Shop,
) -> None:
    card = await save_card(shop, "4242424242424242")
    await create_subscription(
        shop.pool,
        tenant_id=shop.tenant.id,
        data={
            "customer": shop.customer_id,
            "plan_name": "Pro",
            "items": [{"name": "Seat", "unit_amount": 1000, "interval": "month"}],
        },
    )
    form = await topup_form(shop)
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/payment_methods/{card}/delete",
        data={"csrf_token": form["csrf_token"]},
        headers={**ALPEAK, "Accept-Language": "fr"},
        allow_redirects=False,
    )
    assert response.status == 409
    assert "Cette carte paie votre abonnement Pro." in await response.text()


async def test_a_card_action_while_stripe_is_unreachable_is_a_503_that_says_so(
    shop: Shop, aiohttp_client: Any, settings: Any
) -> None:
    # Nothing listens on the port: every Stripe call is refused (after the SDK's retries).
    unreachable = dataclasses.replace(
        stripe_settings(settings, shop.server), stripe_api_base=f"http://127.0.0.1:{free_port()}"
    )
    client = await aiohttp_client(create_app(unreachable, domain_worker=False))
    page = await client.get(
        f"/portal/{shop.customer_id}/wallets/{shop.wallet_id}/topup", headers=ALPEAK
    )
    token = re.findall(r'name="csrf_token" value="([^"]+)"', await page.text())[0]
    url = f"/portal/{shop.customer_id}/setup_intents"
    script = await client.post(url, data={"csrf_token": token}, headers=JSON)
    assert script.status == 503
    problem = json.loads(await script.text())
    assert problem["title"] == "Service unavailable"
    assert "could not reach the payment provider" in problem["detail"]
    browser = await client.post(url, data={"csrf_token": token}, headers=ALPEAK)
    assert browser.status == 503
    assert "could not reach the payment provider" in await browser.text()


async def overview_text(shop: Shop) -> str:
    response = await shop.client.get(f"/portal/{shop.customer_id}", headers=ALPEAK)
    assert response.status == 200
    return str(await response.text())


async def test_a_card_removed_through_the_portal_is_gone_from_the_next_overview_views(
    shop: Shop,
) -> None:
    old = await save_card(shop, "4242424242424242")
    await save_card(shop, "5555555555554444")
    shown = await overview_text(shop)
    assert shown == await overview_text(shop)  # the second view is the cached page
    form = await topup_form(shop)

    removed = await shop.client.post(
        f"/portal/{shop.customer_id}/payment_methods/{old}/delete",
        data={"csrf_token": form["csrf_token"]},
        headers=ALPEAK,
        allow_redirects=False,
    )
    after_redirect = await overview_text(shop)  # where the 303 leads, with its notice
    next_view = await overview_text(shop)

    assert removed.status == 303
    assert "Visa ending in 4242" in shown
    assert "ending in 4444" in shown
    for page in (after_redirect, next_view):
        assert "ending in 4242" not in page
        assert "ending in 4444" in page
    assert "The card was removed" in after_redirect
    assert "The card was removed" not in next_view
    in_stripe = await shop.pool.fetchval(
        "SELECT stripe_payment_method_id FROM payment_methods WHERE id = $1", old
    )
    stripe_method = await asyncio.to_thread(
        shop.server.request, "GET", f"/v1/payment_methods/{in_stripe}"
    )
    assert stripe_method["customer"] is None  # detached in Stripe too

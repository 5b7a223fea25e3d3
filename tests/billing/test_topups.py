"""Wallet top-ups against localstripe: a bank that wants 3-D Secure still charges once."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import stripe

from billing.customers import create_customer
from billing.payment_methods import add_card
from billing.payment_methods_service import ensure_stripe_customer
from billing.stripe_gateway import PaymentIntentState, StripePayments, payment_failure
from billing.topups import buy_credits, complete_topup, new_nonce
from billing.wallets import create_wallet
from gateway.tenants.models import Tenant
from gateway.tenants.registry import update_settings
from tests.dates import CARD_EXP_YEAR
from tests.fixtures.localstripe import LocalStripe, localstripe  # noqa: F401


class RealStripeOffSession(StripePayments):
    """localstripe, answering an off-session 3-D Secure charge as real Stripe does.

    localstripe leaves such a PaymentIntent in requires_action; Stripe refuses it with
    the card error `authentication_required` and charges nothing. Everything else,
    including the on-session retry and the authentication, is localstripe's own.
    """

    def __init__(self, server: LocalStripe) -> None:
        super().__init__(api_key=server.secret_key, api_base=server.api_base)
        self.refused: list[str] = []

    async def charge_off_session(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> PaymentIntentState:
        intent = await super().charge_off_session(
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            amount=amount,
            currency=currency,
            idempotency_key=idempotency_key,
            metadata=metadata,
        )
        if intent.status != "requires_action":
            return intent
        self.refused.append(intent.id)
        message = "Your card was declined. This transaction requires authentication."
        error: dict[str, Any] = {
            "type": "card_error",
            "code": "authentication_required",
            "message": message,
            "payment_intent": {"id": intent.id, "object": "payment_intent"},
        }
        body = {"error": error}
        raise payment_failure(
            stripe.CardError(  # type: ignore[no-untyped-call]
                message, None, "authentication_required", http_status=402, json_body=body
            )
        )


async def customer_with_card(pool: Any, tenant: Tenant, server: LocalStripe, number: str) -> Any:
    tenant = await update_settings(
        pool, tenant_id=tenant.id, changes={"wallet.topups_enabled": True}
    )
    customer = await create_customer(
        pool, tenant_id=tenant.id, default_currency=tenant.default_currency, data={"name": "Ada"}
    )
    wallet = await create_wallet(pool, tenant_id=tenant.id, customer_id=customer.id, currency="EUR")
    payments = StripePayments(api_key=server.secret_key, api_base=server.api_base)
    stripe_customer = await ensure_stripe_customer(
        pool, payments, tenant_id=tenant.id, customer_id=customer.id
    )
    method = server.request(
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
    card = await payments.attach_payment_method(
        payment_method_id=method["id"], customer_id=stripe_customer
    )
    await add_card(
        pool,
        tenant_id=tenant.id,
        customer_id=customer.id,
        brand=card.brand,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        stripe_payment_method_id=card.payment_method_id,
    )
    return tenant, customer, wallet, stripe_customer


async def test_authentication_required_off_session_is_confirmed_in_the_page_and_charged_once(
    pool: Any,
    tenant: Tenant,
    localstripe: LocalStripe,  # noqa: F811
) -> None:
    tenant, customer, wallet, stripe_customer = await customer_with_card(
        pool, tenant, localstripe, "4000002500003155"
    )
    payments = RealStripeOffSession(localstripe)
    nonce = new_nonce()

    async def submit() -> Any:
        return await buy_credits(
            pool,
            payments,
            tenant_id=tenant.id,
            policy=tenant.wallet,
            customer_id=customer.id,
            wallet_id=wallet.id,
            amount=3000,
            nonce=nonce,
        )

    first, again = await asyncio.gather(submit(), submit())
    # Both submissions point the page at the same on-session PaymentIntent.
    assert first.status == again.status == "requires_action"
    assert first.payment_intent_id == again.payment_intent_id
    assert first.client_secret
    assert first.client_secret.startswith(str(first.payment_intent_id))
    assert len(payments.refused) == 1
    assert first.payment_intent_id not in payments.refused
    # What stripe.confirmCardPayment does when the customer completes 3-D Secure.
    localstripe.request(
        "POST",
        f"/v1/payment_intents/{first.payment_intent_id}/_authenticate",
        {"client_secret": first.client_secret, "success": "true"},
    )
    done = await complete_topup(
        pool,
        payments,
        tenant_id=tenant.id,
        customer_id=customer.id,
        wallet_id=wallet.id,
        nonce=nonce,
    )
    assert (done.status, done.balance) == ("succeeded", 3000)
    intents = localstripe.payment_intents(customer=stripe_customer)
    assert sorted(intent["status"] for intent in intents) == ["canceled", "succeeded"]
    ledger = await pool.fetchval(
        "SELECT count(*) FROM wallet_ledger WHERE tenant_id = $1 AND wallet_id = $2",
        tenant.id,
        wallet.id,
    )
    assert ledger == 1

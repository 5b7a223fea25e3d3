"""Completing checkout sessions in the billing layer against a real localstripe.

What a tenant and its customer rely on: a free trial saves the card and charges
nothing, an expired session cannot be paid, racing completions charge once,
and another tenant's session is not found.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from billing.checkout_billing_info import save_billing_information
from billing.checkout_completion import complete_checkout, start_checkout_card_setup
from billing.checkout_sessions import create_checkout_session
from billing.checkout_settlement import CheckoutClosed
from billing.errors import NotFound
from billing.stripe_gateway import StripePayments
from gateway.tenants.models import Tenant
from tests.dates import CARD_EXP_YEAR
from tests.fixtures.localstripe import LocalStripe, localstripe  # noqa: F401

BILLING = {"name": "Ada Lovelace", "email": "ada@example.com"}


def payments_for(server: LocalStripe) -> StripePayments:
    return StripePayments(api_key=server.secret_key, api_base=server.api_base)


async def open_session(pool: Any, tenant: Tenant, **fields: Any) -> str:
    session = await create_checkout_session(
        pool,
        tenant_id=tenant.id,
        default_currency=tenant.default_currency,
        data={
            "customer_details": {"name": "Ada Lovelace"},
            "line_items": [{"name": "Pro plan", "unit_amount": 2900, "interval": "month"}],
            "success_url": "https://alpeak.example/thanks/{CHECKOUT_SESSION_ID}",
            **fields,
        },
    )
    return session.id


async def saved_setup_intent(
    pool: Any, server: LocalStripe, tenant: Tenant, session_id: str
) -> str:
    """Billing details stored and a card saved on a SetupIntent, as the page does."""
    payments = payments_for(server)
    await save_billing_information(
        pool, tenant_id=tenant.id, session_id=session_id, billing=BILLING
    )
    intent = await start_checkout_card_setup(
        pool, payments, tenant_id=tenant.id, session_id=session_id
    )
    method = await asyncio.to_thread(
        server.request,
        "POST",
        "/v1/payment_methods",
        {
            "type": "card",
            "card[number]": "4242424242424242",
            "card[exp_month]": "12",
            "card[exp_year]": str(CARD_EXP_YEAR),
            "card[cvc]": "123",
        },
    )
    await asyncio.to_thread(
        server.request,
        "POST",
        f"/v1/setup_intents/{intent.id}/confirm",
        {"payment_method": method["id"], "client_secret": intent.client_secret},
    )
    return intent.id


async def charges(pool: Any, server: LocalStripe, session_id: str) -> int:
    stripe_customer = await pool.fetchval(
        "SELECT c.stripe_customer_id FROM checkout_sessions s JOIN customers c "
        "ON c.id = s.customer_id WHERE s.id = $1",
        session_id,
    )
    return len(await asyncio.to_thread(server.payment_intents, customer=stripe_customer))


async def test_a_free_trial_saves_the_card_starts_a_trialing_subscription_and_charges_nothing(
    pool: Any,
    tenant: Tenant,
    localstripe: LocalStripe,  # noqa: F811
) -> None:
    session_id = await open_session(pool, tenant, trial_days=14)
    setup_intent = await saved_setup_intent(pool, localstripe, tenant, session_id)
    outcome = await complete_checkout(
        pool,
        payments_for(localstripe),
        tenant_id=tenant.id,
        session_id=session_id,
        setup_intent_id=setup_intent,
    )
    assert outcome.status == "succeeded"
    assert outcome.redirect_url == f"https://alpeak.example/thanks/{session_id}"
    assert await charges(pool, localstripe, session_id) == 0
    subscription = await pool.fetchrow("SELECT status, trial_end FROM subscriptions")
    assert subscription["status"] == "trialing"
    assert subscription["trial_end"] is not None
    invoice = await pool.fetchrow("SELECT status, total FROM invoices")
    assert (invoice["status"], invoice["total"]) == ("paid", 0)
    card = await pool.fetchrow("SELECT last4, is_default FROM payment_methods")
    assert (card["last4"], card["is_default"]) == ("4242", True)


async def test_an_expired_session_cannot_be_paid(
    pool: Any,
    tenant: Tenant,
    localstripe: LocalStripe,  # noqa: F811
) -> None:
    session_id = await open_session(pool, tenant)
    setup_intent = await saved_setup_intent(pool, localstripe, tenant, session_id)
    await pool.execute(
        "UPDATE checkout_sessions SET expires_at = now() - interval '1 second' WHERE id = $1",
        session_id,
    )
    with pytest.raises(CheckoutClosed):
        await complete_checkout(
            pool,
            payments_for(localstripe),
            tenant_id=tenant.id,
            session_id=session_id,
            setup_intent_id=setup_intent,
        )
    assert await charges(pool, localstripe, session_id) == 0
    assert await pool.fetchval("SELECT count(*) FROM subscriptions") == 0


async def test_racing_completions_charge_once_and_record_one_event(
    pool: Any,
    tenant: Tenant,
    localstripe: LocalStripe,  # noqa: F811
) -> None:
    session_id = await open_session(pool, tenant)
    setup_intent = await saved_setup_intent(pool, localstripe, tenant, session_id)
    outcomes = await asyncio.gather(
        *(
            complete_checkout(
                pool,
                payments_for(localstripe),
                tenant_id=tenant.id,
                session_id=session_id,
                setup_intent_id=setup_intent,
            )
            for _ in range(4)
        )
    )
    assert {outcome.status for outcome in outcomes} == {"succeeded"}
    assert await charges(pool, localstripe, session_id) == 1
    assert await pool.fetchval("SELECT count(*) FROM subscriptions") == 1
    assert await pool.fetchval("SELECT count(*) FROM invoices") == 1
    events = await pool.fetch("SELECT type FROM outbound_events ORDER BY created_at")
    assert [row["type"] for row in events].count("checkout.completed") == 1


async def test_another_tenants_session_is_not_found(
    pool: Any,
    tenant: Tenant,
    other_tenant: Tenant,
    localstripe: LocalStripe,  # noqa: F811
) -> None:
    session_id = await open_session(pool, tenant)
    with pytest.raises(NotFound):
        await save_billing_information(
            pool, tenant_id=other_tenant.id, session_id=session_id, billing=BILLING
        )
    with pytest.raises(NotFound):
        await complete_checkout(
            pool,
            payments_for(localstripe),
            tenant_id=other_tenant.id,
            session_id=session_id,
            setup_intent_id=None,
        )

"""The renewal job against localstripe and PostgreSQL, with a clock the tests control."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing.payment_methods import add_card
from billing.stripe_collection import CollectionPayments
from billing.stripe_gateway import PaymentIntentState
from billing.subscriptions import cancel_subscription
from billing.wallets import create_wallet, credit_wallet, get_wallet, list_ledger
from gateway.ops.metrics import GatewayMetrics
from gateway.tenants.registry import create_tenant
from tests.dates import CARD_EXP_YEAR
from tests.fixtures.localstripe import LocalStripe, localstripe  # noqa: F401
from tests.gateway.renewal_world import (
    DECLINED_WHEN_CHARGED,
    Crash,
    CrashAfterCharge,
    RenewalWorld,
    make_world,
)

START = datetime(2027, 1, 31, 9, 30, tzinfo=UTC)


@pytest.fixture
async def world(pool: Any, localstripe: LocalStripe) -> RenewalWorld:  # noqa: F811
    tenant = await create_tenant(pool, slug="alpeak", name="Alpeak")
    return await make_world(pool, tenant, localstripe)


async def test_a_monthly_subscription_renews_with_a_numbered_paid_invoice_and_events(
    world: RenewalWorld,
) -> None:
    customer = await world.customer()
    subscription = await world.subscribe(customer.id, start=START)
    job = world.job()
    assert (await job.run_due(now=START + timedelta(days=27))).steps == 0
    totals = await job.run_due(now=datetime(2027, 2, 28, 9, 31, tzinfo=UTC))
    assert totals.renewals == {"renewed": 1}
    assert totals.collections == {"paid": 1}
    (invoice,) = await world.invoices(subscription.id)
    # Two seats at 10.00 with 20% tax on the line.
    assert (invoice["status"], invoice["total"], invoice["amount_paid"]) == ("paid", 2400, 2400)
    assert invoice["number"] == "ALPEAK-0001"
    assert invoice["period_start"] == datetime(2027, 2, 28, 9, 30, tzinfo=UTC)
    assert invoice["period_end"] == datetime(2027, 3, 31, 9, 30, tzinfo=UTC)
    assert len(world.intents_for_invoice(invoice["id"])) == 1
    assert (await world.subscription(subscription.id))["status"] == "active"
    assert await world.event_types() == [
        "invoice.created",
        "subscription.renewed",
        "invoice.paid",
    ]


async def test_periods_come_back_to_the_31st_and_to_29_february_in_a_leap_year(
    world: RenewalWorld,
) -> None:
    customer = await world.customer()
    start = datetime(2028, 1, 31, tzinfo=UTC)
    monthly = await world.subscribe(customer.id, start=start)
    yearly = await world.subscribe(
        customer.id, start=datetime(2028, 2, 29, tzinfo=UTC), interval="year"
    )
    job = world.job()
    for now in (datetime(2028, 3, 1, tzinfo=UTC), datetime(2028, 4, 1, tzinfo=UTC)):
        await job.run_due(now=now)
    ends = [
        invoice["period_end"].date().isoformat() for invoice in await world.invoices(monthly.id)
    ]
    assert ends == ["2028-03-31", "2028-04-30"]
    await job.run_due(now=datetime(2029, 3, 1, tzinfo=UTC))
    assert [row["period_end"].date().isoformat() for row in await world.invoices(yearly.id)] == [
        "2030-02-28"
    ]


async def test_a_gateway_down_for_three_periods_catches_up_one_period_at_a_time(
    world: RenewalWorld,
) -> None:
    customer = await world.customer()
    subscription = await world.subscribe(customer.id, start=START)
    totals = await world.job().run_due(now=datetime(2027, 5, 1, tzinfo=UTC))
    assert totals.renewals == {"renewed": 3}
    invoices = await world.invoices(subscription.id)
    assert [(row["period_start"].month, row["period_end"].month) for row in invoices] == [
        (2, 3),
        (3, 4),
        (4, 5),
    ]
    assert [row["status"] for row in invoices] == ["paid", "paid", "paid"]
    assert [row["number"] for row in invoices] == ["ALPEAK-0001", "ALPEAK-0002", "ALPEAK-0003"]
    state = await world.subscription(subscription.id)
    assert state["current_period_end"] == datetime(2027, 5, 31, 9, 30, tzinfo=UTC)


async def test_a_trial_ends_into_a_paid_first_period(world: RenewalWorld) -> None:
    customer = await world.customer()
    subscription = await world.subscribe(customer.id, start=START, trial_days=14)
    await world.job().run_due(now=START + timedelta(days=14))
    (invoice,) = await world.invoices(subscription.id)
    assert invoice["status"] == "paid"
    assert invoice["period_start"] == START + timedelta(days=14)
    assert invoice["period_end"] == datetime(2027, 3, 14, 9, 30, tzinfo=UTC)
    assert (await world.subscription(subscription.id))["status"] == "active"


async def test_cancel_at_period_end_ends_the_subscription_without_an_invoice(
    world: RenewalWorld,
) -> None:
    customer = await world.customer()
    subscription = await world.subscribe(customer.id, start=START)
    await cancel_subscription(
        world.pool, tenant_id=world.tenant.id, subscription_id=subscription.id, at_period_end=True
    )
    totals = await world.job().run_due(now=datetime(2027, 3, 1, tzinfo=UTC))
    assert totals.renewals == {"canceled": 1}
    state = await world.subscription(subscription.id)
    assert state["status"] == "canceled"
    assert state["canceled_at"] == datetime(2027, 2, 28, 9, 30, tzinfo=UTC)
    assert await world.invoices(subscription.id) == []
    assert await world.event_types() == ["subscription.canceled"]


async def test_a_declined_renewal_is_past_due_then_active_after_a_retry_succeeds(
    world: RenewalWorld,
) -> None:
    customer = await world.customer(card=DECLINED_WHEN_CHARGED)
    subscription = await world.subscribe(customer.id, start=START)
    metrics = GatewayMetrics()
    job = world.job(counters=metrics)
    renewed_at = datetime(2027, 2, 28, 10, tzinfo=UTC)
    assert (await job.run_due(now=renewed_at)).collections == {"failed": 1}
    (invoice,) = await world.invoices(subscription.id)
    assert invoice["status"] == "open"
    assert invoice["next_payment_attempt_at"] == renewed_at + timedelta(days=1)
    assert (await world.subscription(subscription.id))["status"] == "past_due"
    # Not due again before the first retry day.
    assert (await job.run_due(now=renewed_at + timedelta(hours=23))).steps == 0
    await world.add_card(customer.id, "4242424242424242")
    assert (await job.run_due(now=renewed_at + timedelta(days=1))).collections == {"paid": 1}
    assert [row["status"] for row in await world.attempts(invoice["id"])] == [
        "failed",
        "succeeded",
    ]
    assert (await world.subscription(subscription.id))["status"] == "active"
    exposition = metrics.render().decode()
    assert 'gateway_renewals_total{outcome="renewed"} 1.0' in exposition
    assert 'gateway_collections_total{outcome="failed"} 1.0' in exposition
    assert 'gateway_collections_total{outcome="paid"} 1.0' in exposition
    assert "gateway_renewal_payment_failures_total 1.0" in exposition
    assert await world.event_types() == [
        "invoice.created",
        "subscription.renewed",
        "invoice.payment_failed",
        "subscription.past_due",
        "invoice.paid",
    ]


@pytest.mark.parametrize("final_action", ["cancel", "unpaid"])
async def test_after_every_retry_fails_the_tenants_final_action_applies(
    world: RenewalWorld, final_action: str
) -> None:
    await world.settings({"dunning.final_action": final_action})
    customer = await world.customer(card=DECLINED_WHEN_CHARGED)
    subscription = await world.subscribe(customer.id, start=START)
    job = world.job()
    failed_at = datetime(2027, 2, 28, 10, tzinfo=UTC)
    for day in (0, 1, 3, 5):
        await job.run_due(now=failed_at + timedelta(days=day))
        assert (await world.subscription(subscription.id))["status"] == "past_due"
    await job.run_due(now=failed_at + timedelta(days=7))
    (invoice,) = await world.invoices(subscription.id)
    assert [row["status"] for row in await world.attempts(invoice["id"])] == ["failed"] * 5
    assert invoice["status"] == "open"
    assert invoice["next_payment_attempt_at"] is None
    expected = "canceled" if final_action == "cancel" else "unpaid"
    assert (await world.subscription(subscription.id))["status"] == expected
    assert (await world.event_types()).count("invoice.payment_failed") == 5


@pytest.mark.parametrize(
    ("balance", "from_wallet", "charged"),
    [(5000, 2400, 0), (1000, 1000, 1400), (0, 0, 2400)],
    ids=["wallet-covers-all", "wallet-covers-part", "empty-wallet"],
)
async def test_the_wallet_pays_first_once_and_the_card_the_rest(
    world: RenewalWorld, balance: int, from_wallet: int, charged: int
) -> None:
    await world.settings({"dunning.wallet_spend_enabled": True})
    customer = await world.customer()
    wallet = await create_wallet(
        world.pool, tenant_id=world.tenant.id, customer_id=customer.id, currency="EUR"
    )
    if balance:
        await credit_wallet(
            world.pool, tenant_id=world.tenant.id, wallet_id=wallet.id, amount=balance
        )
    subscription = await world.subscribe(customer.id, start=START)
    job = world.job()
    await job.run_due(now=datetime(2027, 3, 1, tzinfo=UTC))
    await job.run_due(now=datetime(2027, 3, 2, tzinfo=UTC))
    (invoice,) = await world.invoices(subscription.id)
    assert invoice["status"] == "paid"
    intents = world.intents_for_invoice(invoice["id"])
    assert [intent["amount"] for intent in intents] == ([charged] if charged else [])
    entries, _ = await list_ledger(world.pool, tenant_id=world.tenant.id, wallet_id=wallet.id)
    spends = [entry for entry in entries if entry.kind == "debit"]
    assert [entry.amount for entry in spends] == ([-from_wallet] if from_wallet else [])
    after = await get_wallet(world.pool, tenant_id=world.tenant.id, wallet_id=wallet.id)
    assert after.balance == balance - from_wallet


async def test_two_workers_racing_renew_and_charge_each_subscription_once(
    world: RenewalWorld,
) -> None:
    first = await world.customer()
    card = await world.pool.fetchrow(
        "SELECT c.stripe_customer_id, m.stripe_payment_method_id FROM customers c "
        "JOIN payment_methods m ON m.customer_id = c.id WHERE c.id = $1",
        first.id,
    )
    subscriptions = []
    for number in range(100):
        customer = await world.customer(card=None, name=f"Customer {number}")
        # Every customer pays with the same provider card: one charge per invoice shows.
        await world.pool.execute(
            "UPDATE customers SET stripe_customer_id = $2 WHERE id = $1",
            customer.id,
            card["stripe_customer_id"],
        )
        await add_card(
            world.pool,
            tenant_id=world.tenant.id,
            customer_id=customer.id,
            brand="visa",
            last4="4242",
            exp_month=12,
            exp_year=CARD_EXP_YEAR,
            stripe_payment_method_id=card["stripe_payment_method_id"],
        )
        subscriptions.append(await world.subscribe(customer.id, start=START))
    now = datetime(2027, 3, 1, tzinfo=UTC)
    one, two = await asyncio.gather(world.job().run_due(now=now), world.job().run_due(now=now))
    assert one.renewals.get("renewed", 0) + two.renewals.get("renewed", 0) == 100
    assert one.collections.get("paid", 0) + two.collections.get("paid", 0) == 100
    invoices = await world.pool.fetch(
        "SELECT id, status FROM invoices WHERE tenant_id = $1 AND kind = 'subscription'",
        world.tenant.id,
    )
    assert len(invoices) == 100
    assert {row["status"] for row in invoices} == {"paid"}
    listing = world.server.request("GET", "/v1/payment_intents?limit=1000")
    charged = [
        intent["metadata"]["invoice"]
        for intent in listing["data"]
        if intent.get("customer") == card["stripe_customer_id"]
    ]
    assert sorted(charged) == sorted(row["id"] for row in invoices)


async def test_a_charge_whose_answer_was_lost_is_reconciled_without_a_second_charge(
    world: RenewalWorld,
) -> None:
    customer = await world.customer()
    subscription = await world.subscribe(customer.id, start=START)
    renewed_at = datetime(2027, 3, 1, tzinfo=UTC)
    with pytest.raises(Crash):
        await world.job(charger=CrashAfterCharge).run_due(now=renewed_at)
    (invoice,) = await world.invoices(subscription.id)
    assert invoice["status"] == "open"
    assert [row["status"] for row in await world.attempts(invoice["id"])] == ["pending"]
    job = world.job()
    # Within the lease nothing is touched: the charge may still be on its way.
    assert (await job.run_due(now=renewed_at + timedelta(minutes=1))).steps == 0
    totals = await job.run_due(now=renewed_at + timedelta(minutes=6))
    assert totals.reconciliations == {"paid": 1}
    (invoice,) = await world.invoices(subscription.id)
    assert invoice["status"] == "paid"
    (attempt,) = await world.attempts(invoice["id"])
    assert attempt["status"] == "succeeded"
    assert [intent["id"] for intent in world.intents_for_invoice(invoice["id"])] == [
        attempt["stripe_payment_intent_id"]
    ]


class CountingCharges(CollectionPayments):
    """localstripe, counting how many charges are on their way at once."""

    now = 0
    most = 0

    async def charge_off_session(self, **kwargs: Any) -> PaymentIntentState:
        cls = type(self)
        cls.now += 1
        cls.most = max(cls.most, cls.now)
        try:
            await asyncio.sleep(0.05)  # a slower provider: lanes overlap
            return await super().charge_off_session(**kwargs)
        finally:
            cls.now -= 1


@pytest.mark.parametrize(("serving", "most"), [(True, 1), (False, 8)])
async def test_while_the_worker_serves_requests_renewals_run_one_at_a_time(
    world: RenewalWorld, serving: bool, most: int
) -> None:
    subscriptions = [
        await world.subscribe((await world.customer(name=f"Customer {n}")).id, start=START)
        for n in range(12)
    ]
    CountingCharges.now = CountingCharges.most = 0
    job = world.job(charger=CountingCharges, serving=lambda: serving)
    totals = await job.run_due(now=datetime(2027, 2, 28, 9, 31, tzinfo=UTC))
    # Slower, never stopped: every renewal is made and paid either way.
    assert totals.renewals == {"renewed": 12}
    assert totals.collections == {"paid": 12}
    for subscription in subscriptions:
        (invoice,) = await world.invoices(subscription.id)
        assert invoice["status"] == "paid"
    assert CountingCharges.most == most

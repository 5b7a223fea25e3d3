"""A tenant with Stripe keys on localstripe, customers with cards and subscriptions, for
the renewal job's tests; every instant is given by the test."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billing.customers import create_customer
from billing.payment_methods import add_card
from billing.payment_methods_service import ensure_stripe_customer
from billing.stripe_collection import CollectionPayments
from billing.stripe_gateway import PaymentIntentState, StripePayments
from billing.subscriptions import Subscription, create_subscription
from gateway.jobs.renewals import RenewalJob, TenantBilling
from gateway.tenants.models import Tenant
from gateway.tenants.registry import set_stripe_keys, update_settings
from kernel.sealing import Sealer
from tests.dates import CARD_EXP_YEAR
from tests.fixtures.localstripe import LocalStripe

SUCCEEDS = "4242424242424242"
DECLINED_WHEN_CHARGED = "4000000000000341"
MONTHLY = [{"name": "Seat", "unit_amount": 1000, "quantity": 2, "tax_rate_bps": 2000}]


class Crash(Exception):
    """The process dies right after the provider charged (its answer is lost)."""


class CrashAfterCharge(CollectionPayments):
    """localstripe that charges, then loses the answer as a killed process would."""

    async def charge_off_session(self, **kwargs: Any) -> PaymentIntentState:
        await super().charge_off_session(**kwargs)
        raise Crash


@dataclass
class RenewalWorld:
    pool: Any
    tenant: Tenant
    server: LocalStripe
    sealer: Sealer

    def job(self, charger: type[CollectionPayments] | None = None, **options: Any) -> RenewalJob:
        factory = None
        if charger is not None:
            server = self.server

            async def make(_tenants: TenantBilling, _tenant_id: int) -> CollectionPayments:
                return charger(api_key=server.secret_key, api_base=server.api_base)

            factory = make
        return RenewalJob(
            self.pool,
            self.sealer,
            stripe_api_base=self.server.api_base,
            charger_for=factory,
            **options,
        )

    def payments(self) -> StripePayments:
        return StripePayments(api_key=self.server.secret_key, api_base=self.server.api_base)

    async def settings(self, changes: Mapping[str, Any]) -> None:
        self.tenant = await update_settings(self.pool, tenant_id=self.tenant.id, changes=changes)

    async def customer(self, card: str | None = SUCCEEDS, name: str = "Ada") -> Any:
        customer = await create_customer(
            self.pool,
            tenant_id=self.tenant.id,
            default_currency=self.tenant.default_currency,
            data={"name": name},
        )
        if card is not None:
            await self.add_card(customer.id, card)
        return customer

    async def add_card(self, customer_id: str, number: str) -> None:
        payments = self.payments()
        stripe_customer = await ensure_stripe_customer(
            self.pool, payments, tenant_id=self.tenant.id, customer_id=customer_id
        )
        method = self.server.request(
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
            self.pool,
            tenant_id=self.tenant.id,
            customer_id=customer_id,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            stripe_payment_method_id=card.payment_method_id,
        )

    async def subscribe(
        self,
        customer_id: str,
        *,
        start: datetime,
        interval: str = "month",
        items: list[dict[str, Any]] | None = None,
        trial_days: int | None = None,
    ) -> Subscription:
        data: dict[str, Any] = {
            "customer": customer_id,
            "plan_name": "Team",
            "items": [{**item, "interval": interval} for item in items or MONTHLY],
            "start": start.isoformat(),
        }
        if trial_days is not None:
            data["trial_days"] = trial_days
        return await create_subscription(self.pool, tenant_id=self.tenant.id, data=data, now=start)

    async def invoices(self, subscription_id: str) -> list[Any]:
        return list(
            await self.pool.fetch(
                "SELECT id, number, status, total, amount_paid, period_start, period_end, "
                "next_payment_attempt_at FROM invoices WHERE tenant_id = $1 "
                "AND subscription_id = $2 ORDER BY period_start",
                self.tenant.id,
                subscription_id,
            )
        )

    async def subscription(self, subscription_id: str) -> Any:
        return await self.pool.fetchrow(
            "SELECT status, current_period_start, current_period_end, canceled_at "
            "FROM subscriptions WHERE tenant_id = $1 AND id = $2",
            self.tenant.id,
            subscription_id,
        )

    async def attempts(self, invoice_id: str) -> list[Any]:
        return list(
            await self.pool.fetch(
                "SELECT attempt, status, failure_code, stripe_payment_intent_id "
                "FROM payment_attempts WHERE tenant_id = $1 AND invoice_id = $2 ORDER BY attempt",
                self.tenant.id,
                invoice_id,
            )
        )

    async def event_types(self) -> list[str]:
        """Event types in the order of their transactions (by name within one)."""
        rows = await self.pool.fetch(
            "SELECT type FROM outbound_events WHERE tenant_id = $1 ORDER BY created_at, type",
            self.tenant.id,
        )
        return [row["type"] for row in rows]

    def intents_for_invoice(self, invoice_id: str) -> list[dict[str, Any]]:
        listing = self.server.request("GET", "/v1/payment_intents?limit=1000")
        return [
            intent
            for intent in listing["data"]
            if (intent.get("metadata") or {}).get("invoice") == invoice_id
        ]


async def make_world(pool: Any, tenant: Tenant, server: LocalStripe) -> RenewalWorld:
    sealer = Sealer(os.urandom(32))
    await set_stripe_keys(
        pool,
        sealer,
        tenant_id=tenant.id,
        secret_key=server.secret_key,
        publishable_key=server.publishable_key,
    )
    return RenewalWorld(pool=pool, tenant=tenant, server=server, sealer=sealer)

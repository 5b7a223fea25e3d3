"""Collecting open renewal invoices off-session: wallet first, then the default card.

`collect_next` claims one open invoice whose collection is due (`FOR UPDATE SKIP
LOCKED`, and a lease moved forward in the same statement's transaction, so replicas
never charge one invoice at once), spends the wallet when the tenant allows it, and
writes a pending payment attempt before the card is charged. The charge's outcome is
recorded in a second transaction: paid, or failed with the next retry scheduled by
the tenant's dunning settings (billing/dunning.py). `reconcile_next` settles an
attempt left pending by a process that died mid-charge, by its idempotency key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from billing.dunning import CollectionPolicy
from billing.dunning_outcomes import record_failure
from billing.invoice_settlement import record_invoice_payment
from billing.payment_attempts import PaymentAttempt, finish_attempt, start_attempt
from billing.stripe_gateway import (
    PaymentFailed,
    PaymentIntentState,
    PaymentProviderFailed,
    PaymentProviderUnreachable,
)
from billing.wallet_spending import spend_wallet_on_invoice
from kernel.db import Db, transaction

# How long a claimed invoice or a pending charge is left alone: longer than a charge can
# take with the SDK's retries (3 x 30 s), so only a dead process's work is taken over.
CHARGE_LEASE = timedelta(minutes=5)
CLAIM_COLUMNS = "id, tenant_id, customer_id, subscription_id, currency, total, amount_paid"


class OffSessionCharger(Protocol):
    """The provider calls collection needs. Every call may block on the network."""

    async def charge_off_session(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> PaymentIntentState: ...

    async def find_payment_intent(self, *, idempotency_key: str) -> PaymentIntentState | None:
        """The PaymentIntent created with this key (in its metadata), or None if none was."""
        ...


PolicyFor = Callable[[int], Awaitable[CollectionPolicy]]
ChargerFor = Callable[[int], Awaitable[OffSessionCharger | None]]


@dataclass(frozen=True, kw_only=True)
class Collection:
    """One collection step: `paid`, `failed`, `unknown` (left for reconciliation)."""

    tenant_id: int
    invoice_id: str
    outcome: str
    wallet_spent: int = 0
    attempt: PaymentAttempt | None = None


@dataclass(frozen=True, kw_only=True)
class _Claim:
    row: Any
    wallet_spent: int
    paid: bool
    attempt: PaymentAttempt | None
    card: Any


async def _claim(db: Db, *, now: datetime, policy_for: PolicyFor) -> _Claim | None:
    async with transaction(db) as connection:
        row = await connection.fetchrow(
            f"SELECT {CLAIM_COLUMNS} FROM invoices AS i WHERE status = 'open' "
            "AND next_payment_attempt_at <= $1 AND NOT EXISTS (SELECT 1 FROM payment_attempts "
            "AS a WHERE a.tenant_id = i.tenant_id AND a.invoice_id = i.id "
            "AND a.status = 'pending') "
            "ORDER BY next_payment_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED",
            now,
        )
        if row is None:
            return None
        tenant_id = row["tenant_id"]
        await connection.execute(
            "UPDATE invoices SET next_payment_attempt_at = $3 WHERE tenant_id = $1 AND id = $2",
            tenant_id,
            row["id"],
            now + CHARGE_LEASE,
        )
        policy = await policy_for(tenant_id)
        due = row["total"] - row["amount_paid"]
        spent = 0
        if policy.wallet_spend_enabled:
            spent = await spend_wallet_on_invoice(
                connection, tenant_id=tenant_id, invoice=row, amount_due=due
            )
        if spent or due == 0:
            paid = await record_invoice_payment(
                connection,
                tenant_id=tenant_id,
                invoice_id=row["id"],
                paid_with="wallet",
                amount=spent,
                now=now,
            )
            if paid.settled:
                return _Claim(row=row, wallet_spent=spent, paid=True, attempt=None, card=None)
        attempt = await start_attempt(
            connection, tenant_id=tenant_id, invoice=row, amount=due - spent, now=now
        )
        card = await _card(connection, tenant_id, row["customer_id"])
        return _Claim(row=row, wallet_spent=spent, paid=False, attempt=attempt, card=card)


async def _card(db: Db, tenant_id: int, customer_id: str) -> Any:
    """The provider ids of the customer and its default card, or None without either."""
    return await db.fetchrow(
        "SELECT c.stripe_customer_id, m.stripe_payment_method_id FROM customers AS c "
        "JOIN payment_methods AS m ON m.tenant_id = c.tenant_id AND m.customer_id = c.id "
        "WHERE c.tenant_id = $1 AND c.id = $2 AND m.is_default AND m.status = 'active' "
        "AND c.stripe_customer_id IS NOT NULL AND m.stripe_payment_method_id IS NOT NULL",
        tenant_id,
        customer_id,
    )


async def collect_next(
    db: Db, *, now: datetime, policy_for: PolicyFor, charger_for: ChargerFor
) -> Collection | None:
    """Collect one due invoice; None when none is due at `now`."""
    claim = await _claim(db, now=now, policy_for=policy_for)
    if claim is None:
        return None
    tenant_id, invoice_id = claim.row["tenant_id"], claim.row["id"]
    if claim.attempt is None:
        return Collection(
            tenant_id=tenant_id,
            invoice_id=invoice_id,
            outcome="paid",
            wallet_spent=claim.wallet_spent,
        )
    attempt = claim.attempt
    charger = await charger_for(tenant_id) if claim.card is not None else None
    if charger is None:
        outcome = await record_outcome(
            db,
            attempt=attempt,
            tenant_id=tenant_id,
            now=now,
            policy=await policy_for(tenant_id),
            status="failed",
            failure_code="no_payment_method",
            failure_message="No card to charge.",
        )
    else:
        outcome = await _charge(db, claim, charger, now=now, policy=await policy_for(tenant_id))
    return Collection(
        tenant_id=tenant_id,
        invoice_id=invoice_id,
        outcome=outcome,
        wallet_spent=claim.wallet_spent,
        attempt=attempt,
    )


async def _charge(
    db: Db, claim: _Claim, charger: OffSessionCharger, *, now: datetime, policy: CollectionPolicy
) -> str:
    attempt = claim.attempt
    assert attempt is not None
    try:
        intent = await charger.charge_off_session(
            customer_id=claim.card["stripe_customer_id"],
            payment_method_id=claim.card["stripe_payment_method_id"],
            amount=attempt.amount,
            currency=attempt.currency,
            idempotency_key=attempt.idempotency_key,
            metadata={
                "invoice": attempt.invoice_id,
                "attempt": str(attempt.attempt),
                "idempotency_key": attempt.idempotency_key,
            },
        )
    except (PaymentProviderUnreachable, PaymentProviderFailed):
        # The charge may or may not have happened: the attempt stays pending and is
        # reconciled by its idempotency key once its lease has run out.
        return "unknown"
    except PaymentFailed as error:
        return await record_outcome(
            db,
            attempt=attempt,
            tenant_id=claim.row["tenant_id"],
            now=now,
            policy=policy,
            status="failed",
            payment_intent_id=error.payment_intent_id,
            failure_code=error.code,
            failure_message=error.message,
        )
    return await apply_intent(
        db, tenant_id=claim.row["tenant_id"], attempt=attempt, intent=intent, now=now, policy=policy
    )


async def apply_intent(
    db: Db,
    *,
    tenant_id: int,
    attempt: PaymentAttempt,
    intent: PaymentIntentState,
    now: datetime,
    policy: CollectionPolicy,
) -> str:
    """Record what the provider says about an attempt's PaymentIntent."""
    if intent.status == "succeeded":
        status = "succeeded"
    elif intent.status in ("requires_action", "requires_confirmation"):
        status = "requires_action"
    elif intent.status in ("processing", "requires_capture"):
        return "unknown"  # settled on a later pass, by its key
    else:
        status = "failed"
    return await record_outcome(
        db,
        attempt=attempt,
        tenant_id=tenant_id,
        now=now,
        policy=policy,
        status=status,
        payment_intent_id=intent.id,
        failure_code=None if status == "succeeded" else intent.status,
        failure_message=intent.failure_message,
    )


async def record_outcome(
    db: Db,
    *,
    attempt: PaymentAttempt,
    tenant_id: int,
    now: datetime,
    policy: CollectionPolicy,
    status: str,
    payment_intent_id: str | None = None,
    failure_code: str | None = None,
    failure_message: str | None = None,
) -> str:
    """Finish the attempt and pay or dun its invoice, in one transaction; `paid` or `failed`."""
    async with transaction(db) as connection:
        finished = await finish_attempt(
            connection,
            tenant_id=tenant_id,
            attempt_id=attempt.id,
            status=status,
            now=now,
            payment_intent_id=payment_intent_id,
            failure_code=failure_code,
            failure_message=failure_message,
        )
        if not finished:
            return "unknown"
        if status == "succeeded":
            await record_invoice_payment(
                connection,
                tenant_id=tenant_id,
                invoice_id=attempt.invoice_id,
                paid_with="card",
                amount=attempt.amount,
                now=now,
                stripe_payment_intent_id=payment_intent_id,
            )
            return "paid"
        await record_failure(
            connection,
            tenant_id=tenant_id,
            attempt=attempt,
            policy=policy,
            now=now,
            failure_code=failure_code,
            failure_message=failure_message,
        )
        return "failed"

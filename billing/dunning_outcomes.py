"""What a failed charge does to its invoice and subscription: retry later, or the final action."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billing.dunning import CollectionPolicy, next_retry_at
from billing.outbox import record_event
from billing.payment_attempts import PaymentAttempt, count_failures
from kernel.db import Connection


async def record_failure(
    connection: Connection,
    *,
    tenant_id: int,
    attempt: PaymentAttempt,
    policy: CollectionPolicy,
    now: datetime,
    failure_code: str | None,
    failure_message: str | None,
) -> datetime | None:
    """Schedule the invoice's next charge (None after the last retry) and dun its subscription.

    In the caller's transaction: `invoice.payment_failed` always; the subscription
    becomes `past_due` (`subscription.past_due`) on the first failure, and is canceled
    (`subscription.canceled`) or left `unpaid` when the schedule is spent.
    """
    failures, first = await count_failures(
        connection, tenant_id=tenant_id, invoice_id=attempt.invoice_id
    )
    retry_at = next_retry_at(policy, first_failure_at=first or now, failures=failures)
    invoice = await connection.fetchrow(
        "UPDATE invoices SET next_payment_attempt_at = $3, updated_at = now() "
        "WHERE tenant_id = $1 AND id = $2 RETURNING id, customer_id, subscription_id",
        tenant_id,
        attempt.invoice_id,
        retry_at,
    )
    assert invoice is not None
    await record_event(
        connection,
        tenant_id=tenant_id,
        type="invoice.payment_failed",
        payload={
            "invoice": attempt.invoice_id,
            "customer": invoice["customer_id"],
            "subscription": invoice["subscription_id"],
            "attempt": attempt.attempt,
            "amount": attempt.amount,
            "currency": attempt.currency,
            "failure_code": failure_code,
            "failure_message": failure_message,
            "next_payment_attempt": retry_at.isoformat() if retry_at else None,
        },
    )
    if invoice["subscription_id"] is not None:
        await _dun(connection, tenant_id, invoice, policy, final=retry_at is None, now=now)
    return retry_at


async def _dun(
    connection: Connection,
    tenant_id: int,
    invoice: Any,
    policy: CollectionPolicy,
    *,
    final: bool,
    now: datetime,
) -> None:
    subscription_id = invoice["subscription_id"]
    if not final:
        moved = await connection.fetchval(
            "UPDATE subscriptions SET status = 'past_due', updated_at = now() "
            "WHERE tenant_id = $1 AND id = $2 AND status IN ('active', 'trialing') RETURNING id",
            tenant_id,
            subscription_id,
        )
        if moved:
            await _announce(connection, tenant_id, "subscription.past_due", invoice, now)
        return
    if policy.final_action == "unpaid":
        await connection.execute(
            "UPDATE subscriptions SET status = 'unpaid', updated_at = now() "
            "WHERE tenant_id = $1 AND id = $2 AND status <> 'canceled'",
            tenant_id,
            subscription_id,
        )
        return
    canceled = await connection.fetchval(
        "UPDATE subscriptions SET status = 'canceled', canceled_at = $3, "
        "cancel_at_period_end = false, updated_at = now() "
        "WHERE tenant_id = $1 AND id = $2 AND status <> 'canceled' RETURNING id",
        tenant_id,
        subscription_id,
        now,
    )
    if canceled:
        await _announce(connection, tenant_id, "subscription.canceled", invoice, now)


async def _announce(
    connection: Connection, tenant_id: int, type: str, invoice: Any, now: datetime
) -> None:
    payload = {
        "subscription": invoice["subscription_id"],
        "customer": invoice["customer_id"],
        "invoice": invoice["id"],
        "at": now.isoformat(),
    }
    if type == "subscription.canceled":
        payload["reason"] = "payment_failed"
    await record_event(connection, tenant_id=tenant_id, type=type, payload=payload)

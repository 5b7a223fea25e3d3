"""Settling charges whose outcome was never recorded (a process died between charge and record).

An attempt still `pending` once its lease has run out is looked up at the provider by
its idempotency key: a PaymentIntent found is recorded as if the charge had just
answered (so the invoice is paid without a second charge); none found means the call
never reached the provider, and the invoice is charged anew under a new attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from billing.collection import CHARGE_LEASE, ChargerFor, PolicyFor, apply_intent
from billing.payment_attempts import ATTEMPT_COLUMNS, PaymentAttempt, finish_attempt
from kernel.db import Db, transaction


@dataclass(frozen=True, kw_only=True)
class Reconciliation:
    tenant_id: int
    attempt: PaymentAttempt
    outcome: str  # paid, failed, unknown (still open at the provider), abandoned


async def reconcile_next(
    db: Db, *, now: datetime, policy_for: PolicyFor, charger_for: ChargerFor
) -> Reconciliation | None:
    """Settle one attempt left pending since before `now` minus the lease; None if none is."""
    async with transaction(db) as connection:
        # The row stays locked while the provider is asked: a twin replica skips it.
        row = await connection.fetchrow(
            f"SELECT tenant_id, {ATTEMPT_COLUMNS} FROM payment_attempts "
            "WHERE status = 'pending' AND started_at <= $1 "
            "ORDER BY started_at LIMIT 1 FOR UPDATE SKIP LOCKED",
            now - CHARGE_LEASE,
        )
        if row is None:
            return None
        tenant_id = row["tenant_id"]
        attempt = PaymentAttempt.from_row(row)
        charger = await charger_for(tenant_id)
        intent = None
        if charger is not None:
            intent = await charger.find_payment_intent(idempotency_key=attempt.idempotency_key)
        if intent is None:
            await _abandon(connection, tenant_id, attempt, now)
            return Reconciliation(tenant_id=tenant_id, attempt=attempt, outcome="abandoned")
        outcome = await apply_intent(
            connection,
            tenant_id=tenant_id,
            attempt=attempt,
            intent=intent,
            now=now,
            policy=await policy_for(tenant_id),
        )
        return Reconciliation(tenant_id=tenant_id, attempt=attempt, outcome=outcome)


async def _abandon(db: Db, tenant_id: int, attempt: PaymentAttempt, now: datetime) -> None:
    """The charge never happened: close the attempt and make the invoice due again now."""
    await finish_attempt(
        db, tenant_id=tenant_id, attempt_id=attempt.id, status="abandoned", now=now
    )
    await db.execute(
        "UPDATE invoices SET next_payment_attempt_at = $3 "
        "WHERE tenant_id = $1 AND id = $2 AND status = 'open'",
        tenant_id,
        attempt.invoice_id,
        now,
    )

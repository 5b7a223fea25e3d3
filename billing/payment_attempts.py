"""Payment attempts: each off-session charge of an invoice, recorded before the provider is called.

A row is written (status `pending`, with the idempotency key derived from the invoice
and the attempt's number) and committed before the charge, and finished with the
outcome after it. A process killed in between leaves the row pending: the collector
later finds the charge by its key and records what happened, never charging again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billing.pagination import fetch_page
from kernel.db import Db
from kernel.ids import new_id

ATTEMPT_COLUMNS = (
    "id, invoice_id, customer_id, attempt, amount, currency, status, idempotency_key, "
    "stripe_payment_intent_id, failure_code, failure_message, started_at, finished_at, "
    "created_at"
)
MAX_MESSAGE = 500


@dataclass(frozen=True, kw_only=True)
class PaymentAttempt:
    id: str
    invoice_id: str
    customer_id: str
    attempt: int
    amount: int
    currency: str
    status: str
    idempotency_key: str
    stripe_payment_intent_id: str | None
    failure_code: str | None
    failure_message: str | None
    started_at: datetime
    finished_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> PaymentAttempt:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


def attempt_key(invoice_id: str, attempt: int) -> str:
    """The provider idempotency key of an invoice's `attempt`-th charge (stable across replays)."""
    return f"invoice:{invoice_id}:attempt:{attempt}"


async def start_attempt(
    db: Db, *, tenant_id: int, invoice: Any, amount: int, now: datetime
) -> PaymentAttempt:
    """A pending attempt numbered after the invoice's earlier ones, in the caller's transaction."""
    number = await db.fetchval(
        "SELECT coalesce(max(attempt), 0) + 1 FROM payment_attempts "
        "WHERE tenant_id = $1 AND invoice_id = $2",
        tenant_id,
        invoice["id"],
    )
    row = await db.fetchrow(
        "INSERT INTO payment_attempts (id, tenant_id, invoice_id, customer_id, attempt, amount, "
        "currency, idempotency_key, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
        f"RETURNING {ATTEMPT_COLUMNS}",
        new_id("pa"),
        tenant_id,
        invoice["id"],
        invoice["customer_id"],
        number,
        amount,
        invoice["currency"],
        attempt_key(invoice["id"], number),
        now,
    )
    return PaymentAttempt.from_row(row)


async def finish_attempt(
    db: Db,
    *,
    tenant_id: int,
    attempt_id: str,
    status: str,
    now: datetime,
    payment_intent_id: str | None = None,
    failure_code: str | None = None,
    failure_message: str | None = None,
) -> bool:
    """Record a pending attempt's outcome; False when it was already recorded (by a twin)."""
    done = await db.fetchval(
        "UPDATE payment_attempts SET status = $3, finished_at = $4, "
        "stripe_payment_intent_id = coalesce($5, stripe_payment_intent_id), "
        "failure_code = $6, failure_message = $7 "
        "WHERE tenant_id = $1 AND id = $2 AND status = 'pending' RETURNING true",
        tenant_id,
        attempt_id,
        status,
        now,
        payment_intent_id,
        failure_code,
        failure_message[:MAX_MESSAGE] if failure_message else None,
    )
    return bool(done)


async def count_failures(db: Db, *, tenant_id: int, invoice_id: str) -> tuple[int, datetime | None]:
    """(failed charges of the invoice, when the first of them started)."""
    row = await db.fetchrow(
        "SELECT count(*) AS failures, min(started_at) AS first FROM payment_attempts "
        "WHERE tenant_id = $1 AND invoice_id = $2 AND status IN ('failed', 'requires_action')",
        tenant_id,
        invoice_id,
    )
    assert row is not None
    return int(row["failures"]), row["first"]


async def list_payment_attempts(
    db: Db,
    *,
    tenant_id: int,
    invoice_id: str | None = None,
    customer_id: str | None = None,
    limit: int = 20,
    starting_after: str | None = None,
) -> tuple[list[PaymentAttempt], bool]:
    """The tenant's payment attempts, newest first, optionally of one invoice or customer."""
    conditions: list[tuple[str, Any]] = []
    if invoice_id is not None:
        conditions.append(("invoice_id", invoice_id))
    if customer_id is not None:
        conditions.append(("customer_id", customer_id))
    rows, has_more = await fetch_page(
        db,
        table="payment_attempts",
        columns=ATTEMPT_COLUMNS,
        tenant_id=tenant_id,
        limit=limit,
        starting_after=starting_after,
        conditions=conditions,
    )
    return [PaymentAttempt.from_row(row) for row in rows], has_more

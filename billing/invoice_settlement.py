"""Recording a payment against an open invoice: the one "mark paid" step every payer shares.

Off-session collection, the wallet and (after merging) the portal's on-session payment
all come here, inside their own transaction, so an invoice is paid once, announced
once, and its subscription becomes active again the moment it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billing.errors import Conflict, NotFound
from billing.outbox import record_event
from kernel.db import Connection

# A subscription that was waiting for this money is live again once it is paid.
RECOVERABLE_STATUSES = ("past_due", "unpaid")


async def record_invoice_payment(
    connection: Connection,
    *,
    tenant_id: int,
    invoice_id: str,
    amount: int,
    now: datetime,
    stripe_payment_intent_id: str | None = None,
) -> bool:
    """Add `amount` (minor units) to what was paid on the open invoice; whether it is now paid.

    Runs in the caller's transaction and locks the invoice. Once paid in full the invoice
    is `paid` (at `now`), `invoice.paid` is recorded and a past-due or unpaid subscription
    of the invoice becomes active. Conflict when the invoice is not open or is overpaid.
    """
    row = await connection.fetchrow(
        "SELECT status, total, amount_paid, subscription_id, customer_id, currency FROM invoices "
        "WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        tenant_id,
        invoice_id,
    )
    if row is None:
        raise NotFound("invoice", invoice_id)
    if row["status"] != "open":
        raise Conflict(f"only an open invoice can be paid; this invoice is {row['status']}")
    paid = row["amount_paid"] + amount
    if amount < 0 or paid > row["total"]:
        raise Conflict("the payment exceeds what the invoice asks")
    if paid < row["total"]:
        await connection.execute(
            "UPDATE invoices SET amount_paid = $3, updated_at = now() "
            "WHERE tenant_id = $1 AND id = $2",
            tenant_id,
            invoice_id,
            paid,
        )
        return False
    await connection.execute(
        "UPDATE invoices SET status = 'paid', amount_paid = total, paid_at = $3, "
        "next_payment_attempt_at = NULL, "
        "stripe_payment_intent_id = coalesce($4, stripe_payment_intent_id), updated_at = now() "
        "WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        invoice_id,
        now,
        stripe_payment_intent_id,
    )
    await _announce_paid(connection, tenant_id, invoice_id, row, stripe_payment_intent_id)
    if row["subscription_id"] is not None:
        await _reactivate(connection, tenant_id, row["subscription_id"])
    return True


async def _announce_paid(
    connection: Connection, tenant_id: int, invoice_id: str, row: Any, intent_id: str | None
) -> None:
    await record_event(
        connection,
        tenant_id=tenant_id,
        type="invoice.paid",
        payload={
            "invoice": invoice_id,
            "customer": row["customer_id"],
            "subscription": row["subscription_id"],
            "amount_paid": row["total"],
            "currency": row["currency"],
            "payment_intent": intent_id,
        },
    )


async def _reactivate(connection: Connection, tenant_id: int, subscription_id: str) -> None:
    """A past-due or unpaid subscription with no other open invoice becomes active."""
    await connection.execute(
        "UPDATE subscriptions SET status = 'active', updated_at = now() "
        "WHERE tenant_id = $1 AND id = $2 AND status = ANY($3::text[]) AND NOT EXISTS ("
        "SELECT 1 FROM invoices WHERE tenant_id = $1 AND subscription_id = $2 "
        "AND status = 'open' AND next_payment_attempt_at IS NOT NULL)",
        tenant_id,
        subscription_id,
        list(RECOVERABLE_STATUSES),
    )

"""What a customer owes on subscriptions whose renewal was not paid: open invoices, next retry.

A subscription is `past_due` while the dunning schedule still retries its invoice
and `unpaid` once it gave up (the tenant's final action); in both cases the
customer can pay the open invoice themselves. The portal shows these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kernel.db import Db

OWING_STATUSES = ("past_due", "unpaid")


@dataclass(frozen=True, kw_only=True)
class OverdueInvoice:
    """An open invoice of a past-due (or unpaid) subscription, with what is left to pay."""

    subscription_id: str
    invoice_id: str
    number: str
    amount_due: int
    currency: str
    # When the dunning schedule charges the card again; None when no retry is planned.
    next_payment_attempt_at: datetime | None


async def overdue_invoices(db: Db, *, tenant_id: int, customer_id: str) -> list[OverdueInvoice]:
    """The customer's open subscription invoices of past-due or unpaid subscriptions, oldest
    first (one query, whatever the number of subscriptions)."""
    rows = await db.fetch(
        "SELECT i.subscription_id, i.id, i.number, i.total - i.amount_paid AS amount_due, "
        "i.currency, i.next_payment_attempt_at FROM invoices i "
        "JOIN subscriptions s ON s.tenant_id = i.tenant_id AND s.id = i.subscription_id "
        "WHERE i.tenant_id = $1 AND i.customer_id = $2 AND i.status = 'open' "
        "AND i.total > i.amount_paid AND s.status = ANY($3::text[]) "
        "ORDER BY i.created_at, i.id",
        tenant_id,
        customer_id,
        list(OWING_STATUSES),
    )
    return [
        OverdueInvoice(
            subscription_id=row["subscription_id"],
            invoice_id=row["id"],
            number=row["number"] or "",
            amount_due=row["amount_due"],
            currency=row["currency"],
            next_payment_attempt_at=row["next_payment_attempt_at"],
        )
        for row in rows
    ]

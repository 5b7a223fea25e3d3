"""Renewing subscriptions at period end: one period, one invoice, one transaction per step.

`renew_next_due` claims one subscription whose period is over at `now` (`FOR UPDATE
SKIP LOCKED`, so replicas never renew the same one at once) and, in that transaction,
either ends it (cancel at period end) or moves it one period on, counted from its
anchor, with a finalised invoice for the new period whose collection is due at once.
A subscription several periods behind is still due afterwards: the next call renews
the next period, each with its own invoice (unique per subscription and period start).
Trials end the same way: the first paid period starts at the trial's end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billing.invoices import create_invoice, finalize_invoice
from billing.outbox import record_event
from billing.periods import next_period_end
from billing.subscription_items import ITEM_COLUMNS, SubscriptionItem, item_from_row
from kernel.db import Connection, Db, transaction

# Subscriptions that renew; `unpaid` and `paused` ones wait, `canceled` ones are over.
RENEWING_STATUSES = ("trialing", "active", "past_due")
CLAIM_COLUMNS = (
    "id, tenant_id, customer_id, status, currency, plan_name, current_period_start, "
    "current_period_end, trial_end, billing_anchor, cancel_at_period_end"
)


@dataclass(frozen=True, kw_only=True)
class Renewal:
    """What one renewal step did: `renewed` (with its invoice) or `canceled`."""

    tenant_id: int
    subscription_id: str
    outcome: str
    period_start: datetime
    period_end: datetime
    invoice_id: str | None = None


async def renew_next_due(db: Db, *, now: datetime) -> Renewal | None:
    """Renew or end one subscription whose period ended at or before `now`; None if none is due.

    Works across tenants (the job serves them all); every statement after the claim
    carries the claimed row's tenant.
    """
    async with transaction(db) as connection:
        row = await connection.fetchrow(
            f"SELECT {CLAIM_COLUMNS} FROM subscriptions "
            "WHERE status = ANY($1::text[]) AND current_period_end <= $2 "
            "ORDER BY current_period_end LIMIT 1 FOR UPDATE SKIP LOCKED",
            list(RENEWING_STATUSES),
            now,
        )
        if row is None:
            return None
        if row["cancel_at_period_end"]:
            return await _end(connection, row)
        return await _renew(connection, row, now)


async def _end(connection: Connection, row: Any) -> Renewal:
    """Cancel at period end: the subscription ends when its period does."""
    await connection.execute(
        "UPDATE subscriptions SET status = 'canceled', canceled_at = current_period_end, "
        "updated_at = now() WHERE tenant_id = $1 AND id = $2",
        row["tenant_id"],
        row["id"],
    )
    await record_event(
        connection,
        tenant_id=row["tenant_id"],
        type="subscription.canceled",
        payload={
            "subscription": row["id"],
            "customer": row["customer_id"],
            "canceled_at": row["current_period_end"].isoformat(),
            "reason": "cancel_at_period_end",
        },
    )
    return Renewal(
        tenant_id=row["tenant_id"],
        subscription_id=row["id"],
        outcome="canceled",
        period_start=row["current_period_start"],
        period_end=row["current_period_end"],
    )


def anchor_of(row: Any) -> datetime:
    """Where periods are counted from: set at the first renewal, else the trial's end or start."""
    anchor: datetime = row["billing_anchor"] or row["trial_end"] or row["current_period_start"]
    return anchor


async def _items(connection: Connection, tenant_id: int, subscription_id: str) -> list[Any]:
    rows = await connection.fetch(
        f"SELECT {ITEM_COLUMNS} FROM subscription_items "
        "WHERE tenant_id = $1 AND subscription_id = $2 ORDER BY position",
        tenant_id,
        subscription_id,
    )
    return [item_from_row(item_row) for item_row in rows]


def invoice_lines(items: list[SubscriptionItem]) -> list[dict[str, Any]]:
    """One invoice line per item, taxed per line at the item's rate (as checkout bills)."""
    return [
        {
            "description": item.name,
            "quantity": 1 if item.price_model == "flat" else item.quantity,
            "unit_amount": item.unit_amount,
            "tax_rate_bps": item.tax_rate_bps,
        }
        for item in items
    ]


async def _renew(connection: Connection, row: Any, now: datetime) -> Renewal:
    tenant_id, subscription_id = row["tenant_id"], row["id"]
    items = await _items(connection, tenant_id, subscription_id)
    anchor = anchor_of(row)
    start = row["current_period_end"]
    first = items[0]
    end = next_period_end(anchor, first.billing_interval, first.interval_count, after=start)
    invoice_id = await _period_invoice(connection, row, items, start, end, now)
    await connection.execute(
        "UPDATE subscriptions SET current_period_start = $3, current_period_end = $4, "
        "billing_anchor = $5, "
        "status = CASE WHEN status = 'trialing' THEN 'active' ELSE status END, "
        "updated_at = now() WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        subscription_id,
        start,
        end,
        anchor,
    )
    await record_event(
        connection,
        tenant_id=tenant_id,
        type="subscription.renewed",
        payload={
            "subscription": subscription_id,
            "customer": row["customer_id"],
            "current_period_start": start.isoformat(),
            "current_period_end": end.isoformat(),
            "invoice": invoice_id,
            "trial_ended": row["status"] == "trialing",
        },
    )
    return Renewal(
        tenant_id=tenant_id,
        subscription_id=subscription_id,
        outcome="renewed",
        period_start=start,
        period_end=end,
        invoice_id=invoice_id,
    )


async def _period_invoice(
    connection: Connection,
    row: Any,
    items: list[SubscriptionItem],
    start: datetime,
    end: datetime,
    now: datetime,
) -> str:
    """The finalised invoice of the period [start, end), its collection due at `now`."""
    tenant_id = row["tenant_id"]
    draft = await create_invoice(
        connection,
        tenant_id=tenant_id,
        kind="subscription",
        subscription_id=row["id"],
        data={
            "customer": row["customer_id"],
            "currency": row["currency"],
            "lines": invoice_lines(items),
            "due_at": start,
        },
    )
    await connection.execute(
        "UPDATE invoices SET period_start = $3, period_end = $4, next_payment_attempt_at = $5 "
        "WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        draft.id,
        start,
        end,
        now,
    )
    await connection.execute(
        "UPDATE invoice_lines SET period_start = $3, period_end = $4 "
        "WHERE tenant_id = $1 AND invoice_id = $2",
        tenant_id,
        draft.id,
        start,
        end,
    )
    invoice = await finalize_invoice(connection, tenant_id=tenant_id, invoice_id=draft.id)
    await record_event(
        connection,
        tenant_id=tenant_id,
        type="invoice.created",
        payload={
            "invoice": invoice.id,
            "number": invoice.number,
            "customer": invoice.customer_id,
            "subscription": row["id"],
            "total": invoice.total,
            "currency": invoice.currency,
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
        },
    )
    return invoice.id

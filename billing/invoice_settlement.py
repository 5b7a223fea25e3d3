"""Recording a payment against an open invoice: the one "mark paid" step every payer shares.

Every path that collects an invoice ends here, inside its caller's transaction: the
portal's pay button and its 3-D Secure completion, Stripe's webhook, the wallet, and
the renewal engine's off-session collection (which may pay part from the wallet and
the rest by card). The invoice row is locked, so twins wait and then see it paid: a
repeat by the same PaymentIntent is acknowledged, a second payment is refused. Once
paid in full the invoice is `paid` with its date and method, `invoice.paid` is written
once (billing/outbox.py), and a past-due or unpaid subscription of the invoice is
active again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from billing.errors import Conflict, NotFound
from billing.outbox import record_event
from kernel import clock
from kernel.db import Connection, Db, transaction
from kernel.ids import is_public_id

PaidWith = Literal["card", "wallet", "other"]
# A subscription that was waiting for this money is live again once it is paid.
RECOVERABLE_STATUSES = ("past_due", "unpaid")


@dataclass(frozen=True, kw_only=True)
class InvoicePaid:
    """How an invoice was paid; `detail` is what the customer reads ("visa 4242")."""

    invoice_id: str
    paid_at: datetime | None
    paid_with: str | None
    detail: str | None
    stripe_payment_intent_id: str | None
    # False when this payment had already been recorded (a replay); nothing changed then.
    recorded_now: bool
    # Whether the invoice is now paid in full (a part payment leaves it open).
    settled: bool = True


async def record_invoice_payment(
    db: Db,
    *,
    tenant_id: int,
    invoice_id: str,
    paid_with: PaidWith = "card",
    amount: int | None = None,
    detail: str | None = None,
    stripe_payment_intent_id: str | None = None,
    now: datetime | None = None,
) -> InvoicePaid:
    """Add `amount` (minor units; default: what is still due) to the open invoice's payments.

    Paid in full, the invoice is `paid` at `now` with `paid_with`/`detail`, once. The same
    PaymentIntent recorded again returns the first record (`recorded_now` False).
    Conflict when the invoice is void, a draft, overpaid, or paid by another payment.
    """
    moment = now or clock.utc_now()
    async with transaction(db) as connection:
        row = await _locked_invoice(connection, tenant_id, invoice_id)
        if row["status"] == "paid":
            if stripe_payment_intent_id is None or (
                row["stripe_payment_intent_id"] != stripe_payment_intent_id
            ):
                raise Conflict("this invoice is already paid", field="invoice")
            return _paid(invoice_id, row)
        if row["status"] != "open":
            raise Conflict(f"only an open invoice can be paid; this invoice is {row['status']}")
        due = row["total"] - row["amount_paid"]
        amount = due if amount is None else amount
        if amount < 0 or amount > due:
            raise Conflict("the payment exceeds what the invoice asks")
        if amount < due:
            await _record_part(connection, tenant_id, invoice_id, row["amount_paid"] + amount)
            return _open(invoice_id, paid_with, detail, stripe_payment_intent_id)
        await _mark_paid(
            connection, tenant_id, invoice_id, moment, paid_with, detail, stripe_payment_intent_id
        )
        await record_event(
            connection,
            tenant_id=tenant_id,
            type="invoice.paid",
            payload=_event_payload(row, moment, paid_with, stripe_payment_intent_id),
        )
        if row["subscription_id"] is not None:
            await _reactivate(connection, tenant_id, row["subscription_id"])
    return InvoicePaid(
        invoice_id=invoice_id,
        paid_at=moment,
        paid_with=paid_with,
        detail=detail,
        stripe_payment_intent_id=stripe_payment_intent_id,
        recorded_now=True,
    )


async def _locked_invoice(connection: Connection, tenant_id: int, invoice_id: str) -> Any:
    """The invoice's row, locked until the transaction ends; NotFound for another tenant's."""
    row = None
    if is_public_id(invoice_id, "in"):
        row = await connection.fetchrow(
            "SELECT id, customer_id, subscription_id, number, status, total, amount_paid, "
            "currency, paid_at, paid_with, paid_with_detail, stripe_payment_intent_id "
            "FROM invoices WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            tenant_id,
            invoice_id,
        )
    if row is None:
        raise NotFound("invoice", invoice_id)
    return row


async def _record_part(
    connection: Connection, tenant_id: int, invoice_id: str, amount_paid: int
) -> None:
    await connection.execute(
        "UPDATE invoices SET amount_paid = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        invoice_id,
        amount_paid,
    )


async def _mark_paid(
    connection: Connection,
    tenant_id: int,
    invoice_id: str,
    moment: datetime,
    paid_with: str,
    detail: str | None,
    intent_id: str | None,
) -> None:
    await connection.execute(
        "UPDATE invoices SET status = 'paid', paid_at = $3, amount_paid = total, "
        "next_payment_attempt_at = NULL, "
        "stripe_payment_intent_id = coalesce($4, stripe_payment_intent_id), "
        "paid_with = $5, paid_with_detail = $6, updated_at = now() "
        "WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        invoice_id,
        moment,
        intent_id,
        paid_with,
        detail,
    )


async def _reactivate(connection: Connection, tenant_id: int, subscription_id: str) -> None:
    """A past-due or unpaid subscription with no other open invoice in dunning is active."""
    await connection.execute(
        "UPDATE subscriptions SET status = 'active', updated_at = now() "
        "WHERE tenant_id = $1 AND id = $2 AND status = ANY($3::text[]) AND NOT EXISTS ("
        "SELECT 1 FROM invoices WHERE tenant_id = $1 AND subscription_id = $2 "
        "AND status = 'open' AND next_payment_attempt_at IS NOT NULL)",
        tenant_id,
        subscription_id,
        list(RECOVERABLE_STATUSES),
    )


def _event_payload(
    row: Any, moment: datetime, paid_with: str, stripe_payment_intent_id: str | None
) -> dict[str, Any]:
    """What `invoice.paid` tells the tenant (ids, integers, strings, an ISO timestamp)."""
    return {
        "invoice": row["id"],
        "number": row["number"],
        "customer": row["customer_id"],
        "subscription": row["subscription_id"],
        "amount": row["total"],
        "amount_paid": row["total"],
        "currency": row["currency"],
        "paid_at": moment.isoformat(),
        "paid_with": paid_with,
        "payment_intent": stripe_payment_intent_id,
    }


async def invoice_payment(db: Db, *, tenant_id: int, invoice_id: str) -> InvoicePaid | None:
    """How the tenant's invoice was paid; None while it is not paid."""
    row = await db.fetchrow(
        "SELECT paid_at, paid_with, paid_with_detail, stripe_payment_intent_id FROM invoices "
        "WHERE tenant_id = $1 AND id = $2 AND status = 'paid'",
        tenant_id,
        invoice_id,
    )
    return None if row is None else _paid(invoice_id, row)


def _paid(invoice_id: str, row: Any) -> InvoicePaid:
    """How a paid invoice's row says it was paid (nothing recorded now)."""
    return InvoicePaid(
        invoice_id=invoice_id,
        paid_at=row["paid_at"],
        paid_with=row["paid_with"],
        detail=row["paid_with_detail"],
        stripe_payment_intent_id=row["stripe_payment_intent_id"],
        recorded_now=False,
    )


def _open(
    invoice_id: str, paid_with: str, detail: str | None, intent_id: str | None
) -> InvoicePaid:
    """A part payment recorded now: the invoice stays open for the rest."""
    return InvoicePaid(
        invoice_id=invoice_id,
        paid_at=None,
        paid_with=paid_with,
        detail=detail,
        stripe_payment_intent_id=intent_id,
        recorded_now=True,
        settled=False,
    )

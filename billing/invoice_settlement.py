"""Marking an open invoice paid, once: the date, how it was paid, and `invoice.paid` to the tenant.

Every path that collects an invoice (the portal's pay button, its 3-D Secure
completion, Stripe's webhook, the renewal engine) ends here. The invoice row is
locked, so twins wait and then see it paid: a repeat by the same payment is
acknowledged, a second payment is refused, and the event is written once, in the
caller's transaction (billing/outbox.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from billing.errors import Conflict, NotFound
from billing.outbox import record_event
from kernel import clock
from kernel.db import Db, transaction
from kernel.ids import is_public_id

PaidWith = Literal["card", "wallet", "other"]


@dataclass(frozen=True, kw_only=True)
class InvoicePaid:
    """How an invoice was paid; `detail` is what the customer reads ("visa 4242")."""

    invoice_id: str
    paid_at: datetime
    paid_with: str | None
    detail: str | None
    stripe_payment_intent_id: str | None
    # False when this payment had already been recorded (a replay); nothing changed then.
    recorded_now: bool


async def record_invoice_payment(
    db: Db,
    *,
    tenant_id: int,
    invoice_id: str,
    paid_with: PaidWith,
    detail: str | None = None,
    stripe_payment_intent_id: str | None = None,
    now: datetime | None = None,
) -> InvoicePaid:
    """open -> paid at `now` in full, with an `invoice.paid` event, once.

    The same PaymentIntent recorded again returns the first record (`recorded_now`
    False). Conflict when the invoice is void, a draft, or paid by another payment.
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
        await connection.execute(
            "UPDATE invoices SET status = 'paid', paid_at = $3, amount_paid = total, "
            "stripe_payment_intent_id = coalesce($4, stripe_payment_intent_id), "
            "paid_with = $5, paid_with_detail = $6, updated_at = now() "
            "WHERE tenant_id = $1 AND id = $2",
            tenant_id,
            invoice_id,
            moment,
            stripe_payment_intent_id,
            paid_with,
            detail,
        )
        await record_event(
            connection,
            tenant_id=tenant_id,
            type="invoice.paid",
            payload=_event_payload(row, moment, paid_with, stripe_payment_intent_id),
        )
    return InvoicePaid(
        invoice_id=invoice_id,
        paid_at=moment,
        paid_with=paid_with,
        detail=detail,
        stripe_payment_intent_id=stripe_payment_intent_id,
        recorded_now=True,
    )


async def _locked_invoice(connection: Any, tenant_id: int, invoice_id: str) -> Any:
    """The invoice's row, locked until the transaction ends; NotFound for another tenant's."""
    row = None
    if is_public_id(invoice_id, "in"):
        row = await connection.fetchrow(
            "SELECT id, customer_id, number, status, total, currency, paid_at, paid_with, "
            "paid_with_detail, stripe_payment_intent_id FROM invoices "
            "WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            tenant_id,
            invoice_id,
        )
    if row is None:
        raise NotFound("invoice", invoice_id)
    return row


def _event_payload(
    row: Any, moment: datetime, paid_with: str, stripe_payment_intent_id: str | None
) -> dict[str, Any]:
    """What `invoice.paid` tells the tenant (ids, integers, strings, an ISO timestamp)."""
    return {
        "invoice": row["id"],
        "number": row["number"],
        "customer": row["customer_id"],
        "amount": row["total"],
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

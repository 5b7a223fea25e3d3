"""Paying an open invoice from the portal with a saved card: one charge per form nonce.

The pay form carries a server-issued nonce. The first submission inserts the
`invoice_payments` row keyed by that nonce before Stripe is called; a partial
unique index allows one attempt under way or done per invoice, so ten concurrent
submissions, a refresh or a second tab make one charge even where the provider
ignores idempotency keys (localstripe does). The key derived from the nonce is
still sent for real Stripe. The customer is on the page, so the charge is
on-session: 3-D Secure comes back `requires_action` for Stripe.js to finish in
the page, then the page (or Stripe's webhook, whichever comes first) settles the
attempt from the PaymentIntent's real state (billing/invoice_settlement.py).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from billing.errors import Conflict, InvalidInput
from billing.invoice_payment_attempts import (
    METADATA_KEY,
    PAYMENT_COLUMNS,
    InvoicePaymentOutcome,
    apply_payment_intent,
    customer_open_invoice,
    live_row,
    payment_outcome,
    row_by_nonce,
)
from billing.invoices import Invoice
from billing.payment_methods import PAYMENT_METHOD_COLUMNS, PaymentMethod
from billing.payment_methods_service import default_card, ensure_stripe_customer
from billing.stripe_gateway import PaymentFailed, Payments
from billing.topups import NONCE, new_nonce
from kernel.db import Db, transaction

__all__ = ["new_nonce", "pay_invoice"]

# How long a duplicate submission waits for the first one to reach Stripe and back.
DUPLICATE_WAIT_SECONDS = 20.0


async def _card(
    db: Db, *, tenant_id: int, customer_id: str, payment_method_id: str | None
) -> PaymentMethod:
    """The saved card to charge: the one named, else the default; InvalidInput without one."""
    if not payment_method_id:
        card = await default_card(db, tenant_id=tenant_id, customer_id=customer_id)
    else:
        row = await db.fetchrow(
            f"SELECT {PAYMENT_METHOD_COLUMNS} FROM payment_methods WHERE tenant_id = $1 "
            "AND customer_id = $2 AND id = $3 AND status = 'active'",
            tenant_id,
            customer_id,
            payment_method_id,
        )
        card = None if row is None else PaymentMethod.from_row(row)
    if card is None or card.stripe_payment_method_id is None:
        raise InvalidInput({"payment_method": "add a card to pay this invoice"})
    return card


async def _reserve(
    db: Db, *, tenant_id: int, invoice: Invoice, card: PaymentMethod, nonce: str
) -> Any:
    """The attempt's row, inserted while the invoice is open; None if a twin holds one."""
    async with transaction(db) as connection:
        status = await connection.fetchval(
            "SELECT status FROM invoices WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            tenant_id,
            invoice.id,
        )
        if status != "open":
            return None
        return await connection.fetchrow(
            "INSERT INTO invoice_payments (nonce, tenant_id, invoice_id, amount, currency, "
            "method, source_id) VALUES ($1, $2, $3, $4, $5, 'card', $6) "
            f"ON CONFLICT DO NOTHING RETURNING {PAYMENT_COLUMNS}",
            nonce,
            tenant_id,
            invoice.id,
            invoice.amount_due,
            invoice.currency,
            card.id,
        )


async def pay_invoice(
    db: Db,
    payments: Payments,
    *,
    tenant_id: int,
    customer_id: str,
    invoice_id: str,
    nonce: str,
    payment_method_id: str | None = None,
    now: datetime | None = None,
) -> InvoicePaymentOutcome:
    """Charge a saved card (the default unless one is named) the amount due, once.

    A nonce already used returns that attempt's outcome, and a submission while
    another attempt is under way or done joins it: neither charges again.
    Conflict when the invoice is not open (paid or void) and no attempt of it is live.
    """
    if not isinstance(nonce, str) or not NONCE.match(nonce):
        raise InvalidInput({"nonce": "the form is out of date; reload the page and try again"})
    invoice = await customer_open_invoice(
        db, tenant_id=tenant_id, customer_id=customer_id, invoice_id=invoice_id
    )
    existing = await row_by_nonce(db, tenant_id, nonce)
    if existing is None and invoice.status != "open":
        existing = await live_row(db, tenant_id, invoice.id)
        if existing is None:
            raise Conflict(f"only an open invoice can be paid; this invoice is {invoice.status}")
    if existing is not None:
        return await _replay(db, payments, tenant_id=tenant_id, invoice_id=invoice.id, row=existing)
    card = await _card(
        db, tenant_id=tenant_id, customer_id=customer_id, payment_method_id=payment_method_id
    )
    inserted = await _reserve(db, tenant_id=tenant_id, invoice=invoice, card=card, nonce=nonce)
    if inserted is None:
        # A twin inserted first (this nonce, or another attempt of the invoice).
        row = await row_by_nonce(db, tenant_id, nonce) or await live_row(db, tenant_id, invoice.id)
        if row is None:
            raise Conflict("this invoice can no longer be paid; reload the page", field="invoice")
        return await _replay(db, payments, tenant_id=tenant_id, invoice_id=invoice.id, row=row)
    return await _charge(
        db, payments, tenant_id=tenant_id, invoice=invoice, card=card, row=inserted, now=now
    )


async def _charge(
    db: Db,
    payments: Payments,
    *,
    tenant_id: int,
    invoice: Invoice,
    card: PaymentMethod,
    row: Any,
    now: datetime | None,
) -> InvoicePaymentOutcome:
    """Charge `card` on-session for the reserved attempt `row`, and record what Stripe said."""
    nonce = row["nonce"]
    stripe_customer = await ensure_stripe_customer(
        db, payments, tenant_id=tenant_id, customer_id=card.customer_id
    )
    assert card.stripe_payment_method_id is not None  # checked by _card
    try:
        intent = await payments.charge_on_session(
            customer_id=stripe_customer,
            payment_method_id=card.stripe_payment_method_id,
            amount=row["amount"],
            currency=row["currency"],
            idempotency_key=f"invoice-payment:{nonce}",
            metadata={
                METADATA_KEY: nonce,
                "invoice": invoice.id,
                "invoice_number": invoice.number or "",
                "tenant_id": str(tenant_id),
            },
        )
    except PaymentFailed as error:
        failed = await _mark_failed(
            db,
            tenant_id=tenant_id,
            nonce=nonce,
            code=error.code,
            message=error.message,
            payment_intent_id=error.payment_intent_id,
        )
        return await payment_outcome(db, tenant_id, failed)
    return await apply_payment_intent(db, tenant_id=tenant_id, nonce=nonce, intent=intent, now=now)


async def _replay(
    db: Db, payments: Payments, *, tenant_id: int, invoice_id: str, row: Any
) -> InvoicePaymentOutcome:
    if row["invoice_id"] != invoice_id:
        raise Conflict("this form was already used; reload the page", field="nonce")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DUPLICATE_WAIT_SECONDS
    while row["status"] == "processing" and loop.time() < deadline:
        await asyncio.sleep(0.1)
        row = await row_by_nonce(db, tenant_id, row["nonce"])
    client_secret = None
    if row["status"] == "requires_action" and row["stripe_payment_intent_id"]:
        intent = await payments.retrieve_payment_intent(row["stripe_payment_intent_id"])
        client_secret = intent.client_secret
    return await payment_outcome(db, tenant_id, row, client_secret)


async def _mark_failed(
    db: Db,
    *,
    tenant_id: int,
    nonce: str,
    code: str | None,
    message: str,
    payment_intent_id: str | None,
) -> Any:
    return await db.fetchrow(
        "UPDATE invoice_payments SET status = 'failed', failure_code = $3, "
        "failure_message = $4, stripe_payment_intent_id = coalesce(stripe_payment_intent_id, $5), "
        "updated_at = now() WHERE tenant_id = $1 AND nonce = $2 AND status <> 'succeeded' "
        f"RETURNING {PAYMENT_COLUMNS}",
        tenant_id,
        nonce,
        code,
        message[:500],
        payment_intent_id,
    ) or await row_by_nonce(db, tenant_id, nonce)

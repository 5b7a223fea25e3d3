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
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billing.errors import Conflict, InvalidInput, NotFound
from billing.invoice_settlement import record_invoice_payment
from billing.invoices import Invoice, get_invoice
from billing.payment_methods import PAYMENT_METHOD_COLUMNS, PaymentMethod
from billing.payment_methods_service import default_card, ensure_stripe_customer
from billing.stripe_gateway import PaymentFailed, PaymentIntentState, Payments
from billing.topups import NONCE, new_nonce
from kernel.db import Db, transaction

__all__ = [
    "INVOICE_CLOSED",
    "PAYMENT_COLUMNS",
    "InvoicePaymentOutcome",
    "complete_invoice_payment",
    "customer_open_invoice",
    "new_nonce",
    "pay_invoice",
    "payment_attempt",
    "payment_outcome",
    "settle_invoice_from_webhook",
]

PAYMENT_COLUMNS = (
    "nonce, invoice_id, amount, currency, method, source_id, status, "
    "stripe_payment_intent_id, failure_code, failure_message"
)
LIVE_STATUSES = ("processing", "requires_action", "succeeded")
# How long a duplicate submission waits for the first one to reach Stripe and back.
DUPLICATE_WAIT_SECONDS = 20.0
logger = logging.getLogger(__name__)
# Stripe took the money but the invoice was voided or paid otherwise meanwhile.
INVOICE_CLOSED = "invoice_closed"
# The PaymentIntent's metadata key that leads the webhook back to the attempt.
METADATA_KEY = "invoice_payment_nonce"


@dataclass(frozen=True, kw_only=True)
class InvoicePaymentOutcome:
    """Where one attempt stands: processing, requires_action, succeeded or failed.

    `client_secret` is set for requires_action (the page runs 3-D Secure with it);
    `failure_code` is Stripe's code for a refusal, `failure_message` its words.
    """

    nonce: str
    invoice_id: str
    amount: int
    currency: str
    status: str
    payment_intent_id: str | None
    client_secret: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    paid_at: datetime | None = None


async def _row_by_nonce(db: Db, tenant_id: int, nonce: str) -> Any:
    return await db.fetchrow(
        f"SELECT {PAYMENT_COLUMNS} FROM invoice_payments WHERE tenant_id = $1 AND nonce = $2",
        tenant_id,
        nonce,
    )


async def _live_row(db: Db, tenant_id: int, invoice_id: str) -> Any:
    return await db.fetchrow(
        f"SELECT {PAYMENT_COLUMNS} FROM invoice_payments WHERE tenant_id = $1 "
        "AND invoice_id = $2 AND status = ANY($3::text[])",
        tenant_id,
        invoice_id,
        list(LIVE_STATUSES),
    )


async def payment_outcome(
    db: Db, tenant_id: int, row: Any, client_secret: str | None = None
) -> InvoicePaymentOutcome:
    paid_at = None
    if row["status"] == "succeeded":
        paid_at = await db.fetchval(
            "SELECT paid_at FROM invoices WHERE tenant_id = $1 AND id = $2",
            tenant_id,
            row["invoice_id"],
        )
    return InvoicePaymentOutcome(
        nonce=row["nonce"],
        invoice_id=row["invoice_id"],
        amount=row["amount"],
        currency=row["currency"],
        status=row["status"],
        payment_intent_id=row["stripe_payment_intent_id"],
        client_secret=client_secret if row["status"] == "requires_action" else None,
        failure_code=row["failure_code"],
        failure_message=row["failure_message"],
        paid_at=paid_at,
    )


async def customer_open_invoice(
    db: Db, *, tenant_id: int, customer_id: str, invoice_id: str
) -> Invoice:
    """The customer's invoice (NotFound for anyone else's or a draft)."""
    invoice = await get_invoice(db, tenant_id=tenant_id, invoice_id=invoice_id)
    if invoice.customer_id != customer_id or invoice.status == "draft":
        raise NotFound("invoice", invoice_id)
    return invoice


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
    existing = await _row_by_nonce(db, tenant_id, nonce)
    if existing is None and invoice.status != "open":
        existing = await _live_row(db, tenant_id, invoice.id)
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
        row = await _row_by_nonce(db, tenant_id, nonce) or await _live_row(
            db, tenant_id, invoice.id
        )
        if row is None:
            raise Conflict("this invoice can no longer be paid; reload the page", field="invoice")
        return await _replay(db, payments, tenant_id=tenant_id, invoice_id=invoice.id, row=row)
    stripe_customer = await ensure_stripe_customer(
        db, payments, tenant_id=tenant_id, customer_id=customer_id
    )
    assert card.stripe_payment_method_id is not None  # checked by _card
    try:
        intent = await payments.charge_on_session(
            customer_id=stripe_customer,
            payment_method_id=card.stripe_payment_method_id,
            amount=inserted["amount"],
            currency=inserted["currency"],
            idempotency_key=f"invoice-payment:{nonce}",
            metadata={
                METADATA_KEY: nonce,
                "invoice": invoice.id,
                "invoice_number": invoice.number or "",
                "tenant_id": str(tenant_id),
            },
        )
    except PaymentFailed as error:
        row = await _mark_failed(
            db,
            tenant_id=tenant_id,
            nonce=nonce,
            code=error.code,
            message=error.message,
            payment_intent_id=error.payment_intent_id,
        )
        return await payment_outcome(db, tenant_id, row)
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
        row = await _row_by_nonce(db, tenant_id, row["nonce"])
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
    ) or await _row_by_nonce(db, tenant_id, nonce)


def _card_detail(row: Any) -> str:
    return str(row["brand"]) + " " + str(row["last4"])


async def apply_payment_intent(
    db: Db, *, tenant_id: int, nonce: str, intent: PaymentIntentState, now: datetime | None = None
) -> InvoicePaymentOutcome:
    """Record what Stripe says about the attempt's PaymentIntent; mark the invoice paid once."""
    async with transaction(db) as connection:
        row = await connection.fetchrow(
            f"SELECT {PAYMENT_COLUMNS} FROM invoice_payments WHERE tenant_id = $1 AND nonce = $2 "
            "FOR UPDATE",
            tenant_id,
            nonce,
        )
        if row is None:
            raise NotFound("invoice payment", nonce)
        if row["stripe_payment_intent_id"] not in (None, intent.id):
            raise Conflict("this invoice was paid by another payment", field="payment_intent")
        if intent.amount != row["amount"] or intent.currency != row["currency"]:
            raise Conflict("the payment does not match the invoice", field="payment_intent")
        if row["status"] == "succeeded":
            return await payment_outcome(connection, tenant_id, row)
        status, code, message = "processing", None, None
        if intent.status == "succeeded":
            card = await connection.fetchrow(
                "SELECT brand, last4 FROM payment_methods WHERE tenant_id = $1 AND id = $2",
                tenant_id,
                row["source_id"],
            )
            try:
                await record_invoice_payment(
                    connection,
                    tenant_id=tenant_id,
                    invoice_id=row["invoice_id"],
                    paid_with="card",
                    detail=_card_detail(card) if card is not None else None,
                    stripe_payment_intent_id=intent.id,
                    now=now,
                )
                status = "succeeded"
            except Conflict:
                # Voided (or paid another way) while the bank was asked: keep the invoice
                # as it is and say so; the payment is to be refunded, never applied twice.
                logger.error(
                    "payment %s succeeded for invoice %s, which is no longer open: refund it",
                    intent.id,
                    row["invoice_id"],
                )
                status, code = "failed", INVOICE_CLOSED
                message = "The invoice was closed while it was being paid."
        elif intent.status == "requires_action":
            status = "requires_action"
        elif intent.status in ("requires_payment_method", "canceled"):
            status = "failed"
            code = "payment_intent_authentication_failure"
            message = intent.failure_message or "The payment was not completed."
        row = await connection.fetchrow(
            "UPDATE invoice_payments SET status = $3, stripe_payment_intent_id = $4, "
            "failure_code = $5, failure_message = $6, updated_at = now() "
            f"WHERE tenant_id = $1 AND nonce = $2 RETURNING {PAYMENT_COLUMNS}",
            tenant_id,
            nonce,
            status,
            intent.id,
            code,
            message[:500] if message else None,
        )
        return await payment_outcome(connection, tenant_id, row, intent.client_secret)


async def complete_invoice_payment(
    db: Db,
    payments: Payments,
    *,
    tenant_id: int,
    customer_id: str,
    invoice_id: str,
    nonce: str,
    now: datetime | None = None,
) -> InvoicePaymentOutcome:
    """After 3-D Secure in the page: ask Stripe how the PaymentIntent ended and settle it."""
    await customer_open_invoice(
        db, tenant_id=tenant_id, customer_id=customer_id, invoice_id=invoice_id
    )
    row = await _row_by_nonce(db, tenant_id, nonce) if isinstance(nonce, str) else None
    if row is None or row["invoice_id"] != invoice_id:
        raise NotFound("invoice payment", str(nonce))
    if row["stripe_payment_intent_id"] is None or row["status"] in ("succeeded", "failed"):
        return await payment_outcome(db, tenant_id, row)
    intent = await payments.retrieve_payment_intent(row["stripe_payment_intent_id"])
    return await apply_payment_intent(db, tenant_id=tenant_id, nonce=nonce, intent=intent, now=now)


async def settle_invoice_from_webhook(
    db: Db, *, tenant_id: int, intent: PaymentIntentState
) -> bool:
    """Settle the invoice payment a succeeded PaymentIntent made; False when it is none here."""
    nonce = intent.metadata.get(METADATA_KEY)
    if nonce is None:
        nonce = await db.fetchval(
            "SELECT nonce FROM invoice_payments "
            "WHERE tenant_id = $1 AND stripe_payment_intent_id = $2",
            tenant_id,
            intent.id,
        )
    if nonce is None or await _row_by_nonce(db, tenant_id, nonce) is None:
        return False
    await apply_payment_intent(db, tenant_id=tenant_id, nonce=nonce, intent=intent)
    return True


async def payment_attempt(
    db: Db, payments: Payments, *, tenant_id: int, invoice_id: str, nonce: str
) -> InvoicePaymentOutcome | None:
    """The outcome of the invoice's attempt `nonce` (with its 3-D Secure secret); None if none."""
    if not NONCE.match(nonce):
        return None
    row = await _row_by_nonce(db, tenant_id, nonce)
    if row is None or row["invoice_id"] != invoice_id:
        return None
    client_secret = None
    if row["status"] == "requires_action" and row["stripe_payment_intent_id"]:
        intent = await payments.retrieve_payment_intent(row["stripe_payment_intent_id"])
        client_secret = intent.client_secret
    return await payment_outcome(db, tenant_id, row, client_secret)

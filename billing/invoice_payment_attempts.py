"""Attempts to pay an invoice by card: their rows, outcomes and settlement from Stripe's word.

An attempt is settled from the PaymentIntent's real state under the attempt's row
lock, whether the page, its 3-D Secure completion or Stripe's webhook gets there
first; a succeeded PaymentIntent marks the invoice paid once
(billing/invoice_settlement.py). Starting an attempt is billing/invoice_payments.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billing.errors import Conflict, NotFound
from billing.invoice_settlement import record_invoice_payment
from billing.invoices import Invoice, get_invoice
from billing.stripe_gateway import PaymentIntentState, Payments
from billing.topups import NONCE
from kernel.db import Db, transaction

logger = logging.getLogger(__name__)

PAYMENT_COLUMNS = (
    "nonce, invoice_id, amount, currency, method, source_id, status, "
    "stripe_payment_intent_id, failure_code, failure_message"
)
LIVE_STATUSES = ("processing", "requires_action", "succeeded")
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


async def row_by_nonce(db: Db, tenant_id: int, nonce: str) -> Any:
    return await db.fetchrow(
        f"SELECT {PAYMENT_COLUMNS} FROM invoice_payments WHERE tenant_id = $1 AND nonce = $2",
        tenant_id,
        nonce,
    )


async def live_row(db: Db, tenant_id: int, invoice_id: str) -> Any:
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


def _card_detail(row: Any) -> str:
    return str(row["brand"]) + " " + str(row["last4"])


async def _settle(
    connection: Any, tenant_id: int, row: Any, intent: PaymentIntentState, now: datetime | None
) -> tuple[str, str | None, str | None]:
    """Mark the invoice paid by `intent`; the attempt's (status, failure code, message)."""
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
    except Conflict:
        # Voided (or paid another way) while the bank was asked: keep the invoice as it
        # is and say so; the payment is to be refunded, never applied twice.
        logger.error(
            "payment %s succeeded for invoice %s, which is no longer open: refund it",
            intent.id,
            row["invoice_id"],
        )
        return "failed", INVOICE_CLOSED, "The invoice was closed while it was being paid."
    return "succeeded", None, None


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
            status, code, message = await _settle(connection, tenant_id, row, intent, now)
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
    row = await row_by_nonce(db, tenant_id, nonce) if isinstance(nonce, str) else None
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
    if nonce is None or await row_by_nonce(db, tenant_id, nonce) is None:
        return False
    await apply_payment_intent(db, tenant_id=tenant_id, nonce=nonce, intent=intent)
    return True


async def payment_attempt(
    db: Db, payments: Payments, *, tenant_id: int, invoice_id: str, nonce: str
) -> InvoicePaymentOutcome | None:
    """The outcome of the invoice's attempt `nonce` (with its 3-D Secure secret); None if none."""
    if not NONCE.match(nonce):
        return None
    row = await row_by_nonce(db, tenant_id, nonce)
    if row is None or row["invoice_id"] != invoice_id:
        return None
    client_secret = None
    if row["status"] == "requires_action" and row["stripe_payment_intent_id"]:
        intent = await payments.retrieve_payment_intent(row["stripe_payment_intent_id"])
        client_secret = intent.client_secret
    return await payment_outcome(db, tenant_id, row, client_secret)

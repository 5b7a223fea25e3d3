"""Card payments of an invoice the tenant voided meanwhile: canceled, or refunded in full, once.

A tenant may void an open invoice while its customer is being asked by the bank to
confirm a payment (3-D Secure). Voiding then cancels the attempt's PaymentIntent
while Stripe still allows it (`cancel_voided_attempts`), so nothing is charged. One
that succeeded anyway (the customer confirmed first, or Stripe could not be reached
when the invoice was voided) is recorded as `invoice_closed` by the settlement and
refunded here (`refund_closed_payment`): under the attempt's row lock the refunds
Stripe already holds for the PaymentIntent are checked first (localstripe ignores
idempotency keys), and the refund carries the attempt's nonce, so the page, the
webhook and a retry refund it once between them.
"""

from __future__ import annotations

import logging

from billing.invoice_payment_attempts import (
    INVOICE_CLOSED,
    METADATA_KEY,
    apply_payment_intent,
    row_by_nonce,
)
from billing.stripe_gateway import PaymentFailed
from billing.stripe_refunds import PaymentRefunds
from kernel.db import Db, transaction

logger = logging.getLogger(__name__)

# The failure code of an attempt whose PaymentIntent was canceled because the invoice was voided.
INVOICE_VOIDED = "invoice_voided"
REFUNDED_MESSAGE = "The invoice was closed while it was being paid; the payment was refunded."
WAITING_STATUSES = ("requires_action", "processing")


async def refund_closed_payment(
    db: Db, refunds: PaymentRefunds, *, tenant_id: int, nonce: str
) -> bool:
    """Refund the attempt's payment if it succeeded for a closed invoice; whether it was one."""
    row = await row_by_nonce(db, tenant_id, nonce)
    if row is None or row["failure_code"] != INVOICE_CLOSED:
        return False
    intent_id = row["stripe_payment_intent_id"]
    if intent_id is None:
        return False
    async with transaction(db) as connection:
        await connection.execute(
            "SELECT 1 FROM invoice_payments WHERE tenant_id = $1 AND nonce = $2 FOR UPDATE",
            tenant_id,
            nonce,
        )
        if not await refunds.refunds_of(intent_id):
            await refunds.refund_payment_intent(
                intent_id,
                idempotency_key=f"invoice-payment-refund-{nonce}",
                metadata={METADATA_KEY: nonce, "invoice": row["invoice_id"]},
            )
            logger.info("refunded payment %s of closed invoice %s", intent_id, row["invoice_id"])
        await connection.execute(
            "UPDATE invoice_payments SET failure_message = $3, updated_at = now() "
            "WHERE tenant_id = $1 AND nonce = $2",
            tenant_id,
            nonce,
            REFUNDED_MESSAGE,
        )
    return True


async def cancel_voided_attempts(
    db: Db, refunds: PaymentRefunds, *, tenant_id: int, invoice_id: str
) -> int:
    """Cancel the voided invoice's card payments still waiting for the bank; how many there were.

    A PaymentIntent Stripe will not cancel any more has succeeded: it is recorded
    as paying a closed invoice and refunded.
    """
    rows = await db.fetch(
        "SELECT nonce, stripe_payment_intent_id FROM invoice_payments WHERE tenant_id = $1 "
        "AND invoice_id = $2 AND status = ANY($3::text[]) AND stripe_payment_intent_id IS NOT NULL",
        tenant_id,
        invoice_id,
        list(WAITING_STATUSES),
    )
    for row in rows:
        nonce, intent_id = row["nonce"], row["stripe_payment_intent_id"]
        try:
            await refunds.cancel_payment_intent(intent_id)
        except PaymentFailed:
            # Paid meanwhile: settle it as paying a closed invoice, then refund it.
            intent = await refunds.retrieve_payment_intent(intent_id)
            await apply_payment_intent(db, tenant_id=tenant_id, nonce=nonce, intent=intent)
            await refund_closed_payment(db, refunds, tenant_id=tenant_id, nonce=nonce)
            continue
        await db.execute(
            "UPDATE invoice_payments SET status = 'failed', failure_code = $3, "
            "failure_message = $4, updated_at = now() "
            "WHERE tenant_id = $1 AND nonce = $2 AND status = ANY($5::text[])",
            tenant_id,
            nonce,
            INVOICE_VOIDED,
            "The invoice was voided before the payment was confirmed.",
            list(WAITING_STATUSES),
        )
    return len(rows)


async def refund_closed_intent(
    db: Db, refunds: PaymentRefunds, *, tenant_id: int, payment_intent_id: str
) -> bool:
    """`refund_closed_payment` for the attempt Stripe's webhook names by its PaymentIntent."""
    nonce = await db.fetchval(
        "SELECT nonce FROM invoice_payments WHERE tenant_id = $1 AND stripe_payment_intent_id = $2",
        tenant_id,
        payment_intent_id,
    )
    if nonce is None:
        return False
    return await refund_closed_payment(db, refunds, tenant_id=tenant_id, nonce=nonce)

"""PaymentIntents of a checkout session other than the one that paid it: canceled or refunded.

A session has at most one PaymentIntent that may still be paid. Should another
one of the same session still succeed once the session is complete (a stale
tab's return after 3-D Secure, or Stripe's `payment_intent.succeeded`), it is
refunded in full, once: the refunds Stripe already holds for it are checked
under the session lock first, the refund carries the session in its metadata,
and a warning is logged.
"""

from __future__ import annotations

import logging

from billing.checkout_sessions import CheckoutSession
from billing.stripe_gateway import PaymentFailed
from billing.stripe_refunds import CANCELABLE_STATUSES, PaymentRefunds

logger = logging.getLogger(__name__)


async def undo_stray_intent(
    refunds: PaymentRefunds,
    *,
    session: CheckoutSession,
    kept_intent_id: str | None,
    stray_intent_id: str,
    quiet: bool = False,
) -> str | None:
    """Cancel, or refund in full, a PaymentIntent of this complete session other than the kept one.

    Call it under the session lock: the lock and the check of Stripe's existing
    refunds make the refund happen once (localstripe ignores idempotency keys).
    An intent of another session (its metadata says so) is left alone. Returns
    the refund id when one was made. `quiet`: a Stripe failure is logged instead
    of raised (the page's return path must still land on the success URL; the
    webhook, which Stripe retries, raises).
    """
    if stray_intent_id == kept_intent_id:
        return None
    try:
        return await _cancel_or_refund(
            refunds, session=session, kept_intent_id=kept_intent_id, stray_intent_id=stray_intent_id
        )
    except PaymentFailed as error:
        if not quiet:
            raise
        logger.error(
            "could not settle a second payment intent %s of checkout session %s: %s",
            stray_intent_id,
            session.id,
            error.message,
        )
        return None


async def _cancel_or_refund(
    refunds: PaymentRefunds,
    *,
    session: CheckoutSession,
    kept_intent_id: str | None,
    stray_intent_id: str,
) -> str | None:
    intent = await refunds.retrieve_payment_intent(stray_intent_id)
    if intent.metadata.get("checkout_session") != session.id:
        return None
    if intent.status in CANCELABLE_STATUSES:
        await refunds.cancel_payment_intent(intent.id)
        logger.info(
            "canceled a payment intent left open by checkout session %s: %s",
            session.id,
            intent.id,
        )
        return None
    if intent.status != "succeeded" or await refunds.refunds_of(intent.id):
        return None
    refund = await refunds.refund_payment_intent(
        intent.id,
        idempotency_key=f"checkout-duplicate:{intent.id}",
        metadata={
            "checkout_session": session.id,
            "reason": "checkout_already_paid",
            "kept_payment_intent": kept_intent_id or "",
        },
    )
    logger.warning(
        "refunded %s %s: payment intent %s paid checkout session %s a second time "
        "(kept payment intent %s); refund %s",
        intent.amount,
        intent.currency,
        intent.id,
        session.id,
        kept_intent_id,
        refund.id,
    )
    return refund.id

"""Completing a checkout session exactly once: one charge, one subscription, one paid invoice.

Every completion path (the page's submit, its retry after 3-D Secure, a double
click, a refresh, Stripe's webhook) takes the session row lock
(`SELECT ... FOR UPDATE`) before it charges and keeps it until the outcome is
committed, so the second of two racing requests waits and then sees the first
one's result instead of charging again. A charge in flight is remembered on the
session (`stripe_payment_intent_id`, unique): a later attempt asks Stripe how
that PaymentIntent ended before it would ever create another. Real Stripe also
gets an idempotency key per session and card; localstripe ignores it, which is
why the lock, not the key, is what stops a second charge.

On success, in one transaction, the session is settled
(billing/checkout_settlement.py: card, subscription, paid invoice, events). A
declined card leaves the session open. The billing form before the payment is
billing/checkout_billing_info.py.

Exactly once also holds for money across tabs. A session has at most one
PaymentIntent that may still be paid: before another card is charged, the
earlier intent (say, a stale tab's, waiting for 3-D Secure) is canceled, and
if Stripe refuses because it was paid meanwhile, that payment completes the
session instead. Should a PaymentIntent of this session still succeed once the
session is complete, it is refunded in full, once
(billing/checkout_stray_intents.py). It never makes a second subscription or
invoice.
"""

from __future__ import annotations

import logging
from typing import Any

from billing.checkout_sessions import CheckoutSession, get_checkout_session
from billing.checkout_settlement import (
    CheckoutClosed,
    CheckoutOutcome,
    locked_session,
    settle_session,
    succeeded,
)
from billing.checkout_stray_intents import undo_stray_intent
from billing.errors import InvalidInput, NotFound
from billing.payment_methods_service import ensure_stripe_customer
from billing.stripe_gateway import (
    CardDetails,
    PaymentFailed,
    PaymentIntentState,
    Payments,
    SetupIntentState,
)
from billing.stripe_refunds import CANCELABLE_STATUSES, PaymentRefunds
from kernel.db import Db, transaction

logger = logging.getLogger(__name__)

# PaymentIntent states after which the same PaymentIntent can still end up paid.
PENDING_INTENT_STATUSES = frozenset({"processing", "requires_capture"})


async def start_checkout_card_setup(
    db: Db, payments: Payments, *, tenant_id: int, session_id: str
) -> SetupIntentState:
    """A SetupIntent for the page's Stripe.js to save the card on; nothing is charged yet."""
    session = await _open_session_with_customer(db, tenant_id=tenant_id, session_id=session_id)
    assert session.customer_id is not None
    stripe_customer = await ensure_stripe_customer(
        db, payments, tenant_id=tenant_id, customer_id=session.customer_id
    )
    return await payments.create_setup_intent(customer_id=stripe_customer)


async def _open_session_with_customer(
    db: Db, *, tenant_id: int, session_id: str
) -> CheckoutSession:
    session = await get_checkout_session(db, tenant_id=tenant_id, session_id=session_id)
    if session.status == "expired":
        raise CheckoutClosed()
    if session.customer_id is None:
        raise InvalidInput({"name": "fill in your billing information first"})
    return session


async def _card_from_setup_intent(
    payments: Payments, *, stripe_customer: str, setup_intent_id: Any
) -> CardDetails:
    """The card a succeeded SetupIntent of this customer saved, attached to the customer."""
    if not isinstance(setup_intent_id, str) or not setup_intent_id.startswith("seti_"):
        raise InvalidInput({"card": "enter your card details"})
    intent = await payments.retrieve_setup_intent(setup_intent_id)
    if intent.customer_id != stripe_customer:
        raise NotFound("setup intent", setup_intent_id)
    if intent.status != "succeeded" or intent.payment_method_id is None:
        raise InvalidInput({"card": "the card was not saved: it was declined or not authenticated"})
    # Stripe.js may leave the card unattached; attaching again is harmless.
    return await payments.attach_payment_method(
        payment_method_id=intent.payment_method_id, customer_id=stripe_customer
    )


async def complete_checkout(
    db: Db,
    payments: Payments,
    *,
    tenant_id: int,
    session_id: str,
    setup_intent_id: str | None,
    payment_intent_id: str | None = None,
    refunds: PaymentRefunds | None = None,
) -> CheckoutOutcome:
    """Pay the session with the card of `setup_intent_id`, once, whoever asks how often.

    Called again after 3-D Secure (with the same SetupIntent, and the
    `payment_intent_id` the page authenticated), it settles the PaymentIntent
    already created instead of charging anew. A completed session returns
    `succeeded` without any charge; if the page's `payment_intent_id` paid it a
    second time, that payment is refunded. With `refunds`, an earlier intent is
    canceled before another card is charged (without, it is only forgotten).
    CheckoutClosed when it expired unpaid.
    """
    session = await get_checkout_session(db, tenant_id=tenant_id, session_id=session_id)
    if session.status == "complete":
        if payment_intent_id and refunds is not None:
            async with transaction(db) as connection:
                row, session = await locked_session(connection, tenant_id, session_id)
                await _refund_if_stray(refunds, row, session, payment_intent_id)
        return succeeded(session)
    session = await _open_session_with_customer(db, tenant_id=tenant_id, session_id=session_id)
    assert session.customer_id is not None
    stripe_customer = await ensure_stripe_customer(
        db, payments, tenant_id=tenant_id, customer_id=session.customer_id
    )
    card = None
    if setup_intent_id:
        card = await _card_from_setup_intent(
            payments, stripe_customer=stripe_customer, setup_intent_id=setup_intent_id
        )
    async with transaction(db) as connection:
        # The lock is held through the Stripe call: a twin request waits here, then
        # finds the session complete (or the PaymentIntent recorded) and charges nothing.
        return await _pay_locked(
            connection,
            payments,
            tenant_id=tenant_id,
            session_id=session_id,
            stripe_customer=stripe_customer,
            card=card,
            payment_intent_id=payment_intent_id,
            refunds=refunds,
        )


async def _pay_locked(
    connection: Any,
    payments: Payments,
    *,
    tenant_id: int,
    session_id: str,
    stripe_customer: str,
    card: CardDetails | None,
    payment_intent_id: str | None,
    refunds: PaymentRefunds | None,
) -> CheckoutOutcome:
    """Under the session's row lock: the outcome already there, or one charge of `card`."""
    row, session = await locked_session(connection, tenant_id, session_id)
    if session.status == "complete":
        if payment_intent_id and refunds is not None:
            await _refund_if_stray(refunds, row, session, payment_intent_id)
        return succeeded(session)
    stored = row["stripe_payment_intent_id"]
    if stored is not None:
        intent = await payments.retrieve_payment_intent(stored)
        reused = await _continue_intent(
            connection, session, intent, card, tenant_id, refunds=refunds
        )
        if reused is not None:
            return reused
    if session.status != "open" or row["lapsed"]:
        raise CheckoutClosed()
    if card is None:
        raise InvalidInput({"card": "enter your card details"})
    if session.amount_total == 0:  # a free trial: the card is saved, nothing is charged
        return await settle_session(
            connection, tenant_id=tenant_id, session=session, intent=None, card=card
        )
    return await _charge(connection, payments, tenant_id, session, stripe_customer, card)


async def _refund_if_stray(
    refunds: PaymentRefunds, row: Any, session: CheckoutSession, payment_intent_id: str
) -> None:
    """The page came back with an intent of a session already complete: undo it unless kept."""
    await undo_stray_intent(
        refunds,
        session=session,
        kept_intent_id=row["stripe_payment_intent_id"],
        stray_intent_id=payment_intent_id,
        quiet=True,
    )


async def _charge(
    connection: Any,
    payments: Payments,
    tenant_id: int,
    session: CheckoutSession,
    stripe_customer: str,
    card: CardDetails,
) -> CheckoutOutcome:
    """Charge `card` the session's total now, under the caller's session lock."""
    try:
        # The customer is on the page: a bank that wants 3-D Secure answers
        # requires_action for Stripe.js (off-session, real Stripe would refuse).
        intent = await payments.charge_on_session(
            customer_id=stripe_customer,
            payment_method_id=card.payment_method_id,
            amount=session.amount_total,
            currency=session.currency,
            idempotency_key=f"checkout:{session.id}:{card.payment_method_id}",
            metadata={
                "checkout_session": session.id,
                "payment_method": card.payment_method_id,
                "tenant_id": str(tenant_id),
            },
        )
    except PaymentFailed as error:
        return CheckoutOutcome(
            session_id=session.id,
            status="failed",
            message=error.message,
            payment_intent_id=error.payment_intent_id,
            failure_code=error.code,
        )
    return await _apply_new_intent(connection, tenant_id, session, intent, card)


async def _continue_intent(
    connection: Any,
    session: CheckoutSession,
    intent: PaymentIntentState,
    card: CardDetails | None,
    tenant_id: int,
    *,
    refunds: PaymentRefunds | None = None,
) -> CheckoutOutcome | None:
    """The outcome of the session's earlier PaymentIntent, or None when a new charge may start."""
    if intent.status == "succeeded":
        return await settle_session(
            connection, tenant_id=tenant_id, session=session, intent=intent, card=card
        )
    if intent.status in PENDING_INTENT_STATUSES:
        return CheckoutOutcome(
            session_id=session.id,
            status="processing",
            message="Your payment is being processed.",
            payment_intent_id=intent.id,
        )
    same_card = card is None or intent.metadata.get("payment_method") == card.payment_method_id
    if intent.status == "requires_action" and same_card:
        return CheckoutOutcome(
            session_id=session.id,
            status="requires_action",
            message="Your bank asks you to confirm this payment.",
            client_secret=intent.client_secret,
            payment_intent_id=intent.id,
        )
    # Declined, canceled, or abandoned for another card: forget it and charge afresh. A
    # stale tab may still be authenticating it, so cancel it first: it must not succeed
    # after another card has paid.
    if refunds is not None and intent.status in CANCELABLE_STATUSES:
        try:
            await refunds.cancel_payment_intent(intent.id)
        except PaymentFailed:
            latest = await refunds.retrieve_payment_intent(intent.id)
            if latest.status == "succeeded" or latest.status in PENDING_INTENT_STATUSES:
                # Paid (or being paid) meanwhile: that payment completes the session.
                return await _continue_intent(connection, session, latest, None, tenant_id)
            if latest.status != "canceled":
                return CheckoutOutcome(
                    session_id=session.id,
                    status="failed",
                    message="Your earlier payment attempt could not be stopped yet. "
                    "Nothing more was charged; please try again.",
                    payment_intent_id=intent.id,
                )
    await connection.execute(
        "UPDATE checkout_sessions SET stripe_payment_intent_id = NULL, updated_at = now() "
        "WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        session.id,
    )
    return None


async def _apply_new_intent(
    connection: Any,
    tenant_id: int,
    session: CheckoutSession,
    intent: PaymentIntentState,
    card: CardDetails,
) -> CheckoutOutcome:
    if intent.status in ("requires_payment_method", "canceled"):
        return CheckoutOutcome(
            session_id=session.id,
            status="failed",
            message=intent.failure_message or "Your card was declined. Nothing was charged.",
            payment_intent_id=intent.id,
        )
    await connection.execute(
        "UPDATE checkout_sessions SET stripe_payment_intent_id = $3, updated_at = now() "
        "WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        session.id,
        intent.id,
    )
    outcome = await _continue_intent(connection, session, intent, card, tenant_id)
    assert outcome is not None
    return outcome


async def settle_checkout_from_webhook(
    connection: Db,
    *,
    tenant_id: int,
    intent: PaymentIntentState,
    refunds: PaymentRefunds | None = None,
) -> bool:
    """Complete the session a succeeded PaymentIntent paid (the page may never come back).

    Runs in the webhook's transaction; False when the intent belongs to no checkout
    session of this tenant. The card stays as Stripe has it: the webhook carries no
    card details, so it is not added to the customer's saved cards here. With
    `refunds`: an intent that pays an already complete session is refunded, and
    the session's other open intent is canceled when this one completes it.
    Without, such an intent is only logged as needing a refund.
    """
    session_id = intent.metadata.get("checkout_session")
    if session_id is None:
        session_id = await connection.fetchval(
            "SELECT id FROM checkout_sessions "
            "WHERE tenant_id = $1 AND stripe_payment_intent_id = $2",
            tenant_id,
            intent.id,
        )
    if session_id is None:
        return False
    try:
        row, session = await locked_session(connection, tenant_id, session_id)
    except NotFound:
        return False
    if intent.status != "succeeded":
        return True
    stored = row["stripe_payment_intent_id"]
    if session.status == "complete":
        if refunds is not None:
            await undo_stray_intent(
                refunds, session=session, kept_intent_id=stored, stray_intent_id=intent.id
            )
        elif intent.id != stored and intent.metadata.get("checkout_session") == session.id:
            logger.error(
                "payment intent %s paid complete checkout session %s a second time: "
                "refund it (no Stripe client was given to refund it here)",
                intent.id,
                session.id,
            )
        return True
    await settle_session(connection, tenant_id=tenant_id, session=session, intent=intent, card=None)
    if stored is not None and stored != intent.id and refunds is not None:
        # Another tab's intent may still be waiting for 3-D Secure: it must not pay too.
        await undo_stray_intent(
            refunds, session=session, kept_intent_id=intent.id, stray_intent_id=stored
        )
    return True

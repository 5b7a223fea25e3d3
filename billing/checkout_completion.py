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

On success, in one transaction: the card saved as the customer's default, the
subscription (active, or trialing with `trial_days`) for recurring items, a paid
`checkout` invoice (the first period of recurring items, plus one-off items),
the session complete, and the outbox events `checkout.completed` and
`payment_method.updated`. A declined card leaves the session open.

Exactly once also holds for money across tabs. A session has at most one
PaymentIntent that may still be paid: before another card is charged, the
earlier intent (say, a stale tab's, waiting for 3-D Secure) is canceled, and
if Stripe refuses because it was paid meanwhile, that payment completes the
session instead. Should a PaymentIntent of this session still succeed once the
session is complete (a tab's return after 3-D Secure, or Stripe's
`payment_intent.succeeded`), it is refunded in full, once: the refunds Stripe
already holds for it are checked under the session lock first, the refund
carries the session in its metadata, and a warning is logged. It never makes a
second subscription or invoice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from billing.checkout_sessions import SESSION_COLUMNS, CheckoutSession, get_checkout_session
from billing.customers import (
    Customer,
    billing_info_payload,
    create_customer,
    get_customer,
    update_billing_info,
)
from billing.errors import Conflict, InvalidInput, NotFound
from billing.invoices import create_invoice, finalize_invoice, mark_paid
from billing.outbox import record_event
from billing.payment_methods import PAYMENT_METHOD_COLUMNS, add_card
from billing.payment_methods_service import ensure_stripe_customer
from billing.periods import add_interval
from billing.stripe_gateway import (
    CardDetails,
    PaymentFailed,
    PaymentIntentState,
    Payments,
    SetupIntentState,
)
from billing.stripe_refunds import CANCELABLE_STATUSES, PaymentRefunds
from billing.subscriptions import create_subscription
from kernel import clock
from kernel.db import Db, transaction

logger = logging.getLogger(__name__)

SESSION_ID_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"
# PaymentIntent states after which the same PaymentIntent can still end up paid.
PENDING_INTENT_STATUSES = frozenset({"processing", "requires_capture"})
BILLING_FIELDS = frozenset({"name", "email", "address", "vat_number"})


class CheckoutClosed(Conflict):
    """The session can no longer be paid (it expired); nothing was charged."""

    def __init__(
        self, message: str = "This checkout link has expired. Nothing was charged."
    ) -> None:
        super().__init__(message, field="checkout_session")


@dataclass(frozen=True, kw_only=True)
class CheckoutOutcome:
    """Where a completion attempt stands.

    `status` is `succeeded` (go to `redirect_url`), `requires_action` (run 3-D
    Secure with `client_secret`, then complete again), `processing` (the bank
    has not answered yet; complete again later) or `failed` (`message` says why;
    the session stays open and another card may be tried).
    """

    session_id: str
    status: str
    message: str
    redirect_url: str | None = None
    client_secret: str | None = None
    payment_intent_id: str | None = None


def success_redirect(session: CheckoutSession) -> str:
    """The tenant's success_url with `{CHECKOUT_SESSION_ID}` replaced by the session id."""
    return session.success_url.replace(SESSION_ID_PLACEHOLDER, session.id)


def _succeeded(session: CheckoutSession) -> CheckoutOutcome:
    return CheckoutOutcome(
        session_id=session.id,
        status="succeeded",
        message="Payment complete. Thank you!",
        redirect_url=success_redirect(session),
    )


async def _locked_session(connection: Any, tenant_id: int, session_id: str) -> tuple[Any, Any]:
    """(session, stored PaymentIntent id) under the row lock; NotFound for another tenant's."""
    row = await connection.fetchrow(
        f"SELECT {SESSION_COLUMNS}, stripe_payment_intent_id, expires_at <= $3 AS lapsed "
        "FROM checkout_sessions WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        tenant_id,
        session_id,
        clock.utc_now(),  # the clock that set expires_at judges it (kernel/clock.py)
    )
    if row is None:
        raise NotFound("checkout session", session_id)
    return row, CheckoutSession.from_row(row)


def _billing_input(billing: Mapping[str, Any]) -> dict[str, Any]:
    unknown = [name for name in billing if name not in BILLING_FIELDS]
    if unknown:
        raise InvalidInput(dict.fromkeys(unknown, "unknown field"))
    email = billing.get("email")
    if not isinstance(email, str) or not email.strip():
        # A receipt must reach someone: checkout asks for an address even where the API does not.
        errors = {"email": "enter your email address"}
        name = billing.get("name")
        if not isinstance(name, str) or not name.strip():
            errors["name"] = "is required"
        raise InvalidInput(errors)
    return dict(billing)


async def save_billing_information(
    db: Db, *, tenant_id: int, session_id: str, billing: Mapping[str, Any]
) -> Customer:
    """Check the billing form and store it: a new customer is created once, a known one updated.

    `billing` uses the customers API's shape (`name`, `email`, `address`
    {line1, line2, city, postal_code, state, country}, `vat_number`); every
    field error is reported at once (InvalidInput) and nothing is stored then.
    CheckoutClosed once the session is no longer open.
    """
    data = _billing_input(billing)
    async with transaction(db) as connection:
        row, session = await _locked_session(connection, tenant_id, session_id)
        if session.status == "complete":
            raise Conflict("This checkout is already paid.", field="checkout_session")
        if session.status != "open" or row["lapsed"]:
            raise CheckoutClosed()
        if session.customer_id is None:
            details = session.customer_details or {}
            customer = await create_customer(
                connection,
                tenant_id=tenant_id,
                default_currency=session.currency,
                data={
                    **data,
                    "currency": session.currency,
                    "language": details.get("language", "en"),
                },
            )
            await connection.execute(
                "UPDATE checkout_sessions SET customer_id = $3, updated_at = now() "
                "WHERE tenant_id = $1 AND id = $2",
                tenant_id,
                session.id,
                customer.id,
            )
            return customer
        before = await get_customer(
            connection, tenant_id=tenant_id, customer_id=session.customer_id
        )
        after = await update_billing_info(
            connection, tenant_id=tenant_id, customer_id=session.customer_id, changes=data
        )
        # One payload shape for every source of the event (portal, checkout).
        if billing_info_payload(before) != billing_info_payload(after):
            await record_event(
                connection,
                tenant_id=tenant_id,
                type="customer.billing_info.updated",
                payload=billing_info_payload(after),
            )
        return after


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
                row, session = await _locked_session(connection, tenant_id, session_id)
                await _undo_stray_intent(
                    refunds,
                    session=session,
                    kept_intent_id=row["stripe_payment_intent_id"],
                    stray_intent_id=payment_intent_id,
                    quiet=True,
                )
        return _succeeded(session)
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
        row, session = await _locked_session(connection, tenant_id, session_id)
        if session.status == "complete":
            if payment_intent_id and refunds is not None:
                await _undo_stray_intent(
                    refunds,
                    session=session,
                    kept_intent_id=row["stripe_payment_intent_id"],
                    stray_intent_id=payment_intent_id,
                    quiet=True,
                )
            return _succeeded(session)
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
            return await _settle(
                connection, tenant_id=tenant_id, session=session, intent=None, card=card
            )
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
        return await _settle(
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


async def _save_default_card(
    connection: Any, *, tenant_id: int, customer_id: str, card: CardDetails
) -> str:
    existing = await connection.fetchrow(
        f"SELECT {PAYMENT_METHOD_COLUMNS} FROM payment_methods WHERE tenant_id = $1 "
        "AND customer_id = $2 AND stripe_payment_method_id = $3 AND status = 'active'",
        tenant_id,
        customer_id,
        card.payment_method_id,
    )
    if existing is not None and existing["is_default"]:
        return str(existing["id"])
    if existing is not None:
        await connection.execute(
            "UPDATE payment_methods SET is_default = false "
            "WHERE tenant_id = $1 AND customer_id = $2 AND is_default",
            tenant_id,
            customer_id,
        )
        await connection.execute(
            "UPDATE payment_methods SET is_default = true WHERE tenant_id = $1 AND id = $2",
            tenant_id,
            existing["id"],
        )
        method_id = str(existing["id"])
    else:
        saved = await add_card(
            connection,
            tenant_id=tenant_id,
            customer_id=customer_id,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            stripe_payment_method_id=card.payment_method_id,
            make_default=True,
        )
        method_id = saved.id
    await record_event(
        connection,
        tenant_id=tenant_id,
        type="payment_method.updated",
        payload={
            "customer": customer_id,
            "payment_method": method_id,
            "brand": card.brand,
            "last4": card.last4,
            "is_default": True,
        },
    )
    return method_id


async def _settle(
    connection: Any,
    *,
    tenant_id: int,
    session: CheckoutSession,
    intent: PaymentIntentState | None,
    card: CardDetails | None,
) -> CheckoutOutcome:
    """Everything a paid session produces, in the caller's transaction (which holds the lock)."""
    assert session.customer_id is not None
    if intent is not None and (
        intent.amount != session.amount_total or intent.currency != session.currency
    ):
        raise Conflict("the payment does not match the checkout session", field="payment_intent")
    customer_id = session.customer_id
    if card is not None:
        await _save_default_card(
            connection, tenant_id=tenant_id, customer_id=customer_id, card=card
        )
    recurring = [item for item in session.line_items if item.interval is not None]
    subscription = None
    if recurring:
        subscription = await create_subscription(
            connection,
            tenant_id=tenant_id,
            data={
                "customer": customer_id,
                "plan_name": " + ".join(item.name for item in recurring)[:200],
                "currency": session.currency,
                "items": [
                    {
                        "name": item.name,
                        "unit_amount": item.unit_amount,
                        "quantity": item.quantity,
                        "interval": item.interval,
                        "interval_count": item.interval_count,
                        "tax_rate_bps": item.tax_rate_bps,
                    }
                    for item in recurring
                ],
                "trial_days": session.trial_days,
                "metadata": {"checkout_session": session.id},
            },
        )
    trial = session.trial_days is not None
    lines: list[dict[str, Any]] = []
    recurring_positions: list[int] = []
    for item in session.line_items:
        if item.interval is not None:
            recurring_positions.append(len(lines))
        free = trial and item.interval is not None
        lines.append(
            {
                "description": f"{item.name} (free trial)" if free else item.name,
                "quantity": item.quantity,
                "unit_amount": 0 if free else item.unit_amount,
                "tax_rate_bps": item.tax_rate_bps,
            }
        )
    invoice = await create_invoice(
        connection,
        tenant_id=tenant_id,
        kind="checkout",
        subscription_id=subscription.id if subscription else None,
        data={
            "customer": customer_id,
            "currency": session.currency,
            "lines": lines,
            "metadata": {"checkout_session": session.id},
        },
    )
    if invoice.total != session.amount_total:
        raise Conflict("the invoice does not match the checkout session", field="line_items")
    if subscription is not None:
        first = recurring[0]
        start = subscription.current_period_start
        end = (
            subscription.current_period_end
            if trial
            else add_interval(start, first.interval or "month", first.interval_count)
        )
        await connection.execute(
            "UPDATE invoice_lines SET period_start = $3, period_end = $4 "
            "WHERE tenant_id = $1 AND invoice_id = $2 AND position = ANY($5::smallint[])",
            tenant_id,
            invoice.id,
            start,
            end,
            recurring_positions,
        )
        await connection.execute(
            "UPDATE invoices SET period_start = $3, period_end = $4 "
            "WHERE tenant_id = $1 AND id = $2",
            tenant_id,
            invoice.id,
            start,
            end,
        )
    await finalize_invoice(connection, tenant_id=tenant_id, invoice_id=invoice.id)
    await mark_paid(
        connection,
        tenant_id=tenant_id,
        invoice_id=invoice.id,
        stripe_payment_intent_id=intent.id if intent else None,
    )
    row = await connection.fetchrow(
        "UPDATE checkout_sessions SET status = 'complete', completed_at = now(), "
        "subscription_id = $3, invoice_id = $4, "
        "stripe_payment_intent_id = coalesce($5, stripe_payment_intent_id), updated_at = now() "
        f"WHERE tenant_id = $1 AND id = $2 AND status <> 'complete' RETURNING {SESSION_COLUMNS}",
        tenant_id,
        session.id,
        subscription.id if subscription else None,
        invoice.id,
        intent.id if intent else None,
    )
    if row is None:  # impossible under the row lock; refuse rather than bill twice
        raise Conflict("This checkout is already paid.", field="checkout_session")
    completed = CheckoutSession.from_row(row)
    await record_event(
        connection,
        tenant_id=tenant_id,
        type="checkout.completed",
        payload=checkout_completed_payload(completed, intent.id if intent else None),
    )
    return _succeeded(completed)


def checkout_completed_payload(
    session: CheckoutSession, payment_intent_id: str | None
) -> dict[str, Any]:
    """What tenants receive in `checkout.completed` (JSON-ready)."""
    return {
        "checkout_session": session.id,
        "customer": session.customer_id,
        "subscription": session.subscription_id,
        "invoice": session.invoice_id,
        "payment_intent": payment_intent_id,
        "amount_total": session.amount_total,
        "currency": session.currency,
        "completed_at": session.completed_at.isoformat() if session.completed_at else None,
        "metadata": session.metadata,
    }


async def _undo_stray_intent(
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
        row, session = await _locked_session(connection, tenant_id, session_id)
    except NotFound:
        return False
    if intent.status != "succeeded":
        return True
    stored = row["stripe_payment_intent_id"]
    if session.status == "complete":
        if refunds is not None:
            await _undo_stray_intent(
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
    await _settle(connection, tenant_id=tenant_id, session=session, intent=intent, card=None)
    if stored is not None and stored != intent.id and refunds is not None:
        # Another tab's intent may still be waiting for 3-D Secure: it must not pay too.
        await _undo_stray_intent(
            refunds, session=session, kept_intent_id=intent.id, stray_intent_id=stored
        )
    return True

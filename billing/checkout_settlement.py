"""What a paid checkout session produces, in the transaction that holds its row lock.

`settle_session` saves the card as the customer's default, starts the
subscription (active, or trialing with `trial_days`) for recurring items,
writes a paid `checkout` invoice (the first period of recurring items, plus
one-off items), marks the session complete and records the outbox events
`checkout.completed` and `payment_method.updated`. Every completion path calls
it under `locked_session`, so it runs once per session
(billing/checkout_completion.py says how).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billing.checkout_line_items import CheckoutLineItem
from billing.checkout_sessions import SESSION_COLUMNS, CheckoutSession
from billing.errors import Conflict, NotFound
from billing.invoice_lines import Phrase
from billing.invoices import Invoice, create_invoice, finalize_invoice, mark_paid
from billing.outbox import record_event
from billing.payment_methods import PAYMENT_METHOD_COLUMNS, add_card, switch_default
from billing.periods import add_interval
from billing.stripe_gateway import CardDetails, PaymentIntentState
from billing.subscriptions import Subscription, create_subscription
from kernel import clock

SESSION_ID_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"


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
    # Stripe's code for a refusal (expired_card, insufficient_funds): pages translate by it.
    failure_code: str | None = None


def success_redirect(session: CheckoutSession) -> str:
    """The tenant's success_url with `{CHECKOUT_SESSION_ID}` replaced by the session id."""
    return session.success_url.replace(SESSION_ID_PLACEHOLDER, session.id)


def succeeded(session: CheckoutSession) -> CheckoutOutcome:
    """The outcome of a paid session: on to the tenant's success URL."""
    return CheckoutOutcome(
        session_id=session.id,
        status="succeeded",
        message="Payment complete. Thank you!",
        redirect_url=success_redirect(session),
    )


async def locked_session(connection: Any, tenant_id: int, session_id: str) -> tuple[Any, Any]:
    """(row, session) under the row lock; the row adds the PaymentIntent id and `lapsed`.

    NotFound for another tenant's session.
    """
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
        method_id = str(existing["id"])
        await switch_default(
            connection, tenant_id=tenant_id, customer_id=customer_id, card_id=method_id
        )
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


async def _subscribe(
    connection: Any, *, tenant_id: int, session: CheckoutSession, recurring: list[CheckoutLineItem]
) -> Subscription:
    return await create_subscription(
        connection,
        tenant_id=tenant_id,
        data={
            "customer": session.customer_id,
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


def _invoice_lines(session: CheckoutSession) -> tuple[list[dict[str, Any]], list[int]]:
    """The invoice lines of the session's items, and the positions of the recurring ones.

    During a trial, recurring items are listed at no charge.
    """
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
    return lines, recurring_positions


async def _date_first_period(
    connection: Any,
    *,
    tenant_id: int,
    session: CheckoutSession,
    invoice: Invoice,
    subscription: Subscription,
    recurring_positions: list[int],
) -> None:
    """Give the invoice and its recurring lines the subscription's first period (or trial)."""
    first = next(item for item in session.line_items if item.interval is not None)
    start = subscription.current_period_start
    end = (
        subscription.current_period_end
        if session.trial_days is not None
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
        "UPDATE invoices SET period_start = $3, period_end = $4 WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        invoice.id,
        start,
        end,
    )


async def _paid_invoice(
    connection: Any,
    *,
    tenant_id: int,
    session: CheckoutSession,
    subscription: Subscription | None,
    intent: PaymentIntentState | None,
) -> Invoice:
    lines, recurring_positions = _invoice_lines(session)
    invoice = await create_invoice(
        connection,
        tenant_id=tenant_id,
        kind="checkout",
        subscription_id=subscription.id if subscription else None,
        data={
            "customer": session.customer_id,
            "currency": session.currency,
            "lines": lines,
            "metadata": {"checkout_session": session.id},
        },
        phrases=[
            Phrase(message="%(name)s (free trial)", values={"name": item.name})
            if session.trial_days is not None and item.interval is not None
            else None
            for item in session.line_items
        ],
    )
    if invoice.total != session.amount_total:
        raise Conflict("the invoice does not match the checkout session", field="line_items")
    if subscription is not None:
        await _date_first_period(
            connection,
            tenant_id=tenant_id,
            session=session,
            invoice=invoice,
            subscription=subscription,
            recurring_positions=recurring_positions,
        )
    await finalize_invoice(connection, tenant_id=tenant_id, invoice_id=invoice.id)
    return await mark_paid(
        connection,
        tenant_id=tenant_id,
        invoice_id=invoice.id,
        stripe_payment_intent_id=intent.id if intent else None,
    )


async def settle_session(
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
    if card is not None:
        await _save_default_card(
            connection, tenant_id=tenant_id, customer_id=session.customer_id, card=card
        )
    recurring = [item for item in session.line_items if item.interval is not None]
    subscription = None
    if recurring:
        subscription = await _subscribe(
            connection, tenant_id=tenant_id, session=session, recurring=recurring
        )
    invoice = await _paid_invoice(
        connection, tenant_id=tenant_id, session=session, subscription=subscription, intent=intent
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
    return succeeded(completed)


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

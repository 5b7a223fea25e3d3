"""Changing a customer's cards: save from a SetupIntent, remove, choose the default.

Removing a card detaches it in Stripe and keeps it in our history as
`detached`. A customer with a live subscription keeps at least one card unless
the tenant allows none. Saving a card attaches it on the server (Stripe.js may
leave it unattached) and makes it the default.
"""

from __future__ import annotations

from typing import Any

from billing.customers import get_customer
from billing.errors import Conflict, InvalidInput, NotFound
from billing.outbox import record_event
from billing.payment_methods import PAYMENT_METHOD_COLUMNS, PaymentMethod, add_card, switch_default
from billing.stripe_gateway import Payments, SetupIntentState
from kernel.db import Connection, Db, transaction
from kernel.ids import is_public_id


class LastCardInUse(Conflict):
    """The card is the last one and pays for a live subscription (`plan` names it)."""

    def __init__(self, plan: str, subscription_id: str | None = None) -> None:
        self.plan = plan
        self.subscription_id = subscription_id
        super().__init__(
            f"This card pays for your {plan} subscription. "
            "Add a new card first; you can then remove this one.",
            field="payment_method",
        )


# Subscriptions that will charge again and therefore need a card.
LIVE_SUBSCRIPTION_STATUSES = ("trialing", "active", "past_due")


async def ensure_stripe_customer(
    db: Db, payments: Payments, *, tenant_id: int, customer_id: str
) -> str:
    """The customer's id at the payment provider, created on first use."""
    customer = await get_customer(db, tenant_id=tenant_id, customer_id=customer_id)
    existing = await db.fetchval(
        "SELECT stripe_customer_id FROM customers WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        customer.id,
    )
    if existing:
        return str(existing)
    created = await payments.create_customer(
        name=customer.name, email=customer.email, reference=customer.id
    )
    # Two first uses at once both create one; the first stored wins, the other stays unused.
    stored = await db.fetchval(
        "UPDATE customers SET stripe_customer_id = coalesce(stripe_customer_id, $3) "
        "WHERE tenant_id = $1 AND id = $2 RETURNING stripe_customer_id",
        tenant_id,
        customer.id,
        created,
    )
    return str(stored)


async def start_card_setup(
    db: Db, payments: Payments, *, tenant_id: int, customer_id: str
) -> SetupIntentState:
    """A SetupIntent for the page to confirm with Stripe.js; nothing is saved yet."""
    stripe_customer = await ensure_stripe_customer(
        db, payments, tenant_id=tenant_id, customer_id=customer_id
    )
    return await payments.create_setup_intent(customer_id=stripe_customer)


async def save_card_from_setup_intent(
    db: Db, payments: Payments, *, tenant_id: int, customer_id: str, setup_intent_id: str
) -> PaymentMethod:
    """Attach the card of a succeeded SetupIntent and make it the default; idempotent.

    NotFound when the SetupIntent belongs to another customer; InvalidInput when it
    has not succeeded (the card was declined or 3-D Secure was not completed).
    """
    if not isinstance(setup_intent_id, str) or not setup_intent_id.startswith("seti_"):
        raise InvalidInput({"setup_intent": "must be a SetupIntent id (seti_...)"})
    stripe_customer = await ensure_stripe_customer(
        db, payments, tenant_id=tenant_id, customer_id=customer_id
    )
    intent = await payments.retrieve_setup_intent(setup_intent_id)
    if intent.customer_id != stripe_customer:
        raise NotFound("setup intent", setup_intent_id)
    if intent.status != "succeeded" or intent.payment_method_id is None:
        raise InvalidInput(
            {"setup_intent": "the card was not saved: it was declined or not authenticated"}
        )
    existing = await db.fetchrow(
        f"SELECT {PAYMENT_METHOD_COLUMNS} FROM payment_methods WHERE tenant_id = $1 "
        "AND customer_id = $2 AND stripe_payment_method_id = $3 AND status = 'active'",
        tenant_id,
        customer_id,
        intent.payment_method_id,
    )
    if existing is not None:
        return PaymentMethod.from_row(existing)
    card = await payments.attach_payment_method(
        payment_method_id=intent.payment_method_id, customer_id=stripe_customer
    )
    async with transaction(db) as connection:
        method = await add_card(
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
        await record_event(
            connection,
            tenant_id=tenant_id,
            type="payment_method.updated",
            payload=payment_method_payload(method),
        )
    return method


def payment_method_payload(method: PaymentMethod) -> dict[str, Any]:
    """What tenants receive in `payment_method.updated` (JSON-ready)."""
    return {
        "customer": method.customer_id,
        "payment_method": method.id,
        "brand": method.brand,
        "last4": method.last4,
        "exp_month": method.exp_month,
        "exp_year": method.exp_year,
        "is_default": method.is_default,
        "status": method.status,
    }


async def _refuse_last_card_in_use(
    connection: Connection, *, tenant_id: int, customer_id: str, payment_method_id: str
) -> None:
    """LastCardInUse when no other active card remains and a subscription is live."""
    others = await connection.fetchval(
        "SELECT count(*) FROM payment_methods WHERE tenant_id = $1 AND customer_id = $2 "
        "AND status = 'active' AND id <> $3",
        tenant_id,
        customer_id,
        payment_method_id,
    )
    if others:
        return
    live = await connection.fetchrow(
        "SELECT id, plan_name FROM subscriptions WHERE tenant_id = $1 AND customer_id = $2 "
        "AND status = ANY($3::text[]) ORDER BY created_at LIMIT 1",
        tenant_id,
        customer_id,
        list(LIVE_SUBSCRIPTION_STATUSES),
    )
    if live is not None:
        raise LastCardInUse(str(live["plan_name"]), subscription_id=str(live["id"]))


async def _make_newest_default(connection: Connection, *, tenant_id: int, customer_id: str) -> None:
    await connection.execute(
        "UPDATE payment_methods SET is_default = true WHERE tenant_id = $1 AND id = ("
        "SELECT id FROM payment_methods WHERE tenant_id = $1 AND customer_id = $2 "
        "AND status = 'active' ORDER BY created_at DESC, id DESC LIMIT 1)",
        tenant_id,
        customer_id,
    )


async def remove_card(
    db: Db,
    payments: Payments,
    *,
    tenant_id: int,
    allow_no_payment_method: bool,
    customer_id: str,
    payment_method_id: str,
) -> PaymentMethod:
    """Detach the card in Stripe and keep it as `detached`; the newest other card becomes default.

    Conflict when it is the customer's last card, a subscription is live and the
    tenant does not allow a customer without a card.
    """
    if not is_public_id(payment_method_id, "pm"):
        raise NotFound("payment method", payment_method_id)
    await get_customer(db, tenant_id=tenant_id, customer_id=customer_id)
    async with transaction(db) as connection:
        # The customer lock: two removals at once cannot both pass "another card remains".
        row = await _locked_active_card(connection, tenant_id, customer_id, payment_method_id)
        if not allow_no_payment_method:
            await _refuse_last_card_in_use(
                connection,
                tenant_id=tenant_id,
                customer_id=customer_id,
                payment_method_id=payment_method_id,
            )
        if row["stripe_payment_method_id"]:
            # Detach before recording: if Stripe refuses, the card stays as it was.
            await payments.detach_payment_method(row["stripe_payment_method_id"])
        detached = await connection.fetchrow(
            "UPDATE payment_methods SET status = 'detached', is_default = false, "
            "detached_at = now() WHERE tenant_id = $1 AND id = $2 "
            f"RETURNING {PAYMENT_METHOD_COLUMNS}",
            tenant_id,
            payment_method_id,
        )
        if row["is_default"]:
            await _make_newest_default(connection, tenant_id=tenant_id, customer_id=customer_id)
        await record_event(
            connection,
            tenant_id=tenant_id,
            type="payment_method.updated",
            payload=payment_method_payload(PaymentMethod.from_row(detached)),
        )
    return PaymentMethod.from_row(detached)


async def customer_card(
    db: Db, *, tenant_id: int, customer_id: str, payment_method_id: str
) -> PaymentMethod:
    """One active card of the customer; NotFound for anyone else's or a removed one."""
    if not is_public_id(payment_method_id, "pm"):
        raise NotFound("payment method", payment_method_id)
    row = await db.fetchrow(
        f"SELECT {PAYMENT_METHOD_COLUMNS} FROM payment_methods "
        "WHERE tenant_id = $1 AND customer_id = $2 AND id = $3 AND status = 'active'",
        tenant_id,
        customer_id,
        payment_method_id,
    )
    if row is None:
        raise NotFound("payment method", payment_method_id)
    return PaymentMethod.from_row(row)


async def removal_blocker(
    db: Db,
    *,
    tenant_id: int,
    allow_no_payment_method: bool,
    customer_id: str,
    payment_method_id: str,
) -> LastCardInUse | None:
    """Why removing the card would be refused now (to explain before asking), or None."""
    if allow_no_payment_method:
        return None
    async with transaction(db) as connection:
        try:
            await _refuse_last_card_in_use(
                connection,
                tenant_id=tenant_id,
                customer_id=customer_id,
                payment_method_id=payment_method_id,
            )
        except LastCardInUse as refusal:
            return refusal
    return None


async def _locked_active_card(
    connection: Connection, tenant_id: int, customer_id: str, payment_method_id: str
) -> Any:
    """The customer's active card, read under the customer's row lock; NotFound otherwise.

    The lock serialises the card changes of one customer (add, remove, make default).
    """
    await connection.execute(
        "SELECT 1 FROM customers WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        tenant_id,
        customer_id,
    )
    row = await connection.fetchrow(
        f"SELECT {PAYMENT_METHOD_COLUMNS} FROM payment_methods "
        "WHERE tenant_id = $1 AND customer_id = $2 AND id = $3 AND status = 'active'",
        tenant_id,
        customer_id,
        payment_method_id,
    )
    if row is None:
        raise NotFound("payment method", payment_method_id)
    return row


async def set_default_card(
    db: Db, *, tenant_id: int, customer_id: str, payment_method_id: str
) -> PaymentMethod:
    """Make one of the customer's active cards the default; the others stop being it.

    NotFound for a card that is not this customer's, or no longer active. Setting the
    card that already is the default changes nothing and announces nothing.
    """
    if not is_public_id(payment_method_id, "pm"):
        raise NotFound("payment method", payment_method_id)
    await get_customer(db, tenant_id=tenant_id, customer_id=customer_id)
    async with transaction(db) as connection:
        # The same lock as adding and removing cards: one default whatever runs at once.
        row = await _locked_active_card(connection, tenant_id, customer_id, payment_method_id)
        if row["is_default"]:
            return PaymentMethod.from_row(row)
        previous, updated = await switch_default(
            connection, tenant_id=tenant_id, customer_id=customer_id, card_id=payment_method_id
        )
        method = PaymentMethod.from_row(updated)
        await record_event(
            connection,
            tenant_id=tenant_id,
            type="payment_method.default_changed",
            payload={**payment_method_payload(method), "previous_default": previous},
        )
    return method


async def default_card(db: Db, *, tenant_id: int, customer_id: str) -> PaymentMethod | None:
    """The customer's default active card, if any."""
    row = await db.fetchrow(
        f"SELECT {PAYMENT_METHOD_COLUMNS} FROM payment_methods WHERE tenant_id = $1 "
        "AND customer_id = $2 AND status = 'active' AND is_default",
        tenant_id,
        customer_id,
    )
    return None if row is None else PaymentMethod.from_row(row)

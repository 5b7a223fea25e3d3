"""Wallet top-ups from the portal: charge the default card once per form nonce, credit once.

The form carries a server-issued nonce. The first submission inserts the
`wallet_topups` row keyed by that nonce before Stripe is called, so a double
click, a refresh or ten concurrent retries make one charge even where the
provider ignores idempotency keys (localstripe does); the key derived from the
nonce is still sent for real Stripe. A succeeded PaymentIntent is settled once:
a paid `wallet_topup` invoice and one ledger entry unique on the PaymentIntent
id, whether the page, the 3-D Secure completion or the webhook gets there first.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from billing.errors import Conflict, InvalidInput, NotFound
from billing.invoices import create_invoice, finalize_invoice, mark_paid
from billing.money import format_amount
from billing.outbox import record_event
from billing.payment_methods_service import default_card, ensure_stripe_customer
from billing.stripe_gateway import PaymentFailed, PaymentIntentState, Payments
from billing.wallets import credit_wallet, get_wallet
from kernel.db import Db, transaction

NONCE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
# How long a duplicate submission waits for the first one to reach Stripe and back.
DUPLICATE_WAIT_SECONDS = 20.0
TOPUP_COLUMNS = (
    "nonce, wallet_id, amount, currency, status, stripe_payment_intent_id, failure_message"
)


@dataclass(frozen=True, kw_only=True)
class TopupOutcome:
    """Where a top-up stands: `status` is processing, requires_action, succeeded or failed.

    `client_secret` is set for requires_action (the page runs 3-D Secure with it);
    `message` says in words what happened; `balance` is the wallet's balance now.
    """

    nonce: str
    wallet_id: str
    amount: int
    currency: str
    status: str
    message: str
    balance: int
    payment_intent_id: str | None = None
    client_secret: str | None = None
    invoice_id: str | None = None


def new_nonce() -> str:
    """A form nonce for one top-up attempt (192 random bits); issuing one stores nothing."""
    return secrets.token_urlsafe(24) + secrets.token_urlsafe(8)


class WalletPolicy(Protocol):
    """What the tenant allows customers to add to their wallets (amounts in minor units).

    A tenant's wallet settings are one; billing reads them and knows no tenant.
    """

    @property
    def topups_enabled(self) -> bool: ...
    @property
    def topup_min(self) -> int: ...
    @property
    def topup_max(self) -> int: ...
    @property
    def max_balance(self) -> int: ...


class AmountRefused(InvalidInput):
    """The amount is outside the tenant's caps: data a page can put in its own words.

    `cap` is `topup_min`, `topup_max` or `max_balance`; `limit` is that cap in minor
    units of `currency`, and `room` what may still be added under `max_balance`.
    """

    def __init__(self, message: str, *, cap: str, limit: int, currency: str, room: int) -> None:
        self.cap = cap
        self.limit = limit
        self.currency = currency
        self.room = room
        super().__init__({"amount": message})


def check_amount(policy: WalletPolicy, *, balance: int, amount: Any, currency: str) -> int:
    """`amount` if top-ups are on and it fits the policy's caps; AmountRefused naming the cap."""
    settings = policy
    if not settings.topups_enabled:
        raise Conflict("Buying credits is not available for this account.", field="amount")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidInput({"amount": "enter an amount"})
    room = max(settings.max_balance - balance, 0)
    if amount < settings.topup_min:
        low = format_amount(settings.topup_min, currency, "en")
        raise AmountRefused(
            f"the smallest top-up is {low}",
            cap="topup_min",
            limit=settings.topup_min,
            currency=currency,
            room=room,
        )
    if amount > settings.topup_max:
        high = format_amount(settings.topup_max, currency, "en")
        raise AmountRefused(
            f"the largest top-up is {high}",
            cap="topup_max",
            limit=settings.topup_max,
            currency=currency,
            room=room,
        )
    if balance + amount > settings.max_balance:
        cap = format_amount(settings.max_balance, currency, "en")
        raise AmountRefused(
            f"your balance may not exceed {cap}; "
            f"you can add at most {format_amount(room, currency, 'en')}",
            cap="max_balance",
            limit=settings.max_balance,
            currency=currency,
            room=room,
        )
    return amount


async def _customer_wallet(db: Db, *, tenant_id: int, customer_id: str, wallet_id: str) -> Any:
    wallet = await get_wallet(db, tenant_id=tenant_id, wallet_id=wallet_id)
    if wallet.customer_id != customer_id:
        raise NotFound("wallet", wallet_id)
    return wallet


async def _row(db: Db, tenant_id: int, nonce: str) -> Any:
    return await db.fetchrow(
        f"SELECT {TOPUP_COLUMNS} FROM wallet_topups WHERE tenant_id = $1 AND nonce = $2",
        tenant_id,
        nonce,
    )


async def _outcome(
    db: Db, *, tenant_id: int, row: Any, client_secret: str | None = None
) -> TopupOutcome:
    balance = await db.fetchval(
        "SELECT balance FROM wallets WHERE tenant_id = $1 AND id = $2", tenant_id, row["wallet_id"]
    )
    invoice_id = None
    if row["stripe_payment_intent_id"]:
        invoice_id = await db.fetchval(
            "SELECT id FROM invoices WHERE tenant_id = $1 AND stripe_payment_intent_id = $2",
            tenant_id,
            row["stripe_payment_intent_id"],
        )
    amount = format_amount(row["amount"], row["currency"], "en")
    messages = {
        "created": "Your payment is being processed.",
        "processing": "Your payment is being processed.",
        "requires_action": "Your bank asks you to confirm this payment.",
        "succeeded": f"{amount} was added to your wallet.",
        "failed": row["failure_message"] or "The payment failed. Nothing was charged.",
    }
    return TopupOutcome(
        nonce=row["nonce"],
        wallet_id=row["wallet_id"],
        amount=row["amount"],
        currency=row["currency"],
        status=row["status"],
        message=messages[row["status"]],
        balance=int(balance),
        payment_intent_id=row["stripe_payment_intent_id"],
        client_secret=client_secret if row["status"] == "requires_action" else None,
        invoice_id=invoice_id,
    )


async def buy_credits(
    db: Db,
    payments: Payments,
    *,
    tenant_id: int,
    policy: WalletPolicy,
    customer_id: str,
    wallet_id: str,
    amount: Any,
    nonce: str,
) -> TopupOutcome:
    """Charge the default card `amount` (minor units) and credit the wallet, once per nonce.

    A nonce already used returns that attempt's outcome (waiting briefly while the
    first submission is still with Stripe) and never charges again.
    """
    if not isinstance(nonce, str) or not NONCE.match(nonce):
        raise InvalidInput({"nonce": "the form is out of date; reload the page and try again"})
    wallet = await _customer_wallet(
        db, tenant_id=tenant_id, customer_id=customer_id, wallet_id=wallet_id
    )
    existing = await _row(db, tenant_id, nonce)
    if existing is not None:
        return await _replay(db, payments, tenant_id=tenant_id, wallet_id=wallet.id, row=existing)
    card = await default_card(db, tenant_id=tenant_id, customer_id=customer_id)
    if card is None or card.stripe_payment_method_id is None:
        raise InvalidInput({"payment_method": "add a card before buying credits"})
    async with transaction(db) as connection:
        # The wallet lock makes the cap check see top-ups still in flight.
        locked = await connection.fetchrow(
            "SELECT balance FROM wallets WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            tenant_id,
            wallet.id,
        )
        assert locked is not None  # the wallet was found above, under the same tenant
        pending = await connection.fetchval(
            "SELECT coalesce(sum(amount), 0) FROM wallet_topups WHERE tenant_id = $1 "
            "AND wallet_id = $2 AND status IN ('created', 'processing', 'requires_action')",
            tenant_id,
            wallet.id,
        )
        check_amount(
            policy,
            balance=locked["balance"] + int(pending),
            amount=amount,
            currency=wallet.currency,
        )
        inserted = await connection.fetchrow(
            "INSERT INTO wallet_topups (nonce, tenant_id, wallet_id, amount, currency, status) "
            "VALUES ($1, $2, $3, $4, $5, 'processing') ON CONFLICT (nonce) DO NOTHING "
            f"RETURNING {TOPUP_COLUMNS}",
            nonce,
            tenant_id,
            wallet.id,
            amount,
            wallet.currency,
        )
    if inserted is None:
        # A twin submission inserted the row between our look and our insert.
        row = await _row(db, tenant_id, nonce)
        if row is None:
            raise Conflict("this form was already used; reload the page", field="nonce")
        return await _replay(db, payments, tenant_id=tenant_id, wallet_id=wallet.id, row=row)
    stripe_customer = await ensure_stripe_customer(
        db, payments, tenant_id=tenant_id, customer_id=customer_id
    )
    try:
        intent = await _charge_default_card(
            payments,
            nonce=nonce,
            customer_id=stripe_customer,
            payment_method_id=card.stripe_payment_method_id,
            amount=amount,
            currency=wallet.currency,
            metadata={"topup_nonce": nonce, "wallet_id": wallet.id, "tenant_id": str(tenant_id)},
        )
    except PaymentFailed as error:
        row = await _mark_failed(
            db,
            tenant_id=tenant_id,
            nonce=nonce,
            message=error.message,
            payment_intent_id=error.payment_intent_id,
        )
        return await _outcome(db, tenant_id=tenant_id, row=row)
    return await apply_payment_intent(db, tenant_id=tenant_id, nonce=nonce, intent=intent)


async def _charge_default_card(
    payments: Payments,
    *,
    nonce: str,
    customer_id: str,
    payment_method_id: str,
    amount: int,
    currency: str,
    metadata: dict[str, str],
) -> PaymentIntentState:
    """Charge at once; if the bank wants 3-D Secure, charge again on-session for the page.

    Real Stripe refuses an off-session charge that needs authentication with
    `authentication_required` and charges nothing. The customer is on the page, so
    a second PaymentIntent is confirmed on-session (its own idempotency key, the
    same metadata) and comes back `requires_action`; the refused one is cancelled
    so nothing can ever confirm it. Only the second can succeed: one charge per nonce.
    """
    try:
        return await payments.charge_off_session(
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            amount=amount,
            currency=currency,
            idempotency_key=f"wallet-topup:{nonce}",
            metadata=metadata,
        )
    except PaymentFailed as error:
        if not error.needs_authentication:
            raise
        refused = error.payment_intent_id
    if refused is not None:
        # Best effort: left in requires_payment_method, it cannot charge without a new
        # confirmation, and nobody outside Stripe ever saw its client secret.
        with contextlib.suppress(PaymentFailed):
            await payments.cancel_payment_intent(refused)
    return await payments.charge_on_session(
        customer_id=customer_id,
        payment_method_id=payment_method_id,
        amount=amount,
        currency=currency,
        idempotency_key=f"wallet-topup:{nonce}:on-session",
        metadata=metadata,
    )


async def _replay(
    db: Db, payments: Payments, *, tenant_id: int, wallet_id: str, row: Any
) -> TopupOutcome:
    if row["wallet_id"] != wallet_id:
        raise Conflict("this form was already used; reload the page", field="nonce")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DUPLICATE_WAIT_SECONDS
    while row["status"] in ("created", "processing") and loop.time() < deadline:
        await asyncio.sleep(0.1)
        row = await _row(db, tenant_id, row["nonce"])
    client_secret = None
    if row["status"] == "requires_action" and row["stripe_payment_intent_id"]:
        intent = await payments.retrieve_payment_intent(row["stripe_payment_intent_id"])
        client_secret = intent.client_secret
    return await _outcome(db, tenant_id=tenant_id, row=row, client_secret=client_secret)


async def _mark_failed(
    db: Db, *, tenant_id: int, nonce: str, message: str, payment_intent_id: str | None
) -> Any:
    return await db.fetchrow(
        "UPDATE wallet_topups SET status = 'failed', failure_message = $3, "
        "stripe_payment_intent_id = coalesce(stripe_payment_intent_id, $4), updated_at = now() "
        f"WHERE tenant_id = $1 AND nonce = $2 AND status <> 'succeeded' RETURNING {TOPUP_COLUMNS}",
        tenant_id,
        nonce,
        message[:500],
        payment_intent_id,
    ) or await _row(db, tenant_id, nonce)


async def apply_payment_intent(
    db: Db, *, tenant_id: int, nonce: str, intent: PaymentIntentState
) -> TopupOutcome:
    """Record what Stripe says about the top-up's PaymentIntent; settle it once if it succeeded."""
    async with transaction(db) as connection:
        row = await connection.fetchrow(
            f"SELECT {TOPUP_COLUMNS} FROM wallet_topups WHERE tenant_id = $1 AND nonce = $2 "
            "FOR UPDATE",
            tenant_id,
            nonce,
        )
        if row is None:
            raise NotFound("top-up", nonce)
        if row["stripe_payment_intent_id"] not in (None, intent.id):
            raise Conflict("this top-up was paid by another payment", field="payment_intent")
        if intent.amount != row["amount"] or intent.currency != row["currency"]:
            raise Conflict("the payment does not match the top-up", field="payment_intent")
        if row["status"] == "succeeded":
            return await _outcome(connection, tenant_id=tenant_id, row=row)
        if intent.status == "succeeded":
            row = await _settle(connection, tenant_id=tenant_id, row=row, intent=intent)
        elif intent.status == "requires_action":
            row = await connection.fetchrow(
                "UPDATE wallet_topups SET status = 'requires_action', "
                "stripe_payment_intent_id = $3, updated_at = now() "
                f"WHERE tenant_id = $1 AND nonce = $2 RETURNING {TOPUP_COLUMNS}",
                tenant_id,
                nonce,
                intent.id,
            )
        elif intent.status in ("requires_payment_method", "canceled"):
            row = await connection.fetchrow(
                "UPDATE wallet_topups SET status = 'failed', stripe_payment_intent_id = $3, "
                "failure_message = $4, updated_at = now() "
                f"WHERE tenant_id = $1 AND nonce = $2 RETURNING {TOPUP_COLUMNS}",
                tenant_id,
                nonce,
                intent.id,
                (intent.failure_message or "The payment was not completed. Nothing was charged.")[
                    :500
                ],
            )
        else:  # processing, requires_confirmation, requires_capture
            row = await connection.fetchrow(
                "UPDATE wallet_topups SET status = 'processing', stripe_payment_intent_id = $3, "
                f"updated_at = now() WHERE tenant_id = $1 AND nonce = $2 RETURNING {TOPUP_COLUMNS}",
                tenant_id,
                nonce,
                intent.id,
            )
        return await _outcome(
            connection, tenant_id=tenant_id, row=row, client_secret=intent.client_secret
        )


async def _settle(connection: Any, *, tenant_id: int, row: Any, intent: PaymentIntentState) -> Any:
    """A paid top-up invoice and one ledger entry, in the caller's transaction."""
    wallet = await get_wallet(connection, tenant_id=tenant_id, wallet_id=row["wallet_id"])
    invoice_id = await connection.fetchval(
        "SELECT id FROM invoices WHERE tenant_id = $1 AND stripe_payment_intent_id = $2",
        tenant_id,
        intent.id,
    )
    if invoice_id is None:
        invoice = await create_invoice(
            connection,
            tenant_id=tenant_id,
            kind="wallet_topup",
            data={
                "customer": wallet.customer_id,
                "currency": wallet.currency,
                "lines": [
                    {"description": f"Wallet credits: {wallet.name}", "unit_amount": row["amount"]}
                ],
                "metadata": {"wallet": wallet.id},
            },
        )
        await finalize_invoice(connection, tenant_id=tenant_id, invoice_id=invoice.id)
        await mark_paid(
            connection,
            tenant_id=tenant_id,
            invoice_id=invoice.id,
            stripe_payment_intent_id=intent.id,
        )
        invoice_id = invoice.id
    await credit_wallet(
        connection,
        tenant_id=tenant_id,
        wallet_id=wallet.id,
        amount=row["amount"],
        kind="topup",
        description="Credits bought in the portal",
        stripe_payment_intent_id=intent.id,
        invoice_id=invoice_id,
    )
    await record_event(
        connection,
        tenant_id=tenant_id,
        type="wallet.credited",
        payload={
            "wallet": wallet.id,
            "customer": wallet.customer_id,
            "amount": row["amount"],
            "currency": wallet.currency,
            "invoice": invoice_id,
            "payment_intent": intent.id,
        },
    )
    return await connection.fetchrow(
        "UPDATE wallet_topups SET status = 'succeeded', stripe_payment_intent_id = $3, "
        "failure_message = NULL, updated_at = now() "
        f"WHERE tenant_id = $1 AND nonce = $2 RETURNING {TOPUP_COLUMNS}",
        tenant_id,
        row["nonce"],
        intent.id,
    )


async def complete_topup(
    db: Db, payments: Payments, *, tenant_id: int, customer_id: str, wallet_id: str, nonce: str
) -> TopupOutcome:
    """After 3-D Secure in the page: ask Stripe how the PaymentIntent ended and settle it."""
    await _customer_wallet(db, tenant_id=tenant_id, customer_id=customer_id, wallet_id=wallet_id)
    row = await _row(db, tenant_id, nonce) if isinstance(nonce, str) else None
    if row is None or row["wallet_id"] != wallet_id:
        raise NotFound("top-up", str(nonce))
    if row["stripe_payment_intent_id"] is None or row["status"] in ("succeeded", "failed"):
        return await _outcome(db, tenant_id=tenant_id, row=row)
    intent = await payments.retrieve_payment_intent(row["stripe_payment_intent_id"])
    return await apply_payment_intent(db, tenant_id=tenant_id, nonce=nonce, intent=intent)


async def settle_from_webhook(db: Db, *, tenant_id: int, intent: PaymentIntentState) -> bool:
    """Settle the top-up a succeeded PaymentIntent paid for; False when it is not a top-up here."""
    nonce = intent.metadata.get("topup_nonce")
    if nonce is None:
        nonce = await db.fetchval(
            "SELECT nonce FROM wallet_topups "
            "WHERE tenant_id = $1 AND stripe_payment_intent_id = $2",
            tenant_id,
            intent.id,
        )
    if nonce is None or await _row(db, tenant_id, nonce) is None:
        return False
    await apply_payment_intent(db, tenant_id=tenant_id, nonce=nonce, intent=intent)
    return True

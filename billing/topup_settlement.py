"""Settling a top-up from what Stripe says about its PaymentIntent, once.

A succeeded PaymentIntent is settled once, under the top-up row's lock: a paid
`wallet_topup` invoice and one ledger entry unique on the PaymentIntent id,
whether the page, the 3-D Secure completion or the webhook gets there first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billing.errors import Conflict, NotFound
from billing.formatting import format_money
from billing.invoice_lines import Phrase
from billing.invoices import create_invoice, finalize_invoice, mark_paid
from billing.outbox import record_event
from billing.stripe_gateway import PaymentIntentState
from billing.wallets import Wallet, credit_wallet, get_wallet
from kernel.db import Connection, Db, transaction

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
    # Stripe's code for a refusal just made (expired_card, insufficient_funds), so pages
    # can say it in the reader's language; None for replays and other outcomes.
    failure_code: str | None = None


async def topup_row(db: Db, tenant_id: int, nonce: str) -> Any:
    return await db.fetchrow(
        f"SELECT {TOPUP_COLUMNS} FROM wallet_topups WHERE tenant_id = $1 AND nonce = $2",
        tenant_id,
        nonce,
    )


async def topup_outcome(
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
    amount = format_money(row["amount"], row["currency"], "en")
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
            return await topup_outcome(connection, tenant_id=tenant_id, row=row)
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
        return await topup_outcome(
            connection, tenant_id=tenant_id, row=row, client_secret=intent.client_secret
        )


async def _paid_invoice(
    connection: Connection, *, tenant_id: int, wallet: Wallet, row: Any, intent: PaymentIntentState
) -> str:
    """The id of the paid `wallet_topup` invoice of `intent`, written now unless it exists."""
    existing: str | None = await connection.fetchval(
        "SELECT id FROM invoices WHERE tenant_id = $1 AND stripe_payment_intent_id = $2",
        tenant_id,
        intent.id,
    )
    if existing is not None:
        return existing
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
        phrases=[Phrase(message="Wallet credits: %(wallet)s", values={"wallet": wallet.name})],
    )
    await finalize_invoice(connection, tenant_id=tenant_id, invoice_id=invoice.id)
    await mark_paid(
        connection, tenant_id=tenant_id, invoice_id=invoice.id, stripe_payment_intent_id=intent.id
    )
    return invoice.id


async def _settle(connection: Any, *, tenant_id: int, row: Any, intent: PaymentIntentState) -> Any:
    """A paid top-up invoice and one ledger entry, in the caller's transaction."""
    wallet = await get_wallet(connection, tenant_id=tenant_id, wallet_id=row["wallet_id"])
    invoice_id = await _paid_invoice(
        connection, tenant_id=tenant_id, wallet=wallet, row=row, intent=intent
    )
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

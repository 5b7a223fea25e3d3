"""Wallet top-ups from the portal: charge the default card once per form nonce, credit once.

The form carries a server-issued nonce. The first submission inserts the
`wallet_topups` row keyed by that nonce before Stripe is called, so a double
click, a refresh or ten concurrent retries make one charge even where the
provider ignores idempotency keys (localstripe does); the key derived from the
nonce is still sent for real Stripe. The amount is checked against the tenant's
wallet policy (billing/topup_policy.py); a succeeded PaymentIntent is settled
once (billing/topup_settlement.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import secrets
from typing import Any

from billing.errors import Conflict, InvalidInput, NotFound
from billing.payment_methods_service import default_card, ensure_stripe_customer
from billing.stripe_gateway import PaymentFailed, PaymentIntentState, Payments
from billing.topup_policy import WalletPolicy, check_amount
from billing.topup_settlement import (
    TOPUP_COLUMNS,
    TopupOutcome,
    apply_payment_intent,
    topup_outcome,
    topup_row,
)
from billing.wallets import Wallet, get_wallet
from kernel.db import Db, transaction

NONCE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
# How long a duplicate submission waits for the first one to reach Stripe and back.
DUPLICATE_WAIT_SECONDS = 20.0


def new_nonce() -> str:
    """A form nonce for one top-up attempt (192 random bits); issuing one stores nothing."""
    return secrets.token_urlsafe(24) + secrets.token_urlsafe(8)


async def _customer_wallet(db: Db, *, tenant_id: int, customer_id: str, wallet_id: str) -> Wallet:
    wallet = await get_wallet(db, tenant_id=tenant_id, wallet_id=wallet_id)
    if wallet.customer_id != customer_id:
        raise NotFound("wallet", wallet_id)
    return wallet


async def _reserve(
    db: Db, *, tenant_id: int, policy: WalletPolicy, wallet: Wallet, amount: Any, nonce: str
) -> Any:
    """The top-up row for `nonce`, inserted once `amount` fits the policy; None if a twin won."""
    async with transaction(db) as connection:
        # The wallet lock makes the cap check see top-ups still in flight.
        locked = await connection.fetchrow(
            "SELECT balance FROM wallets WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            tenant_id,
            wallet.id,
        )
        assert locked is not None  # the wallet was found by the caller, under the same tenant
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
        return await connection.fetchrow(
            "INSERT INTO wallet_topups (nonce, tenant_id, wallet_id, amount, currency, status) "
            "VALUES ($1, $2, $3, $4, $5, 'processing') ON CONFLICT (nonce) DO NOTHING "
            f"RETURNING {TOPUP_COLUMNS}",
            nonce,
            tenant_id,
            wallet.id,
            amount,
            wallet.currency,
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
    existing = await topup_row(db, tenant_id, nonce)
    if existing is not None:
        return await _replay(db, payments, tenant_id=tenant_id, wallet_id=wallet.id, row=existing)
    card = await default_card(db, tenant_id=tenant_id, customer_id=customer_id)
    if card is None or card.stripe_payment_method_id is None:
        raise InvalidInput({"payment_method": "add a card before buying credits"})
    inserted = await _reserve(
        db, tenant_id=tenant_id, policy=policy, wallet=wallet, amount=amount, nonce=nonce
    )
    if inserted is None:
        # A twin submission inserted the row between our look and our insert.
        row = await topup_row(db, tenant_id, nonce)
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
        outcome = await topup_outcome(db, tenant_id=tenant_id, row=row)
        return dataclasses.replace(outcome, failure_code=error.code)
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
        row = await topup_row(db, tenant_id, row["nonce"])
    client_secret = None
    if row["status"] == "requires_action" and row["stripe_payment_intent_id"]:
        intent = await payments.retrieve_payment_intent(row["stripe_payment_intent_id"])
        client_secret = intent.client_secret
    return await topup_outcome(db, tenant_id=tenant_id, row=row, client_secret=client_secret)


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
    ) or await topup_row(db, tenant_id, nonce)


async def complete_topup(
    db: Db, payments: Payments, *, tenant_id: int, customer_id: str, wallet_id: str, nonce: str
) -> TopupOutcome:
    """After 3-D Secure in the page: ask Stripe how the PaymentIntent ended and settle it."""
    await _customer_wallet(db, tenant_id=tenant_id, customer_id=customer_id, wallet_id=wallet_id)
    row = await topup_row(db, tenant_id, nonce) if isinstance(nonce, str) else None
    if row is None or row["wallet_id"] != wallet_id:
        raise NotFound("top-up", str(nonce))
    if row["stripe_payment_intent_id"] is None or row["status"] in ("succeeded", "failed"):
        return await topup_outcome(db, tenant_id=tenant_id, row=row)
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
    if nonce is None or await topup_row(db, tenant_id, nonce) is None:
        return False
    await apply_payment_intent(db, tenant_id=tenant_id, nonce=nonce, intent=intent)
    return True

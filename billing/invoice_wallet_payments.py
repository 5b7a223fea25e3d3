"""Paying an open invoice with wallet credits, where the tenant allows it: once per form nonce.

One transaction locks the invoice and the wallet, writes the attempt keyed by the
form's nonce, appends one ledger debit (its idempotency key derived from the
nonce) and marks the invoice paid with `invoice.paid` to the tenant: all of it
or nothing, so ten submissions debit once. The wallet must hold the whole amount
due in the invoice's currency; there is no partial payment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billing.errors import Conflict, InvalidInput, NotFound
from billing.invoice_payment_attempts import (
    PAYMENT_COLUMNS,
    InvoicePaymentOutcome,
    customer_open_invoice,
    payment_outcome,
)
from billing.invoice_settlement import record_invoice_payment
from billing.invoices import Invoice
from billing.topups import NONCE
from billing.wallets import Wallet, debit_wallet
from kernel.db import Db, transaction


async def payable_wallet(
    db: Db, *, tenant_id: int, customer_id: str, currency: str, amount: int
) -> Wallet | None:
    """The customer's wallet in `currency` if it holds at least `amount`; None otherwise."""
    row = await db.fetchrow(
        "SELECT id, customer_id, name, currency, balance, created_at FROM wallets "
        "WHERE tenant_id = $1 AND customer_id = $2 AND currency = $3",
        tenant_id,
        customer_id,
        currency,
    )
    if row is None or row["balance"] < amount or amount <= 0:
        return None
    return Wallet.from_row(row)


async def pay_invoice_with_wallet(
    db: Db,
    *,
    tenant_id: int,
    allowed: bool,
    customer_id: str,
    invoice_id: str,
    wallet_id: str,
    nonce: str,
    now: datetime | None = None,
) -> InvoicePaymentOutcome:
    """Debit the wallet the amount due and mark the invoice paid, once per nonce.

    `allowed` is the tenant's wallet setting (InvalidInput when off). InvalidInput
    when the wallet is not the customer's or holds too little; Conflict when the
    invoice is no longer open and this nonce did not pay it.
    """
    if not allowed:
        raise InvalidInput({"payment_method": "wallet credits cannot pay invoices here"})
    if not isinstance(nonce, str) or not NONCE.match(nonce):
        raise InvalidInput({"nonce": "the form is out of date; reload the page and try again"})
    invoice = await customer_open_invoice(
        db, tenant_id=tenant_id, customer_id=customer_id, invoice_id=invoice_id
    )
    async with transaction(db) as connection:
        status = await connection.fetchval(
            "SELECT status FROM invoices WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            tenant_id,
            invoice.id,
        )
        earlier = await connection.fetchrow(
            f"SELECT {PAYMENT_COLUMNS} FROM invoice_payments WHERE tenant_id = $1 "
            "AND invoice_id = $2 AND (nonce = $3 OR status = 'succeeded')",
            tenant_id,
            invoice.id,
            nonce,
        )
        if earlier is not None:
            return await payment_outcome(connection, tenant_id, earlier)
        if status != "open":
            raise Conflict(f"only an open invoice can be paid; this invoice is {status}")
        wallet = await _customer_wallet(connection, tenant_id, customer_id, wallet_id)
        row = await _debit_and_record(connection, tenant_id, invoice, wallet, nonce, now)
        return await payment_outcome(connection, tenant_id, row)


async def _debit_and_record(
    connection: Any,
    tenant_id: int,
    invoice: Invoice,
    wallet: Wallet,
    nonce: str,
    now: datetime | None,
) -> Any:
    """The attempt's row, one ledger debit and the invoice paid, in the caller's transaction."""
    if wallet.currency != invoice.currency or wallet.balance < invoice.amount_due:
        raise InvalidInput({"payment_method": "your credits do not cover this invoice"})
    row = await connection.fetchrow(
        "INSERT INTO invoice_payments (nonce, tenant_id, invoice_id, amount, currency, "
        "method, source_id, status) VALUES ($1, $2, $3, $4, $5, 'wallet', $6, 'succeeded') "
        f"ON CONFLICT DO NOTHING RETURNING {PAYMENT_COLUMNS}",
        nonce,
        tenant_id,
        invoice.id,
        invoice.amount_due,
        invoice.currency,
        wallet.id,
    )
    if row is None:
        # A card attempt of this invoice is under way (3-D Secure in another tab).
        raise Conflict("a payment of this invoice is under way", field="invoice")
    await debit_wallet(
        connection,
        tenant_id=tenant_id,
        wallet_id=wallet.id,
        amount=invoice.amount_due,
        description=f"Invoice {invoice.number or invoice.id}",
        idempotency_key=f"invoice-payment:{nonce}",
        invoice_id=invoice.id,
    )
    await record_invoice_payment(
        connection,
        tenant_id=tenant_id,
        invoice_id=invoice.id,
        paid_with="wallet",
        detail=wallet.id,
        now=now,
    )
    return row


async def _customer_wallet(
    connection: Any, tenant_id: int, customer_id: str, wallet_id: str
) -> Wallet:
    row = await connection.fetchrow(
        "SELECT id, customer_id, name, currency, balance, created_at FROM wallets "
        "WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        tenant_id,
        wallet_id,
    )
    if row is None or row["customer_id"] != customer_id:
        raise NotFound("wallet", wallet_id)
    return Wallet.from_row(row)

"""Paying an invoice from the customer's wallet before any card is charged.

The spend is one `debit` ledger entry (`billing.wallets.debit_wallet`, the one way a
wallet is debited) keyed by the invoice (`invoice:<id>:wallet`), in the caller's
transaction with the wallet row locked, so an invoice takes from a wallet
at most once, whatever number of replicas or retries get there.
"""

from __future__ import annotations

from typing import Any

from billing.wallets import debit_wallet
from kernel.db import Connection


def spend_key(invoice_id: str) -> str:
    """The ledger idempotency key of an invoice's wallet spend."""
    return f"invoice:{invoice_id}:wallet"


async def spend_wallet_on_invoice(
    connection: Connection, *, tenant_id: int, invoice: Any, amount_due: int
) -> int:
    """Take up to `amount_due` from the customer's wallet in the invoice's currency; how much.

    `invoice` is the invoice's row (id, customer_id, currency). Nothing is taken twice for
    one invoice: a second call finds the first entry and takes nothing.
    """
    wallet = await connection.fetchrow(
        "SELECT id, balance FROM wallets WHERE tenant_id = $1 AND customer_id = $2 "
        "AND currency = $3 FOR UPDATE",
        tenant_id,
        invoice["customer_id"],
        invoice["currency"],
    )
    if wallet is None or wallet["balance"] <= 0 or amount_due <= 0:
        return 0
    earlier = await connection.fetchval(
        "SELECT 1 FROM wallet_ledger WHERE tenant_id = $1 AND wallet_id = $2 "
        "AND idempotency_key = $3",
        tenant_id,
        wallet["id"],
        spend_key(invoice["id"]),
    )
    if earlier:
        return 0
    spent = min(int(wallet["balance"]), amount_due)
    await debit_wallet(
        connection,
        tenant_id=tenant_id,
        wallet_id=wallet["id"],
        amount=spent,
        description="Invoice paid from the wallet",
        idempotency_key=spend_key(invoice["id"]),
        invoice_id=invoice["id"],
    )
    return spent

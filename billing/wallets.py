"""Wallets: prepaid balances per customer and currency, backed by an append-only ledger.

Every credit (and every debit, such as credits paying an invoice) locks the
wallet row, appends one ledger entry and moves the balance in the same
transaction, so `balance` always equals the sum of the ledger. A credit carrying
an idempotency key or a Stripe PaymentIntent id that was already used returns
the original entry instead of crediting again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from billing import validation
from billing.customers import get_customer
from billing.errors import Conflict, InvalidInput, NotFound
from billing.money import MAX_AMOUNT, validate_currency
from billing.validation import FieldErrors
from kernel.db import Connection, Db, transaction
from kernel.ids import is_public_id, new_id

CREDIT_KINDS = ("topup", "grant", "adjustment")
WALLET_COLUMNS = "id, customer_id, name, currency, balance, created_at"
LEDGER_COLUMNS = (
    "id, wallet_id, amount, balance_after, kind, description, stripe_payment_intent_id, "
    "invoice_id, idempotency_key, created_at"
)


@dataclass(frozen=True, kw_only=True)
class Wallet:
    id: str
    customer_id: str
    name: str
    currency: str
    balance: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Wallet:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True, kw_only=True)
class LedgerEntry:
    id: int
    wallet_id: str
    amount: int
    balance_after: int
    kind: str
    description: str
    stripe_payment_intent_id: str | None
    invoice_id: str | None
    idempotency_key: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> LedgerEntry:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


async def create_wallet(
    db: Db, *, tenant_id: int, customer_id: str, currency: str, name: str = "Credits"
) -> Wallet:
    """A new empty wallet; Conflict if the customer already has one in that currency."""
    errors = FieldErrors()
    try:
        currency = validate_currency(currency)
    except InvalidInput as error:
        errors.merge(error)
    wallet_name = validation.text(errors, "name", name, maximum=100, required=True, one_line=True)
    errors.raise_if_any()
    try:
        customer = await get_customer(db, tenant_id=tenant_id, customer_id=customer_id)
    except NotFound:
        raise InvalidInput({"customer": "no such customer"}) from None
    try:
        row = await db.fetchrow(
            "INSERT INTO wallets (id, tenant_id, customer_id, name, currency) "
            f"VALUES ($1, $2, $3, $4, $5) RETURNING {WALLET_COLUMNS}",
            new_id("wal"),
            tenant_id,
            customer.id,
            wallet_name,
            currency,
        )
    except asyncpg.UniqueViolationError:
        raise Conflict(
            f"the customer already has a wallet in {currency}", field="currency"
        ) from None
    return Wallet.from_row(row)


async def get_wallet(db: Db, *, tenant_id: int, wallet_id: str) -> Wallet:
    """The tenant's wallet; NotFound for an unknown, malformed or other tenant's id."""
    if not is_public_id(wallet_id, "wal"):
        raise NotFound("wallet", wallet_id)
    row = await db.fetchrow(
        f"SELECT {WALLET_COLUMNS} FROM wallets WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        wallet_id,
    )
    if row is None:
        raise NotFound("wallet", wallet_id)
    return Wallet.from_row(row)


async def list_customer_wallets(db: Db, *, tenant_id: int, customer_id: str) -> list[Wallet]:
    """The customer's wallets, oldest first."""
    rows = await db.fetch(
        f"SELECT {WALLET_COLUMNS} FROM wallets WHERE tenant_id = $1 AND customer_id = $2 "
        "ORDER BY created_at, id",
        tenant_id,
        customer_id,
    )
    return [Wallet.from_row(row) for row in rows]


def _check_credit(*, amount: int, kind: str, description: str, idempotency_key: str | None) -> None:
    errors = FieldErrors()
    validation.integer(errors, "amount", amount, minimum=1, maximum=MAX_AMOUNT)
    if kind not in CREDIT_KINDS:
        errors.add("kind", "must be one of " + ", ".join(CREDIT_KINDS), "not_allowed")
    if not isinstance(description, str) or len(description) > 500:
        errors.add("description", "must be a string of at most 500 characters", "too_long")
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        errors.add("idempotency_key", "must have 1 to 255 characters", "too_long")
    errors.raise_if_any()


async def _earlier_credit(
    connection: Connection,
    *,
    tenant_id: int,
    wallet_id: str,
    amount: int,
    idempotency_key: str | None,
    stripe_payment_intent_id: str | None,
) -> LedgerEntry | None:
    """The entry an earlier credit with this key or payment wrote; Conflict if it differs."""
    earlier = await connection.fetchrow(
        f"SELECT {LEDGER_COLUMNS} FROM wallet_ledger WHERE tenant_id = $1 AND ("
        "(wallet_id = $2 AND idempotency_key = $3) OR stripe_payment_intent_id = $4) "
        "ORDER BY id LIMIT 1",
        tenant_id,
        wallet_id,
        idempotency_key,
        stripe_payment_intent_id,
    )
    if earlier is None:
        return None
    entry = LedgerEntry.from_row(earlier)
    if entry.wallet_id != wallet_id or entry.amount != amount:
        raise Conflict(
            "this idempotency key or payment was already used for another credit",
            field="idempotency_key",
        )
    return entry


async def credit_wallet(
    db: Db,
    *,
    tenant_id: int,
    wallet_id: str,
    amount: int,
    kind: str = "grant",
    description: str = "",
    idempotency_key: str | None = None,
    stripe_payment_intent_id: str | None = None,
    invoice_id: str | None = None,
) -> tuple[Wallet, LedgerEntry]:
    """Add `amount` (> 0, minor units) to the wallet; returns the wallet after and the entry.

    A repeated `idempotency_key` (per wallet) or `stripe_payment_intent_id` returns the
    entry written the first time and the wallet as it is now; nothing is credited twice.
    Reusing a key for a different amount is a Conflict.
    """
    _check_credit(
        amount=amount, kind=kind, description=description, idempotency_key=idempotency_key
    )
    if not is_public_id(wallet_id, "wal"):
        raise NotFound("wallet", wallet_id)
    async with transaction(db) as connection:
        # Lock first, then look for an earlier credit: a concurrent twin waits here and
        # then sees the committed entry, so the same key never credits twice.
        locked = await _locked_wallet(connection, tenant_id=tenant_id, wallet_id=wallet_id)
        earlier = await _earlier_credit(
            connection,
            tenant_id=tenant_id,
            wallet_id=wallet_id,
            amount=amount,
            idempotency_key=idempotency_key,
            stripe_payment_intent_id=stripe_payment_intent_id,
        )
        if earlier is not None:
            return Wallet.from_row(locked), earlier
        balance = locked["balance"] + amount
        row = await _append_entry(
            connection,
            tenant_id,
            wallet_id,
            amount,
            balance,
            kind,
            description,
            stripe_payment_intent_id,
            invoice_id,
            idempotency_key,
        )
        wallet_row = await connection.fetchrow(
            f"UPDATE wallets SET balance = $3 WHERE tenant_id = $1 AND id = $2 "
            f"RETURNING {WALLET_COLUMNS}",
            tenant_id,
            wallet_id,
            balance,
        )
    return Wallet.from_row(wallet_row), LedgerEntry.from_row(row)


async def debit_wallet(
    connection: Connection,
    *,
    tenant_id: int,
    wallet_id: str,
    amount: int,
    description: str,
    idempotency_key: str,
    invoice_id: str | None = None,
) -> LedgerEntry:
    """Take `amount` (> 0) from the wallet in the caller's transaction; one `debit` entry.

    The caller holds the wallet's row lock and has checked the balance; the ledger's
    unique key (wallet, `idempotency_key`) refuses a second debit for the same reason.
    """
    locked = await _locked_wallet(connection, tenant_id=tenant_id, wallet_id=wallet_id)
    balance = locked["balance"] - amount
    if amount <= 0 or balance < 0:
        raise InvalidInput({"amount": "must be positive and at most the balance"})
    try:
        row = await connection.fetchrow(
            "INSERT INTO wallet_ledger (tenant_id, wallet_id, amount, balance_after, kind, "
            "description, invoice_id, idempotency_key) "
            f"VALUES ($1, $2, $3, $4, 'debit', $5, $6, $7) RETURNING {LEDGER_COLUMNS}",
            tenant_id,
            wallet_id,
            -amount,
            balance,
            description[:500],
            invoice_id,
            idempotency_key,
        )
    except asyncpg.UniqueViolationError:
        raise Conflict("this debit was already made", field="idempotency_key") from None
    await connection.execute(
        "UPDATE wallets SET balance = $3 WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        wallet_id,
        balance,
    )
    return LedgerEntry.from_row(row)


async def _append_entry(connection: Connection, *values: Any) -> Any:
    """The ledger row of `values`, given in the INSERT's column order.

    Conflict for a payment already credited (by any tenant), InvalidInput for an
    unknown invoice.
    """
    try:
        return await connection.fetchrow(
            "INSERT INTO wallet_ledger (tenant_id, wallet_id, amount, balance_after, kind, "
            "description, stripe_payment_intent_id, invoice_id, idempotency_key) "
            f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {LEDGER_COLUMNS}",
            *values,
        )
    except asyncpg.UniqueViolationError:
        # The payment intent id is unique across tenants: another tenant used it.
        raise Conflict(
            "this payment was already credited", field="stripe_payment_intent_id"
        ) from None
    except asyncpg.ForeignKeyViolationError:
        raise InvalidInput({"invoice_id": "no such invoice"}) from None


async def _locked_wallet(connection: Connection, *, tenant_id: int, wallet_id: str) -> Any:
    """The wallet's row, locked until the transaction ends; NotFound for another tenant's."""
    locked = await connection.fetchrow(
        f"SELECT {WALLET_COLUMNS} FROM wallets WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        tenant_id,
        wallet_id,
    )
    if locked is None:
        raise NotFound("wallet", wallet_id)
    return locked


async def list_ledger(
    db: Db, *, tenant_id: int, wallet_id: str, limit: int = 20, starting_after: int | None = None
) -> tuple[list[LedgerEntry], bool]:
    """The wallet's ledger entries, newest first, and whether older ones follow."""
    await get_wallet(db, tenant_id=tenant_id, wallet_id=wallet_id)
    if not 1 <= limit <= 100:
        raise InvalidInput({"limit": "must be between 1 and 100"}, {"limit": "out_of_range"})
    rows = await db.fetch(
        f"SELECT {LEDGER_COLUMNS} FROM wallet_ledger WHERE tenant_id = $1 AND wallet_id = $2 "
        "AND ($3::bigint IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
        tenant_id,
        wallet_id,
        starting_after,
        limit + 1,
    )
    return [LedgerEntry.from_row(row) for row in rows[:limit]], len(rows) > limit

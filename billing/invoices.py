"""Invoices: drafts with lines, then final (numbered, immutable) documents.

Amounts: the invoice's subtotal, tax and total are the sums over its lines
(`billing.invoice_lines`, where each line's tax is rounded half-up).
Finalizing takes the next number from the tenant's counter in the same
transaction as the status change, so numbers are gapless and never reused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from billing import validation
from billing.customers import get_customer
from billing.errors import Conflict, InvalidInput, NotFound
from billing.invoice_lines import (
    LINE_COLUMNS,
    InvoiceLine,
    Phrase,
    check_lines,
    compute_totals,
    insert_lines,
    line_from_row,
)
from billing.invoice_snapshots import take_snapshot
from billing.money import MAX_AMOUNT, validate_currency
from billing.pagination import fetch_page
from billing.subscriptions import parse_instant
from billing.validation import FieldErrors
from kernel.db import Db, transaction
from kernel.ids import is_public_id, new_id

Status = Literal["draft", "open", "paid", "void", "uncollectible"]
Kind = Literal["one_off", "subscription", "wallet_topup", "checkout"]
STATUSES: tuple[str, ...] = get_args(Status)
KINDS: tuple[str, ...] = get_args(Kind)
DEFAULT_DUE_DAYS = 30
CREATE_FIELDS = frozenset({"customer", "currency", "lines", "memo", "due_at", "metadata"})

INVOICE_COLUMNS = (
    "id, customer_id, subscription_id, number, kind, status, currency, subtotal, tax, total, "
    "amount_paid, memo, due_at, finalized_at, paid_at, voided_at, metadata, created_at, "
    "updated_at, snapshot"
)


@dataclass(frozen=True, kw_only=True)
class Invoice:
    id: str
    customer_id: str
    subscription_id: str | None
    number: str | None
    kind: str
    status: str
    currency: str
    subtotal: int
    tax: int
    total: int
    amount_paid: int
    memo: str | None
    due_at: datetime | None
    finalized_at: datetime | None
    paid_at: datetime | None
    voided_at: datetime | None
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime
    lines: list[InvoiceLine]
    # Seller, buyer, brand and language as finalisation fixed them (None on a draft).
    snapshot: dict[str, Any] | None = None

    @property
    def amount_due(self) -> int:
        return 0 if self.status in ("void", "draft") else self.total - self.amount_paid


def _invoice(row: Any, lines: list[InvoiceLine]) -> Invoice:
    values = {name: row[name] for name in Invoice.__dataclass_fields__ if name != "lines"}
    return Invoice(**values, lines=lines)


@dataclass(frozen=True, kw_only=True)
class _Draft:
    """A new invoice's fields, checked; the currency None means the customer's."""

    customer_id: str
    currency: str | None
    lines: list[dict[str, Any]]
    memo: str | None
    due_at: datetime | None
    metadata: dict[str, str]


def _check_draft(data: Mapping[str, Any]) -> _Draft:
    """API-shaped invoice `data` checked field by field; InvalidInput with every error at once."""
    errors = FieldErrors()
    for name in data:
        if name not in CREATE_FIELDS:
            errors.add(name, "unknown field", "unknown_field")
    lines = check_lines(errors, data.get("lines"))
    currency = None
    if data.get("currency") is not None:
        try:
            currency = validate_currency(data["currency"])
        except InvalidInput as error:
            errors.merge(error)
    memo = validation.text(errors, "memo", data.get("memo"), maximum=2000)
    due_at = None
    if data.get("due_at") is not None:
        due_at = parse_instant(errors, "due_at", data["due_at"])
    metadata = validation.metadata(errors, "metadata", data.get("metadata"))
    customer_id = data.get("customer")
    if not isinstance(customer_id, str):
        errors.add("customer", "is required" if customer_id is None else "must be a customer id")
    errors.raise_if_any()
    assert isinstance(customer_id, str)
    return _Draft(
        customer_id=customer_id,
        currency=currency,
        lines=lines,
        memo=memo,
        due_at=due_at,
        metadata=metadata,
    )


async def create_invoice(
    db: Db,
    *,
    tenant_id: int,
    data: Mapping[str, Any],
    kind: str = "one_off",
    subscription_id: str | None = None,
    phrases: Sequence[Phrase | None] = (),
) -> Invoice:
    """A draft invoice from API-shaped `data`; the currency defaults to the customer's.

    `phrases` (by line position) are the words of lines the product writes, so each
    language's document says them in that language; `description` stays their English.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown invoice kind {kind!r}")
    draft = _check_draft(data)
    try:
        customer = await get_customer(db, tenant_id=tenant_id, customer_id=draft.customer_id)
    except NotFound:
        raise InvalidInput({"customer": "no such customer"}) from None
    subtotal, tax = compute_totals(draft.lines)
    if subtotal + tax > MAX_AMOUNT:
        raise InvalidInput({"lines": f"the total must not exceed {MAX_AMOUNT}"})
    invoice_id = new_id("in")
    async with transaction(db) as connection:
        row = await connection.fetchrow(
            "INSERT INTO invoices (id, tenant_id, customer_id, subscription_id, kind, currency, "
            "subtotal, tax, total, memo, due_at, metadata) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
            f"RETURNING {INVOICE_COLUMNS}",
            invoice_id,
            tenant_id,
            customer.id,
            subscription_id,
            kind,
            draft.currency or customer.currency,
            subtotal,
            tax,
            subtotal + tax,
            draft.memo,
            draft.due_at,
            draft.metadata,
        )
        line_rows = await insert_lines(connection, tenant_id, invoice_id, draft.lines, phrases)
    return _invoice(row, [line_from_row(line_row) for line_row in line_rows])


async def _with_lines(db: Db, tenant_id: int, rows: Sequence[Any]) -> list[Invoice]:
    if not rows:
        return []
    line_rows = await db.fetch(
        f"SELECT {LINE_COLUMNS} FROM invoice_lines "
        "WHERE tenant_id = $1 AND invoice_id = ANY($2::text[]) ORDER BY invoice_id, position",
        tenant_id,
        [row["id"] for row in rows],
    )
    by_invoice: dict[str, list[InvoiceLine]] = {}
    for line_row in line_rows:
        by_invoice.setdefault(line_row["invoice_id"], []).append(line_from_row(line_row))
    return [_invoice(row, by_invoice.get(row["id"], [])) for row in rows]


async def get_invoice(db: Db, *, tenant_id: int, invoice_id: str) -> Invoice:
    """The tenant's invoice with its lines; NotFound otherwise."""
    if not is_public_id(invoice_id, "in"):
        raise NotFound("invoice", invoice_id)
    row = await db.fetchrow(
        f"SELECT {INVOICE_COLUMNS} FROM invoices WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        invoice_id,
    )
    if row is None:
        raise NotFound("invoice", invoice_id)
    return (await _with_lines(db, tenant_id, [row]))[0]


async def list_invoices(
    db: Db,
    *,
    tenant_id: int,
    customer_id: str | None = None,
    status: str | None = None,
    limit: int = 20,
    starting_after: str | None = None,
) -> tuple[list[Invoice], bool]:
    """The tenant's invoices with their lines, newest first, optionally filtered."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(
            {"status": "must be one of " + ", ".join(STATUSES)}, {"status": "not_allowed"}
        )
    conditions: list[tuple[str, Any]] = []
    if customer_id is not None:
        conditions.append(("customer_id", customer_id))
    if status is not None:
        conditions.append(("status", status))
    rows, has_more = await fetch_page(
        db,
        table="invoices",
        columns=INVOICE_COLUMNS,
        tenant_id=tenant_id,
        limit=limit,
        starting_after=starting_after,
        conditions=conditions,
    )
    return await _with_lines(db, tenant_id, rows), has_more


async def recent_customer_invoices(
    db: Db,
    *,
    tenant_id: int,
    customer_id: str,
    statuses: Sequence[str],
    limit: int,
    with_lines: bool = True,
) -> list[Invoice]:
    """The customer's `limit` newest invoices in one of `statuses`, with their lines.

    `with_lines=False` leaves every invoice's `lines` empty and saves a query, for a
    list that shows only numbers, dates, statuses and totals.
    """
    rows = await db.fetch(
        f"SELECT {INVOICE_COLUMNS} FROM invoices "
        "WHERE tenant_id = $1 AND customer_id = $2 AND status = ANY($3::text[]) "
        "ORDER BY created_at DESC, id DESC LIMIT $4",
        tenant_id,
        customer_id,
        list(statuses),
        limit,
    )
    if not with_lines:
        return [_invoice(row, []) for row in rows]
    return await _with_lines(db, tenant_id, rows)


async def _lock(connection: Any, tenant_id: int, invoice_id: str) -> Any:
    if not is_public_id(invoice_id, "in"):
        raise NotFound("invoice", invoice_id)
    row = await connection.fetchrow(
        f"SELECT {INVOICE_COLUMNS} FROM invoices WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        tenant_id,
        invoice_id,
    )
    if row is None:
        raise NotFound("invoice", invoice_id)
    return row


async def finalize_invoice(db: Db, *, tenant_id: int, invoice_id: str) -> Invoice:
    """draft -> open with the tenant's next number ("ALPEAK-0001"); Conflict otherwise.

    Every path that issues an invoice (the API, checkout, top-ups, renewals) comes
    here: the number and the snapshot of seller, buyer, brand and language
    (`billing.invoice_snapshots`) are written in one transaction.
    """
    async with transaction(db) as connection:
        row = await _lock(connection, tenant_id, invoice_id)
        if row["status"] != "draft":
            raise Conflict(f"only a draft can be finalized; this invoice is {row['status']}")
        lines = await connection.fetchval(
            "SELECT count(*) FROM invoice_lines WHERE tenant_id = $1 AND invoice_id = $2",
            tenant_id,
            invoice_id,
        )
        if not lines:
            raise Conflict("an invoice without lines cannot be finalized", field="lines")
        # The counter's row lock serialises numbering: it moves only when an invoice is
        # finalized in this same transaction, so numbers have no gaps.
        numbering = await connection.fetchrow(
            "UPDATE invoice_numbering SET next_number = next_number + 1 WHERE tenant_id = $1 "
            "RETURNING prefix, next_number - 1 AS number",
            tenant_id,
        )
        assert numbering is not None  # made with the tenant (migration 0006)
        number = f"{numbering['prefix']}-{numbering['number']:04d}"
        snapshot = await take_snapshot(
            connection, tenant_id=tenant_id, customer_id=row["customer_id"]
        )
        await connection.execute(
            "UPDATE invoices SET status = 'open', number = $3, finalized_at = now(), "
            "due_at = coalesce(due_at, now() + $4::interval), snapshot = $5, updated_at = now() "
            "WHERE tenant_id = $1 AND id = $2",
            tenant_id,
            invoice_id,
            number,
            timedelta(days=DEFAULT_DUE_DAYS),
            snapshot,
        )
        return await get_invoice(connection, tenant_id=tenant_id, invoice_id=invoice_id)


async def void_invoice(db: Db, *, tenant_id: int, invoice_id: str) -> Invoice:
    """open -> void (the number stays used); Conflict from any other status."""
    async with transaction(db) as connection:
        row = await _lock(connection, tenant_id, invoice_id)
        if row["status"] != "open":
            raise Conflict(f"only an open invoice can be voided; this invoice is {row['status']}")
        await connection.execute(
            "UPDATE invoices SET status = 'void', voided_at = now(), updated_at = now() "
            "WHERE tenant_id = $1 AND id = $2",
            tenant_id,
            invoice_id,
        )
        return await get_invoice(connection, tenant_id=tenant_id, invoice_id=invoice_id)


async def mark_paid(
    db: Db, *, tenant_id: int, invoice_id: str, stripe_payment_intent_id: str | None = None
) -> Invoice:
    """open -> paid in full; Conflict from any other status."""
    async with transaction(db) as connection:
        row = await _lock(connection, tenant_id, invoice_id)
        if row["status"] != "open":
            raise Conflict(f"only an open invoice can be paid; this invoice is {row['status']}")
        await connection.execute(
            "UPDATE invoices SET status = 'paid', paid_at = now(), amount_paid = total, "
            "stripe_payment_intent_id = coalesce($3, stripe_payment_intent_id), "
            "updated_at = now() WHERE tenant_id = $1 AND id = $2",
            tenant_id,
            invoice_id,
            stripe_payment_intent_id,
        )
        return await get_invoice(connection, tenant_id=tenant_id, invoice_id=invoice_id)

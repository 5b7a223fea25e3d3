"""Invoices: drafts with lines, then final (numbered, immutable) documents.

Amounts: a line's amount is unit_amount x quantity; its tax is rounded half-up
to a minor unit per line; the invoice's subtotal, tax and total are the sums.
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
from billing.money import MAX_AMOUNT, tax_for, validate_currency
from billing.pagination import fetch_page
from billing.subscriptions import parse_instant
from billing.validation import FieldErrors
from kernel.db import Connection, Db, transaction
from kernel.ids import is_public_id, new_id

Status = Literal["draft", "open", "paid", "void", "uncollectible"]
Kind = Literal["one_off", "subscription", "wallet_topup", "checkout"]
STATUSES: tuple[str, ...] = get_args(Status)
KINDS: tuple[str, ...] = get_args(Kind)
MAX_LINES = 100
DEFAULT_DUE_DAYS = 30
CREATE_FIELDS = frozenset({"customer", "currency", "lines", "memo", "due_at", "metadata"})
LINE_FIELDS = frozenset({"description", "quantity", "unit_amount", "tax_rate_bps"})

INVOICE_COLUMNS = (
    "id, customer_id, subscription_id, number, kind, status, currency, subtotal, tax, total, "
    "amount_paid, memo, due_at, finalized_at, paid_at, voided_at, metadata, created_at, "
    "updated_at"
)
LINE_COLUMNS = (
    "id, invoice_id, description, quantity, unit_amount, amount, tax_rate_bps, period_start, "
    "period_end"
)


@dataclass(frozen=True, kw_only=True)
class InvoiceLine:
    id: str
    description: str
    quantity: int
    unit_amount: int
    amount: int
    tax_rate_bps: int
    period_start: datetime | None
    period_end: datetime | None

    @property
    def tax(self) -> int:
        """This line's tax, rounded half-up to a minor unit."""
        return tax_for(self.amount, self.tax_rate_bps)


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

    @property
    def amount_due(self) -> int:
        return 0 if self.status in ("void", "draft") else self.total - self.amount_paid


def _line(row: Any) -> InvoiceLine:
    return InvoiceLine(**{name: row[name] for name in InvoiceLine.__dataclass_fields__})


def _invoice(row: Any, lines: list[InvoiceLine]) -> Invoice:
    values = {name: row[name] for name in Invoice.__dataclass_fields__ if name != "lines"}
    return Invoice(**values, lines=lines)


def _lines(errors: FieldErrors, value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, Sequence) or isinstance(value, str):
        errors.add("lines", "must be a list of lines", "wrong_type")
        return []
    if len(value) > MAX_LINES:
        errors.add("lines", f"must have at most {MAX_LINES} lines", "too_long")
        return []
    found = []
    for index, raw in enumerate(value):
        at = f"lines.{index}"
        if not isinstance(raw, Mapping):
            errors.add(at, "must be an object", "wrong_type")
            continue
        for name in raw:
            if name not in LINE_FIELDS:
                errors.add(f"{at}.{name}", "unknown field", "unknown_field")
        found.append(
            {
                "description": validation.text(
                    errors,
                    f"{at}.description",
                    raw.get("description"),
                    maximum=500,
                    required=True,
                ),
                "quantity": validation.integer(
                    errors,
                    f"{at}.quantity",
                    raw.get("quantity", 1),
                    minimum=1,
                    maximum=1_000_000,
                ),
                "unit_amount": validation.integer(
                    errors,
                    f"{at}.unit_amount",
                    raw.get("unit_amount"),
                    minimum=0,
                    maximum=MAX_AMOUNT,
                ),
                "tax_rate_bps": validation.integer(
                    errors,
                    f"{at}.tax_rate_bps",
                    raw.get("tax_rate_bps", 0),
                    minimum=0,
                    maximum=10_000,
                ),
            }
        )
    return found


def compute_totals(lines: Sequence[Mapping[str, int]]) -> tuple[int, int]:
    """(subtotal, tax) of lines given as quantity, unit_amount and tax_rate_bps; tax per line."""
    subtotal = tax = 0
    for line in lines:
        amount = line["unit_amount"] * line["quantity"]
        subtotal += amount
        tax += tax_for(amount, line["tax_rate_bps"])
    return subtotal, tax


async def create_invoice(
    db: Db,
    *,
    tenant_id: int,
    data: Mapping[str, Any],
    kind: str = "one_off",
    subscription_id: str | None = None,
) -> Invoice:
    """A draft invoice from API-shaped `data`; the currency defaults to the customer's."""
    if kind not in KINDS:
        raise ValueError(f"unknown invoice kind {kind!r}")
    errors = FieldErrors()
    for name in data:
        if name not in CREATE_FIELDS:
            errors.add(name, "unknown field", "unknown_field")
    lines = _lines(errors, data.get("lines"))
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
    try:
        customer = await get_customer(db, tenant_id=tenant_id, customer_id=customer_id)
    except NotFound:
        raise InvalidInput({"customer": "no such customer"}) from None
    subtotal, tax = compute_totals(lines)
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
            currency or customer.currency,
            subtotal,
            tax,
            subtotal + tax,
            memo,
            due_at,
            metadata,
        )
        line_rows = await _insert_lines(connection, tenant_id, invoice_id, lines)
    return _invoice(row, [_line(line_row) for line_row in line_rows])


async def _insert_lines(
    connection: Connection, tenant_id: int, invoice_id: str, lines: Sequence[Mapping[str, Any]]
) -> list[Any]:
    """Store the invoice's lines in their order; the stored rows."""
    return [
        await connection.fetchrow(
            "INSERT INTO invoice_lines (id, tenant_id, invoice_id, position, description, "
            "quantity, unit_amount, amount, tax_rate_bps) "
            f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {LINE_COLUMNS}",
            new_id("il"),
            tenant_id,
            invoice_id,
            position,
            line["description"],
            line["quantity"],
            line["unit_amount"],
            line["unit_amount"] * line["quantity"],
            line["tax_rate_bps"],
        )
        for position, line in enumerate(lines)
    ]


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
        by_invoice.setdefault(line_row["invoice_id"], []).append(_line(line_row))
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
    db: Db, *, tenant_id: int, customer_id: str, statuses: Sequence[str], limit: int
) -> list[Invoice]:
    """The customer's `limit` newest invoices in one of `statuses`, with their lines."""
    rows = await db.fetch(
        f"SELECT {INVOICE_COLUMNS} FROM invoices "
        "WHERE tenant_id = $1 AND customer_id = $2 AND status = ANY($3::text[]) "
        "ORDER BY created_at DESC, id DESC LIMIT $4",
        tenant_id,
        customer_id,
        list(statuses),
        limit,
    )
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
    """draft -> open with the tenant's next number ("ALPEAK-0001"); Conflict otherwise."""
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
        await connection.execute(
            "UPDATE invoices SET status = 'open', number = $3, finalized_at = now(), "
            "due_at = coalesce(due_at, now() + $4::interval), updated_at = now() "
            "WHERE tenant_id = $1 AND id = $2",
            tenant_id,
            invoice_id,
            number,
            timedelta(days=DEFAULT_DUE_DAYS),
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

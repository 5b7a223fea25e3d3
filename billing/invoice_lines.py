"""The lines of an invoice: how they are checked, totalled and stored.

A line's amount is unit_amount x quantity; its tax is rounded half-up to a minor
unit per line, and an invoice's subtotal and tax are the sums over its lines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billing import validation
from billing.money import MAX_AMOUNT, tax_for
from billing.validation import FieldErrors
from kernel.db import Connection
from kernel.ids import new_id

MAX_LINES = 100
LINE_FIELDS = frozenset({"description", "quantity", "unit_amount", "tax_rate_bps"})
LINE_COLUMNS = (
    "id, invoice_id, description, quantity, unit_amount, amount, tax_rate_bps, period_start, "
    "period_end, phrase"
)


@dataclass(frozen=True, kw_only=True)
class Phrase:
    """A line's words as a gettext message and its values: "Wallet credits: %(wallet)s"."""

    message: str
    values: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        return {"message": self.message, "values": self.values}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Phrase | None:
        if not data:
            return None
        return cls(message=str(data["message"]), values=dict(data.get("values") or {}))

    def say(self, gettext: Callable[[str], str]) -> str:
        """The words in the language of `gettext`."""
        return gettext(self.message) % self.values


@dataclass(frozen=True, kw_only=True)
class InvoiceLine:
    """One stored line: its amount is unit_amount x quantity, its tax computed from that."""

    id: str
    description: str
    quantity: int
    unit_amount: int
    amount: int
    tax_rate_bps: int
    period_start: datetime | None
    period_end: datetime | None
    # Words the product wrote (a top-up, a free trial), said in each document's language.
    phrase: Phrase | None = None

    def described(self, gettext: Callable[[str], str]) -> str:
        """The description in the language of `gettext`: the phrase's words, else as written."""
        return self.phrase.say(gettext) if self.phrase is not None else self.description

    @property
    def tax(self) -> int:
        """This line's tax, rounded half-up to a minor unit."""
        return tax_for(self.amount, self.tax_rate_bps)


def line_from_row(row: Any) -> InvoiceLine:
    """An invoice line from a row of LINE_COLUMNS."""
    values = {name: row[name] for name in InvoiceLine.__dataclass_fields__ if name != "phrase"}
    return InvoiceLine(**values, phrase=Phrase.from_json(row["phrase"]))


def check_lines(errors: FieldErrors, value: Any) -> list[dict[str, Any]]:
    """Lines given to a new invoice, each field checked; problems go to `errors` by path."""
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


async def insert_lines(
    connection: Connection,
    tenant_id: int,
    invoice_id: str,
    lines: Sequence[Mapping[str, Any]],
    phrases: Sequence[Phrase | None] = (),
) -> list[Any]:
    """Store the invoice's lines in their order (with `phrases` by position); the stored rows."""
    said = [phrase.as_json() if phrase else None for phrase in phrases]
    said += [None] * (len(lines) - len(said))
    return [
        await connection.fetchrow(
            "INSERT INTO invoice_lines (id, tenant_id, invoice_id, position, description, "
            "quantity, unit_amount, amount, tax_rate_bps, phrase) "
            f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {LINE_COLUMNS}",
            new_id("il"),
            tenant_id,
            invoice_id,
            position,
            line["description"],
            line["quantity"],
            line["unit_amount"],
            line["unit_amount"] * line["quantity"],
            line["tax_rate_bps"],
            said[position],
        )
        for position, line in enumerate(lines)
    ]

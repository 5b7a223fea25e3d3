"""Payment methods (cards) saved for a customer; one of them may be the default."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billing.customers import get_customer
from billing.validation import FieldErrors
from kernel import clock
from kernel.db import Connection, Db, transaction
from kernel.ids import new_id

CARD_BRANDS = ("visa", "mastercard", "amex", "discover", "diners", "jcb", "unionpay", "card")
PAYMENT_METHOD_COLUMNS = (
    "id, customer_id, brand, last4, exp_month, exp_year, is_default, status, "
    "stripe_payment_method_id, created_at"
)


@dataclass(frozen=True, kw_only=True)
class PaymentMethod:
    id: str
    customer_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    is_default: bool
    status: str
    stripe_payment_method_id: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> PaymentMethod:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    def expired(self, now: datetime | None = None) -> bool:
        """Whether the card's expiry month is over at `now` (valid through their month)."""
        today = now or clock.utc_now()
        return (self.exp_year, self.exp_month) < (today.year, today.month)


async def list_payment_methods(db: Db, *, tenant_id: int, customer_id: str) -> list[PaymentMethod]:
    """The customer's active payment methods, the default first, then newest first.

    NotFound when the tenant has no such customer.
    """
    await get_customer(db, tenant_id=tenant_id, customer_id=customer_id)
    return await active_payment_methods(db, tenant_id=tenant_id, customer_id=customer_id)


async def active_payment_methods(
    db: Db, *, tenant_id: int, customer_id: str
) -> list[PaymentMethod]:
    """As `list_payment_methods`, for a customer the caller already holds (no existence check)."""
    rows = await db.fetch(
        f"SELECT {PAYMENT_METHOD_COLUMNS} FROM payment_methods "
        "WHERE tenant_id = $1 AND customer_id = $2 AND status = 'active' "
        "ORDER BY is_default DESC, created_at DESC, id DESC",
        tenant_id,
        customer_id,
    )
    return [PaymentMethod.from_row(row) for row in rows]


def _check_card(*, brand: str, last4: str, exp_month: int, exp_year: int) -> None:
    """InvalidInput naming every field of the card that is wrong."""
    errors = FieldErrors()
    if brand not in CARD_BRANDS:
        errors.add("brand", "must be one of " + ", ".join(CARD_BRANDS), "not_allowed")
    if not (isinstance(last4, str) and len(last4) == 4 and last4.isascii() and last4.isdigit()):
        errors.add("last4", "must be the last four digits of the card")
    if isinstance(exp_month, bool) or not isinstance(exp_month, int) or not 1 <= exp_month <= 12:
        errors.add("exp_month", "must be a month number from 1 to 12", "out_of_range")
    if isinstance(exp_year, bool) or not isinstance(exp_year, int) or not 2000 <= exp_year <= 2200:
        errors.add("exp_year", "must be a four-digit year")
    errors.raise_if_any()


async def add_card(
    db: Db,
    *,
    tenant_id: int,
    customer_id: str,
    brand: str,
    last4: str,
    exp_month: int,
    exp_year: int,
    stripe_payment_method_id: str | None = None,
    make_default: bool = True,
) -> PaymentMethod:
    """Save a card for the customer; with `make_default` it replaces the current default."""
    _check_card(brand=brand, last4=last4, exp_month=exp_month, exp_year=exp_year)
    await get_customer(db, tenant_id=tenant_id, customer_id=customer_id)
    async with transaction(db) as connection:
        # Lock the customer so two cards added at once cannot both become the default.
        await connection.execute(
            "SELECT 1 FROM customers WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            tenant_id,
            customer_id,
        )
        has_default = await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM payment_methods WHERE tenant_id = $1 "
            "AND customer_id = $2 AND is_default)",
            tenant_id,
            customer_id,
        )
        # The first card is the default whatever the caller asked: a customer with
        # cards always has one to charge.
        default = make_default or not has_default
        if default and has_default:
            await connection.execute(
                "UPDATE payment_methods SET is_default = false "
                "WHERE tenant_id = $1 AND customer_id = $2 AND is_default",
                tenant_id,
                customer_id,
            )
        row = await connection.fetchrow(
            "INSERT INTO payment_methods (id, tenant_id, customer_id, stripe_payment_method_id, "
            "brand, last4, exp_month, exp_year, is_default) "
            f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {PAYMENT_METHOD_COLUMNS}",
            new_id("pm"),
            tenant_id,
            customer_id,
            stripe_payment_method_id,
            brand,
            last4,
            exp_month,
            exp_year,
            default,
        )
    return PaymentMethod.from_row(row)


async def switch_default(
    connection: Connection, *, tenant_id: int, customer_id: str, card_id: str
) -> tuple[str | None, Any]:
    """Make `card_id` the customer's default card, in the caller's transaction.

    Returns (the id of the card that was the default, or None; the updated card's row).
    Two changes at once are ordered by the customer's row lock where the caller takes it
    (the portal's "make default" does).
    """
    previous = await connection.fetchval(
        "UPDATE payment_methods SET is_default = false "
        "WHERE tenant_id = $1 AND customer_id = $2 AND is_default RETURNING id",
        tenant_id,
        customer_id,
    )
    row = await connection.fetchrow(
        "UPDATE payment_methods SET is_default = true WHERE tenant_id = $1 AND id = $2 "
        f"RETURNING {PAYMENT_METHOD_COLUMNS}",
        tenant_id,
        card_id,
    )
    return previous, row

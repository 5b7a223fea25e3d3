"""The priced items of a subscription: what each costs per period, and how they are checked.

Every item of a subscription shares the first item's interval. A `flat` item
costs `unit_amount` per period whatever its quantity; a `per_unit` item costs
`unit_amount` x `quantity`. Tax is rounded half-up per item, as on invoices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from billing import validation
from billing.money import MAX_AMOUNT, tax_for
from billing.periods import INTERVALS
from billing.validation import FieldErrors
from kernel.db import Connection
from kernel.ids import new_id

PriceModel = Literal["flat", "per_unit"]
PRICE_MODELS: tuple[str, ...] = get_args(PriceModel)
MAX_ITEMS = 20
ITEM_FIELDS = frozenset(
    {"name", "unit_amount", "quantity", "interval", "interval_count", "price_model", "tax_rate_bps"}
)
ITEM_COLUMNS = (
    "id, subscription_id, name, price_model, unit_amount, quantity, billing_interval, "
    "interval_count, tax_rate_bps"
)


@dataclass(frozen=True, kw_only=True)
class SubscriptionItem:
    id: str
    name: str
    price_model: str  # "flat": unit_amount per period; "per_unit": unit_amount x quantity
    unit_amount: int
    quantity: int
    billing_interval: str
    interval_count: int
    tax_rate_bps: int = 0  # 2000 = 20%

    @property
    def amount(self) -> int:
        """What this item costs per period before tax, in minor units."""
        return self.unit_amount if self.price_model == "flat" else self.unit_amount * self.quantity

    @property
    def tax(self) -> int:
        """The tax on one period of this item, rounded half-up to a minor unit."""
        return tax_for(self.amount, self.tax_rate_bps)


def item_from_row(row: Any) -> SubscriptionItem:
    return SubscriptionItem(
        id=row["id"],
        name=row["name"],
        price_model=row["price_model"],
        unit_amount=row["unit_amount"],
        quantity=row["quantity"],
        billing_interval=row["billing_interval"],
        interval_count=row["interval_count"],
        tax_rate_bps=row["tax_rate_bps"],
    )


def parse_items(errors: FieldErrors, value: Any) -> list[dict[str, Any]]:
    """The items of a create request as column values; their mistakes added to `errors`."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        errors.add("items", "must be a list of items", "wrong_type")
        return []
    if not 1 <= len(value) <= MAX_ITEMS:
        errors.add("items", f"must have 1 to {MAX_ITEMS} items", "too_long")
        return []
    found: list[dict[str, Any]] = []
    for index, raw in enumerate(value):
        at = f"items.{index}"
        if not isinstance(raw, Mapping):
            errors.add(at, "must be an object", "wrong_type")
            continue
        found.append(_parse_item(errors, at, raw))
    if found and not errors.errors:
        first = (found[0]["interval"], found[0]["interval_count"])
        for index, item in enumerate(found[1:], start=1):
            if (item["interval"], item["interval_count"]) != first:
                errors.add(
                    f"items.{index}.interval",
                    "every item of a subscription must share the first item's interval",
                )
    return found


def _parse_item(errors: FieldErrors, at: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    for field in raw:
        if field not in ITEM_FIELDS:
            errors.add(f"{at}.{field}", "unknown field", "unknown_field")
    interval = raw.get("interval", "month")
    if interval not in INTERVALS:
        errors.add(f"{at}.interval", "must be one of " + ", ".join(INTERVALS), "not_allowed")
    price_model = raw.get("price_model", "per_unit")
    if price_model not in PRICE_MODELS:
        errors.add(f"{at}.price_model", "must be one of " + ", ".join(PRICE_MODELS), "not_allowed")

    def integer(field: str, default: int | None, minimum: int, maximum: int) -> int | None:
        return validation.integer(
            errors, f"{at}.{field}", raw.get(field, default), minimum=minimum, maximum=maximum
        )

    return {
        "name": validation.text(
            errors, f"{at}.name", raw.get("name"), maximum=200, required=True, one_line=True
        ),
        "unit_amount": integer("unit_amount", None, 0, MAX_AMOUNT),
        "quantity": integer("quantity", 1, 1, 1_000_000),
        "interval": interval,
        "interval_count": integer("interval_count", 1, 1, 36),
        "price_model": price_model,
        "tax_rate_bps": integer("tax_rate_bps", 0, 0, 10_000),
    }


async def insert_items(
    connection: Connection, *, tenant_id: int, subscription_id: str, items: list[dict[str, Any]]
) -> list[SubscriptionItem]:
    """Store checked items (from `parse_items`) in their order."""
    return [
        item_from_row(
            await connection.fetchrow(
                "INSERT INTO subscription_items (id, tenant_id, subscription_id, position, "
                "name, price_model, unit_amount, quantity, billing_interval, interval_count, "
                "tax_rate_bps) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
                f"RETURNING {ITEM_COLUMNS}",
                new_id("si"),
                tenant_id,
                subscription_id,
                position,
                item["name"],
                item["price_model"],
                item["unit_amount"],
                item["quantity"],
                item["interval"],
                item["interval_count"],
                item["tax_rate_bps"],
            )
        )
        for position, item in enumerate(items)
    ]

"""The priced lines of a checkout session: what each costs, its tax, and how they are checked.

Each line may carry a tax rate (basis points); its tax is rounded half-up per
line, as on invoices. Every recurring line shares one interval, and a line may
name the session's currency but no other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from billing import validation
from billing.errors import InvalidInput
from billing.money import MAX_AMOUNT, tax_for, validate_currency
from billing.periods import INTERVALS
from billing.validation import FieldErrors

MAX_LINE_ITEMS = 20
LINE_ITEM_FIELDS = frozenset(
    {"name", "unit_amount", "quantity", "interval", "interval_count", "tax_rate_bps", "currency"}
)
MAX_TAX_RATE_BPS = 10_000


@dataclass(frozen=True, kw_only=True)
class CheckoutLineItem:
    name: str
    unit_amount: int
    quantity: int
    interval: str | None  # None: charged once; else recurring every interval_count intervals
    interval_count: int
    tax_rate_bps: int = 0  # 2000 = 20%; sessions stored before tax existed read as untaxed

    @property
    def amount(self) -> int:
        """Before tax."""
        return self.unit_amount * self.quantity

    @property
    def tax(self) -> int:
        """This line's tax, rounded half-up to a minor unit (as on its invoice line)."""
        return tax_for(self.amount, self.tax_rate_bps)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit_amount": self.unit_amount,
            "quantity": self.quantity,
            "interval": self.interval,
            "interval_count": self.interval_count,
            "tax_rate_bps": self.tax_rate_bps,
        }


def amount_total(items: Sequence[CheckoutLineItem], *, trial: bool) -> int:
    """What completing the session charges now, tax included: a trial defers recurring items."""
    return sum(item.amount + item.tax for item in items if item.interval is None or not trial)


def line_items(
    errors: FieldErrors, value: Any, currency: str | None
) -> tuple[list[CheckoutLineItem], str | None]:
    """The valid items, and the currency they name (checked against `currency` and each other).

    A line item may repeat the session's currency; one that names another is the
    "mixed currencies" mistake and is refused naming that item.
    """
    items = _items(errors, value)
    if not isinstance(value, Sequence) or isinstance(value, str):
        return items, None
    named = currency
    for index, raw in enumerate(value[:MAX_LINE_ITEMS]):
        if not isinstance(raw, Mapping) or raw.get("currency") is None:
            continue
        at = f"line_items.{index}.currency"
        try:
            code = validate_currency(raw["currency"], at)
        except InvalidInput as error:
            errors.merge(error)
            continue
        if named is None:
            named = code
        elif code != named:
            errors.add(
                at, f"must be {named} like the rest of the session: one currency per session"
            )
    return items, named


def _items(errors: FieldErrors, value: Any) -> list[CheckoutLineItem]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        errors.add("line_items", "must be a list of items", "wrong_type")
        return []
    if not 1 <= len(value) <= MAX_LINE_ITEMS:
        errors.add("line_items", f"must have 1 to {MAX_LINE_ITEMS} items", "too_long")
        return []
    found: list[CheckoutLineItem] = []
    for index, raw in enumerate(value):
        at = f"line_items.{index}"
        if not isinstance(raw, Mapping):
            errors.add(at, "must be an object", "wrong_type")
            continue
        item = _item(errors, at, raw)
        if item is not None:
            found.append(item)
    _check_one_interval(errors, found)
    return found


def _item(errors: FieldErrors, at: str, raw: Mapping[str, Any]) -> CheckoutLineItem | None:
    """The line item at `at`, or None with its mistakes added to `errors`."""
    for field in raw:
        if field not in LINE_ITEM_FIELDS:
            errors.add(f"{at}.{field}", "unknown field", "unknown_field")
    interval = raw.get("interval")
    if interval is not None and interval not in INTERVALS:
        errors.add(f"{at}.interval", "must be one of " + ", ".join(INTERVALS), "not_allowed")
    name = validation.text(
        errors, f"{at}.name", raw.get("name"), maximum=200, required=True, one_line=True
    )
    unit_amount = validation.integer(
        errors, f"{at}.unit_amount", raw.get("unit_amount"), minimum=0, maximum=MAX_AMOUNT
    )
    quantity = validation.integer(
        errors, f"{at}.quantity", raw.get("quantity", 1), minimum=1, maximum=1_000_000
    )
    count = validation.integer(
        errors, f"{at}.interval_count", raw.get("interval_count", 1), minimum=1, maximum=36
    )
    tax_rate = validation.integer(
        errors,
        f"{at}.tax_rate_bps",
        raw.get("tax_rate_bps", 0),
        minimum=0,
        maximum=MAX_TAX_RATE_BPS,
    )
    if unit_amount is not None and quantity and unit_amount * quantity > MAX_AMOUNT:
        errors.add(f"{at}.quantity", "unit_amount x quantity is too large", "out_of_range")
        return None
    if name is None or unit_amount is None or not quantity or not count:
        return None
    return CheckoutLineItem(
        name=name,
        unit_amount=unit_amount,
        quantity=quantity,
        interval=interval if interval in INTERVALS else None,
        interval_count=count,
        tax_rate_bps=tax_rate if tax_rate is not None else 0,
    )


def _check_one_interval(errors: FieldErrors, items: list[CheckoutLineItem]) -> None:
    """Every recurring item must share the first recurring item's interval."""
    recurring = [(index, item) for index, item in enumerate(items) if item.interval is not None]
    for index, item in recurring[1:]:
        first = recurring[0][1]
        if (item.interval, item.interval_count) != (first.interval, first.interval_count):
            errors.add(
                f"line_items.{index}.interval",
                "every recurring item must share the first recurring item's interval",
            )

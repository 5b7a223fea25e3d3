"""Subscriptions: a customer's recurring plan made of priced items sharing one interval.

Currency rule: a subscription bills in the customer's currency unless the call
names another one explicitly; then that currency is used for every item.
A trial (1-730 days) makes the first period the trial itself, status
`trialing`. Cancelling at period end keeps the subscription until its current
period ends; reads then show it as canceled (settled lazily, on read).
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
from billing.periods import INTERVALS, add_interval
from billing.validation import FieldErrors
from kernel import clock
from kernel.db import Db, transaction
from kernel.ids import is_public_id, new_id

Status = Literal["incomplete", "trialing", "active", "past_due", "paused", "canceled"]
PriceModel = Literal["flat", "per_unit"]
STATUSES: tuple[str, ...] = get_args(Status)
PRICE_MODELS: tuple[str, ...] = get_args(PriceModel)
MAX_ITEMS = 20
MAX_TRIAL_DAYS = 730
CREATE_FIELDS = frozenset(
    {"customer", "plan_name", "currency", "items", "trial_days", "start", "metadata"}
)
ITEM_FIELDS = frozenset(
    {"name", "unit_amount", "quantity", "interval", "interval_count", "price_model", "tax_rate_bps"}
)

SUBSCRIPTION_COLUMNS = (
    "id, customer_id, status, plan_name, currency, current_period_start, current_period_end, "
    "cancel_at_period_end, canceled_at, trial_end, metadata, created_at, updated_at"
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


@dataclass(frozen=True, kw_only=True)
class Subscription:
    id: str
    customer_id: str
    status: str
    plan_name: str
    currency: str
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    canceled_at: datetime | None
    trial_end: datetime | None
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime
    items: list[SubscriptionItem]


@dataclass(frozen=True, kw_only=True)
class UpcomingLine:
    """A line the next invoice of a subscription will contain."""

    description: str
    quantity: int
    unit_amount: int
    amount: int
    period_start: datetime
    period_end: datetime
    tax_rate_bps: int = 0

    @property
    def tax(self) -> int:
        """This line's tax, rounded half-up to a minor unit (as on invoice lines)."""
        return tax_for(self.amount, self.tax_rate_bps)


def _subscription(row: Any, items: list[SubscriptionItem]) -> Subscription:
    return Subscription(
        id=row["id"],
        customer_id=row["customer_id"],
        status=row["status"],
        plan_name=row["plan_name"],
        currency=row["currency"],
        current_period_start=row["current_period_start"],
        current_period_end=row["current_period_end"],
        cancel_at_period_end=row["cancel_at_period_end"],
        canceled_at=row["canceled_at"],
        trial_end=row["trial_end"],
        metadata=row["metadata"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        items=items,
    )


def _item(row: Any) -> SubscriptionItem:
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


def parse_instant(errors: FieldErrors, field: str, value: Any) -> datetime | None:
    """An ISO 8601 instant with a UTC offset (string or aware datetime), or None with an error."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            errors.add(
                field, "must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z", "wrong_type"
            )
            return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        errors.add(field, "must be an ISO 8601 date-time with a time zone offset", "wrong_type")
        return None
    return value


def _items(errors: FieldErrors, value: Any) -> list[dict[str, Any]]:
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
        for name in raw:
            if name not in ITEM_FIELDS:
                errors.add(f"{at}.{name}", "unknown field", "unknown_field")
        interval = raw.get("interval", "month")
        if interval not in INTERVALS:
            errors.add(f"{at}.interval", "must be one of " + ", ".join(INTERVALS), "not_allowed")
        price_model = raw.get("price_model", "per_unit")
        if price_model not in PRICE_MODELS:
            errors.add(
                f"{at}.price_model", "must be one of " + ", ".join(PRICE_MODELS), "not_allowed"
            )
        found.append(
            {
                "name": validation.text(
                    errors, f"{at}.name", raw.get("name"), maximum=200, required=True, one_line=True
                ),
                "unit_amount": validation.integer(
                    errors,
                    f"{at}.unit_amount",
                    raw.get("unit_amount"),
                    minimum=0,
                    maximum=MAX_AMOUNT,
                ),
                "quantity": validation.integer(
                    errors,
                    f"{at}.quantity",
                    raw.get("quantity", 1),
                    minimum=1,
                    maximum=1_000_000,
                ),
                "interval": interval,
                "interval_count": validation.integer(
                    errors,
                    f"{at}.interval_count",
                    raw.get("interval_count", 1),
                    minimum=1,
                    maximum=36,
                ),
                "price_model": price_model,
                "tax_rate_bps": validation.integer(
                    errors,
                    f"{at}.tax_rate_bps",
                    raw.get("tax_rate_bps", 0),
                    minimum=0,
                    maximum=10_000,
                ),
            }
        )
    if found and not errors.errors:
        first = (found[0]["interval"], found[0]["interval_count"])
        for index, item in enumerate(found[1:], start=1):
            if (item["interval"], item["interval_count"]) != first:
                errors.add(
                    f"items.{index}.interval",
                    "every item of a subscription must share the first item's interval",
                )
    return found


async def create_subscription(
    db: Db, *, tenant_id: int, data: Mapping[str, Any], now: datetime | None = None
) -> Subscription:
    """Create a subscription from API-shaped `data` (customer, plan_name, items, ...).

    It starts at `data["start"]` (within a year of `now`) or at `now`.
    """
    errors = FieldErrors()
    for name in data:
        if name not in CREATE_FIELDS:
            errors.add(name, "unknown field", "unknown_field")
    plan_name = validation.text(
        errors, "plan_name", data.get("plan_name"), maximum=200, required=True, one_line=True
    )
    items = _items(errors, data.get("items"))
    currency = None
    if data.get("currency") is not None:
        try:
            currency = validate_currency(data["currency"])
        except InvalidInput as error:
            errors.merge(error)
    trial_days = None
    if data.get("trial_days") is not None:
        trial_days = validation.integer(
            errors, "trial_days", data["trial_days"], minimum=1, maximum=MAX_TRIAL_DAYS
        )
    now = now or clock.utc_now()
    start = now
    if data.get("start") is not None:
        start = parse_instant(errors, "start", data["start"]) or now
        if abs(start - now) > timedelta(days=366):
            errors.add("start", "must be within one year of now", "out_of_range")
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
    if trial_days is not None:
        status, trial_end = "trialing", start + timedelta(days=trial_days)
        period_end = trial_end
    else:
        status, trial_end = "active", None
        period_end = add_interval(start, items[0]["interval"], items[0]["interval_count"])
    subscription_id = new_id("sub")
    async with transaction(db) as connection:
        row = await connection.fetchrow(
            "INSERT INTO subscriptions (id, tenant_id, customer_id, status, currency, plan_name, "
            "current_period_start, current_period_end, trial_end, metadata) "
            f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {SUBSCRIPTION_COLUMNS}",
            subscription_id,
            tenant_id,
            customer.id,
            status,
            currency or customer.currency,
            plan_name,
            start,
            period_end,
            trial_end,
            metadata,
        )
        item_rows = []
        for position, item in enumerate(items):
            item_rows.append(
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
    return _subscription(row, [_item(item_row) for item_row in item_rows])


async def _settle_period_end_cancellations(
    db: Db, *, tenant_id: int, now: datetime | None = None
) -> None:
    """Subscriptions set to cancel at period end whose period is over at `now` become canceled."""
    await db.execute(
        "UPDATE subscriptions SET status = 'canceled', canceled_at = current_period_end, "
        "updated_at = now() WHERE tenant_id = $1 AND cancel_at_period_end "
        "AND status <> 'canceled' AND current_period_end <= $2",
        tenant_id,
        now or clock.utc_now(),
    )


async def _with_items(db: Db, tenant_id: int, rows: Sequence[Any]) -> list[Subscription]:
    if not rows:
        return []
    item_rows = await db.fetch(
        f"SELECT {ITEM_COLUMNS} FROM subscription_items "
        "WHERE tenant_id = $1 AND subscription_id = ANY($2::text[]) "
        "ORDER BY subscription_id, position",
        tenant_id,
        [row["id"] for row in rows],
    )
    by_subscription: dict[str, list[SubscriptionItem]] = {}
    for item_row in item_rows:
        by_subscription.setdefault(item_row["subscription_id"], []).append(_item(item_row))
    return [_subscription(row, by_subscription.get(row["id"], [])) for row in rows]


async def get_subscription(db: Db, *, tenant_id: int, subscription_id: str) -> Subscription:
    """The tenant's subscription with its items; NotFound otherwise."""
    if not is_public_id(subscription_id, "sub"):
        raise NotFound("subscription", subscription_id)
    await _settle_period_end_cancellations(db, tenant_id=tenant_id)
    row = await db.fetchrow(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        subscription_id,
    )
    if row is None:
        raise NotFound("subscription", subscription_id)
    return (await _with_items(db, tenant_id, [row]))[0]


async def list_subscriptions(
    db: Db,
    *,
    tenant_id: int,
    customer_id: str | None = None,
    status: str | None = None,
    limit: int = 20,
    starting_after: str | None = None,
) -> tuple[list[Subscription], bool]:
    """The tenant's subscriptions, newest first, optionally of one customer or status."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(
            {"status": "must be one of " + ", ".join(STATUSES)}, {"status": "not_allowed"}
        )
    await _settle_period_end_cancellations(db, tenant_id=tenant_id)
    conditions: list[tuple[str, Any]] = []
    if customer_id is not None:
        conditions.append(("customer_id", customer_id))
    if status is not None:
        conditions.append(("status", status))
    rows, has_more = await fetch_page(
        db,
        table="subscriptions",
        columns=SUBSCRIPTION_COLUMNS,
        tenant_id=tenant_id,
        limit=limit,
        starting_after=starting_after,
        conditions=conditions,
    )
    return await _with_items(db, tenant_id, rows), has_more


async def list_customer_subscriptions(
    db: Db, *, tenant_id: int, customer_id: str, now: datetime | None = None
) -> list[Subscription]:
    """Every subscription of one customer (canceled ones too) as of `now`, newest first."""
    query = (
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions "
        "WHERE tenant_id = $1 AND customer_id = $2 ORDER BY created_at DESC, id DESC"
    )
    rows = await db.fetch(query, tenant_id, customer_id)
    # The portal shows this on every page view: settle (a write) only when one of these
    # is due, rather than on every read.
    now = now or clock.utc_now()
    if any(
        row["cancel_at_period_end"]
        and row["status"] != "canceled"
        and row["current_period_end"] <= now
        for row in rows
    ):
        await _settle_period_end_cancellations(db, tenant_id=tenant_id, now=now)
        rows = await db.fetch(query, tenant_id, customer_id)
    return await _with_items(db, tenant_id, rows)


async def cancel_subscription(
    db: Db, *, tenant_id: int, subscription_id: str, at_period_end: bool
) -> Subscription:
    """Cancel now, or at the end of the current period; Conflict if already canceled."""
    current = await get_subscription(db, tenant_id=tenant_id, subscription_id=subscription_id)
    if current.status == "canceled":
        raise Conflict("the subscription is already canceled")
    if at_period_end:
        sql = "cancel_at_period_end = true"
    else:
        sql = "status = 'canceled', canceled_at = now(), cancel_at_period_end = false"
    row = await db.fetchrow(
        f"UPDATE subscriptions SET {sql}, updated_at = now() "
        "WHERE tenant_id = $1 AND id = $2 AND status <> 'canceled' "
        f"RETURNING {SUBSCRIPTION_COLUMNS}",
        tenant_id,
        subscription_id,
    )
    if row is None:  # canceled by a concurrent request in between
        raise Conflict("the subscription is already canceled")
    return _subscription(row, current.items)


def upcoming_invoice_lines(subscription: Subscription) -> list[UpcomingLine]:
    """What the next invoice will contain: one line per item for the next period.

    Nothing is upcoming for a canceled subscription or one set to cancel at period end.
    """
    if subscription.status == "canceled" or subscription.cancel_at_period_end:
        return []
    if not subscription.items:
        return []
    first = subscription.items[0]
    start = subscription.current_period_end
    end = add_interval(start, first.billing_interval, first.interval_count)
    lines = []
    for item in subscription.items:
        quantity = 1 if item.price_model == "flat" else item.quantity
        lines.append(
            UpcomingLine(
                description=item.name,
                quantity=quantity,
                unit_amount=item.unit_amount,
                amount=item.amount,
                period_start=start,
                period_end=end,
                tax_rate_bps=item.tax_rate_bps,
            )
        )
    return lines

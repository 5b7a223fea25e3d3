"""Subscriptions: a customer's recurring plan made of priced items sharing one interval.

Currency rule: a subscription bills in the customer's currency unless the call
names another one explicitly; then that currency is used for every item.
A trial (1-730 days) makes the first period the trial itself, status
`trialing`. Cancelling at period end keeps the subscription until its current
period ends; the renewal job (billing/renewals.py) then ends it instead of renewing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from billing import validation
from billing.customers import get_customer
from billing.errors import Conflict, InvalidInput, NotFound
from billing.money import tax_for, validate_currency
from billing.pagination import fetch_page
from billing.periods import add_interval
from billing.subscription_items import (
    ITEM_COLUMNS,
    SubscriptionItem,
    insert_items,
    item_from_row,
    parse_items,
)
from billing.subscription_items import MAX_ITEMS as MAX_ITEMS
from billing.subscription_items import PRICE_MODELS as PRICE_MODELS
from billing.subscription_items import PriceModel as PriceModel
from billing.validation import FieldErrors
from kernel import clock
from kernel.db import Db, transaction
from kernel.ids import is_public_id, new_id

Status = Literal["incomplete", "trialing", "active", "past_due", "paused", "unpaid", "canceled"]
STATUSES: tuple[str, ...] = get_args(Status)
# MAX_ITEMS, PRICE_MODELS and PriceModel are imported "as" themselves above: the API's
# request schema reads a subscription's limits from this module.
MAX_TRIAL_DAYS = 730
CREATE_FIELDS = frozenset(
    {"customer", "plan_name", "currency", "items", "trial_days", "start", "metadata"}
)

SUBSCRIPTION_COLUMNS = (
    "id, customer_id, status, plan_name, currency, current_period_start, current_period_end, "
    "cancel_at_period_end, canceled_at, trial_end, metadata, created_at, updated_at"
)


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


def _start(errors: FieldErrors, data: Mapping[str, Any], now: datetime) -> datetime:
    if data.get("start") is None:
        return now
    start = parse_instant(errors, "start", data["start"]) or now
    if abs(start - now) > timedelta(days=366):
        errors.add("start", "must be within one year of now", "out_of_range")
    return start


def _first_period(
    start: datetime, trial_days: int | None, first_item: Mapping[str, Any]
) -> tuple[str, datetime | None, datetime]:
    """(status, trial end, end of the first period): a trial is the first period itself."""
    if trial_days is not None:
        trial_end = start + timedelta(days=trial_days)
        return "trialing", trial_end, trial_end
    return "active", None, add_interval(start, first_item["interval"], first_item["interval_count"])


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
    items = parse_items(errors, data.get("items"))
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
    start = _start(errors, data, now)
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
    status, trial_end, period_end = _first_period(start, trial_days, items[0])
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
        stored = await insert_items(
            connection, tenant_id=tenant_id, subscription_id=subscription_id, items=items
        )
    return _subscription(row, stored)


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
        by_subscription.setdefault(item_row["subscription_id"], []).append(item_from_row(item_row))
    return [_subscription(row, by_subscription.get(row["id"], [])) for row in rows]


async def get_subscription(db: Db, *, tenant_id: int, subscription_id: str) -> Subscription:
    """The tenant's subscription with its items; NotFound otherwise."""
    if not is_public_id(subscription_id, "sub"):
        raise NotFound("subscription", subscription_id)
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
    db: Db, *, tenant_id: int, customer_id: str
) -> list[Subscription]:
    """Every subscription of one customer (canceled ones too), newest first."""
    query = (
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions "
        "WHERE tenant_id = $1 AND customer_id = $2 ORDER BY created_at DESC, id DESC"
    )
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

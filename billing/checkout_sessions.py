"""Checkout sessions: a priced offer a customer pays on the tenant's hosted checkout page.

A session is for an existing customer or carries the details of a new one.
Its currency defaults to the one its line items name, else the customer's (or
the tenant's default for a new customer); items in another currency are refused.
The lines and their tax are billing/checkout_line_items.py; the checks of a new
session's request are billing/checkout_requests.py. `amount_total` is
what is charged at completion, tax included: every one-off item, plus the
recurring items unless a trial defers them. An open session whose
`expires_at` has passed reads as expired (the row is updated lazily on read).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from billing.checkout_line_items import MAX_LINE_ITEMS as MAX_LINE_ITEMS
from billing.checkout_line_items import MAX_TAX_RATE_BPS as MAX_TAX_RATE_BPS
from billing.checkout_line_items import CheckoutLineItem
from billing.checkout_requests import MAX_URL as MAX_URL
from billing.checkout_requests import check_session
from billing.customers import get_customer
from billing.errors import Conflict, InvalidInput, NotFound
from billing.pagination import fetch_page
from kernel import clock
from kernel.db import Db
from kernel.ids import is_public_id, new_id

# MAX_LINE_ITEMS, MAX_TAX_RATE_BPS and MAX_URL are imported "as" themselves above: the API's
# request schema reads a session's limits from this module.
Status = Literal["open", "complete", "expired"]
STATUSES: tuple[str, ...] = get_args(Status)

SESSION_COLUMNS = (
    "id, customer_id, customer_details, status, currency, line_items, amount_total, trial_days, "
    "success_url, cancel_url, expires_at, completed_at, subscription_id, invoice_id, metadata, "
    "created_at, updated_at"
)


@dataclass(frozen=True, kw_only=True)
class CheckoutSession:
    id: str
    customer_id: str | None
    customer_details: dict[str, str] | None
    status: str
    currency: str
    line_items: list[CheckoutLineItem]
    amount_total: int
    trial_days: int | None
    success_url: str
    cancel_url: str | None
    expires_at: datetime
    completed_at: datetime | None
    subscription_id: str | None
    invoice_id: str | None
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> CheckoutSession:
        values = {name: row[name] for name in cls.__dataclass_fields__ if name != "line_items"}
        items = [CheckoutLineItem(**item) for item in row["line_items"]]
        return cls(**values, line_items=items)

    def charged_now(self) -> list[CheckoutLineItem]:
        """The items `amount_total` pays: a trial defers the recurring ones."""
        return [item for item in self.line_items if item.interval is None or not self.trial_days]

    @property
    def amount_subtotal(self) -> int:
        """`amount_total` before tax."""
        return sum(item.amount for item in self.charged_now())

    @property
    def amount_tax(self) -> int:
        """The tax in `amount_total`, summed from per-line rounded amounts."""
        return sum(item.tax for item in self.charged_now())


async def create_checkout_session(
    db: Db,
    *,
    tenant_id: int,
    data: Mapping[str, Any],
    default_currency: str,
    now: datetime | None = None,
) -> CheckoutSession:
    """Create an open session from API-shaped `data`; all field errors at once.

    Without a currency in `data` the customer's applies, else `default_currency`.
    """
    draft = check_session(data, now or clock.utc_now())
    currency = draft.currency
    if draft.customer_id is not None:
        try:
            customer = await get_customer(db, tenant_id=tenant_id, customer_id=draft.customer_id)
        except NotFound:
            raise InvalidInput({"customer": "no such customer"}) from None
        currency = currency or customer.currency
    elif currency is None:
        currency = default_currency
    row = await db.fetchrow(
        "INSERT INTO checkout_sessions (id, tenant_id, customer_id, customer_details, currency, "
        "line_items, amount_total, trial_days, success_url, cancel_url, expires_at, metadata) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
        f"RETURNING {SESSION_COLUMNS}",
        new_id("cs"),
        tenant_id,
        draft.customer_id,
        draft.customer_details,
        currency,
        [item.as_json() for item in draft.items],
        draft.amount_total,
        draft.trial_days,
        draft.success_url,
        draft.cancel_url,
        draft.expires_at,
        draft.metadata,
    )
    return CheckoutSession.from_row(row)


async def _expire_lapsed(db: Db, *, tenant_id: int, session_id: str | None = None) -> None:
    """Open sessions past their expires_at become expired (all of the tenant's, or one)."""
    await db.execute(
        "UPDATE checkout_sessions SET status = 'expired', updated_at = now() "
        "WHERE tenant_id = $1 AND status = 'open' AND expires_at <= $3 "
        "AND ($2::text IS NULL OR id = $2)",
        tenant_id,
        session_id,
        clock.utc_now(),  # the clock that set expires_at judges it (kernel/clock.py)
    )


async def get_checkout_session(db: Db, *, tenant_id: int, session_id: str) -> CheckoutSession:
    """The tenant's session (expired if its time ran out); NotFound otherwise."""
    if not is_public_id(session_id, "cs"):
        raise NotFound("checkout session", session_id)
    await _expire_lapsed(db, tenant_id=tenant_id, session_id=session_id)
    row = await db.fetchrow(
        f"SELECT {SESSION_COLUMNS} FROM checkout_sessions WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        session_id,
    )
    if row is None:
        raise NotFound("checkout session", session_id)
    return CheckoutSession.from_row(row)


async def list_checkout_sessions(
    db: Db,
    *,
    tenant_id: int,
    limit: int = 20,
    starting_after: str | None = None,
    status: str | None = None,
    customer_id: str | None = None,
) -> tuple[list[CheckoutSession], bool]:
    """The tenant's sessions, newest first."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(
            {"status": "must be one of " + ", ".join(STATUSES)}, {"status": "not_allowed"}
        )
    await _expire_lapsed(db, tenant_id=tenant_id)
    conditions: list[tuple[str, Any]] = []
    if status is not None:
        conditions.append(("status", status))
    if customer_id is not None:
        conditions.append(("customer_id", customer_id))
    rows, has_more = await fetch_page(
        db,
        table="checkout_sessions",
        columns=SESSION_COLUMNS,
        tenant_id=tenant_id,
        limit=limit,
        starting_after=starting_after,
        conditions=conditions,
    )
    return [CheckoutSession.from_row(row) for row in rows], has_more


async def expire_checkout_session(db: Db, *, tenant_id: int, session_id: str) -> CheckoutSession:
    """Close an open session now (an expired one stays as is); Conflict if it is complete."""
    current = await get_checkout_session(db, tenant_id=tenant_id, session_id=session_id)
    if current.status == "complete":
        raise Conflict("a completed checkout session cannot be expired")
    if current.status == "expired":
        return current
    row = await db.fetchrow(
        "UPDATE checkout_sessions SET status = 'expired', expires_at = least(expires_at, $3), "
        "updated_at = now() WHERE tenant_id = $1 AND id = $2 AND status = 'open' "
        f"RETURNING {SESSION_COLUMNS}",
        tenant_id,
        session_id,
        clock.utc_now(),
    )
    if row is None:  # completed or expired by a concurrent request
        return await _after_race(db, tenant_id, session_id)
    return CheckoutSession.from_row(row)


async def _after_race(db: Db, tenant_id: int, session_id: str) -> CheckoutSession:
    current = await get_checkout_session(db, tenant_id=tenant_id, session_id=session_id)
    if current.status == "complete":
        raise Conflict("a completed checkout session cannot be expired")
    return current

"""Checkout sessions: a priced offer a customer pays on the tenant's hosted checkout page.

A session is for an existing customer or carries the details of a new one.
Its currency defaults to the one its line items name, else the customer's (or
the tenant's default for a new customer); items in another currency are refused.
The lines and their tax are billing/checkout_line_items.py. `amount_total` is
what is charged at completion, tax included: every one-off item, plus the
recurring items unless a trial defers them. An open session whose
`expires_at` has passed reads as expired (the row is updated lazily on read).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from billing import validation
from billing.checkout_line_items import MAX_LINE_ITEMS as MAX_LINE_ITEMS
from billing.checkout_line_items import MAX_TAX_RATE_BPS as MAX_TAX_RATE_BPS
from billing.checkout_line_items import CheckoutLineItem, amount_total, line_items
from billing.countries import validate_country
from billing.customers import SUPPORTED_LANGUAGES, get_customer
from billing.errors import Conflict, InvalidInput, NotFound
from billing.money import MAX_AMOUNT, validate_currency
from billing.pagination import fetch_page
from billing.subscriptions import parse_instant
from billing.validation import FieldErrors
from kernel import clock
from kernel.db import Db
from kernel.ids import is_public_id, new_id

# MAX_LINE_ITEMS and MAX_TAX_RATE_BPS are imported "as" themselves above: the API's request
# schema reads a session's limits from this module.
MIN_LIFETIME = timedelta(minutes=30)
MAX_LIFETIME = timedelta(hours=24)
# Clients compute expires_at before their request travels: allow this much clock slack.
LIFETIME_SLACK = timedelta(seconds=60)
MAX_URL = 2000
CREATE_FIELDS = frozenset(
    {
        "customer",
        "customer_details",
        "line_items",
        "currency",
        "trial_days",
        "success_url",
        "cancel_url",
        "expires_at",
        "metadata",
    }
)
DETAIL_FIELDS = frozenset({"name", "email", "country", "language"})
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


def _is_local_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_redirect_url(errors: FieldErrors, field: str, value: Any) -> str | None:
    """An absolute https URL (http only for localhost, *.localhost and loopback addresses)."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL:
        errors.add(field, f"must be an absolute URL of at most {MAX_URL} characters", "invalid_url")
        return None
    try:
        parts = urlsplit(value)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        errors.add(field, "must be an absolute URL", "invalid_url")
        return None
    if parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in value):
        errors.add(field, "must be an absolute https:// URL", "invalid_url")
        return None
    if parts.username is not None or parts.password is not None:
        errors.add(field, "must not carry a user name or password", "invalid_url")
        return None
    if parts.scheme == "http" and not _is_local_host(host):
        errors.add(field, "must use https (http is only allowed for localhost)", "invalid_url")
        return None
    return value


def _customer_details(errors: FieldErrors, value: Any) -> dict[str, str] | None:
    if not isinstance(value, Mapping):
        errors.add("customer_details", "must be an object", "wrong_type")
        return None
    for name in value:
        if name not in DETAIL_FIELDS:
            errors.add(f"customer_details.{name}", "unknown field", "unknown_field")
    details: dict[str, str] = {}
    name = validation.text(
        errors,
        "customer_details.name",
        value.get("name"),
        maximum=200,
        required=True,
        one_line=True,
    )
    if name:
        details["name"] = name
    email = validation.email(errors, "customer_details.email", value.get("email"))
    if email:
        details["email"] = email
    if value.get("country") is not None:
        try:
            details["country"] = validate_country(value["country"], "customer_details.country")
        except InvalidInput as error:
            errors.merge(error)
    if value.get("language") is not None:
        language = value["language"]
        if not isinstance(language, str) or language.lower() not in SUPPORTED_LANGUAGES:
            errors.add(
                "customer_details.language", "must be one of " + ", ".join(SUPPORTED_LANGUAGES)
            )
        else:
            details["language"] = language.lower()
    return details


def _customer_choice(
    errors: FieldErrors, data: Mapping[str, Any]
) -> tuple[str | None, dict[str, str] | None]:
    """(existing customer id, new customer's details): exactly one of them is given."""
    customer_id = data.get("customer")
    if customer_id is not None and data.get("customer_details") is not None:
        errors.add("customer_details", "give either customer or customer_details, not both")
    elif customer_id is not None:
        if not isinstance(customer_id, str):
            errors.add("customer", "must be a customer id")
    elif data.get("customer_details") is not None:
        return None, _customer_details(errors, data["customer_details"])
    else:
        errors.add("customer", "give a customer id or customer_details for a new customer")
    return customer_id, None


def _trial_days(
    errors: FieldErrors, data: Mapping[str, Any], items: Sequence[CheckoutLineItem]
) -> int | None:
    if data.get("trial_days") is None:
        return None
    trial_days = validation.integer(
        errors, "trial_days", data["trial_days"], minimum=1, maximum=730
    )
    if items and all(item.interval is None for item in items):
        errors.add("trial_days", "a trial needs at least one recurring line item")
    return trial_days


def _expires_at(errors: FieldErrors, data: Mapping[str, Any], now: datetime) -> datetime:
    expires_at = now + MAX_LIFETIME
    if data.get("expires_at") is not None:
        expires_at = parse_instant(errors, "expires_at", data["expires_at"]) or expires_at
        lifetime = expires_at - now
        if not MIN_LIFETIME - LIFETIME_SLACK <= lifetime <= MAX_LIFETIME + LIFETIME_SLACK:
            errors.add(
                "expires_at", "must be between 30 minutes and 24 hours from now", "out_of_range"
            )
    return expires_at


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
    now = now or clock.utc_now()
    errors = FieldErrors()
    for name in data:
        if name not in CREATE_FIELDS:
            errors.add(name, "unknown field", "unknown_field")
    customer_id, details = _customer_choice(errors, data)
    currency = None
    if data.get("currency") is not None:
        try:
            currency = validate_currency(data["currency"])
        except InvalidInput as error:
            errors.merge(error)
    items, currency = line_items(errors, data.get("line_items"), currency)
    trial_days = _trial_days(errors, data, items)
    success_url = validate_redirect_url(errors, "success_url", data.get("success_url"))
    cancel_url = None
    if data.get("cancel_url") is not None:
        cancel_url = validate_redirect_url(errors, "cancel_url", data["cancel_url"])
    expires_at = _expires_at(errors, data, now)
    metadata = validation.metadata(errors, "metadata", data.get("metadata"))
    total = amount_total(items, trial=trial_days is not None)
    if total > MAX_AMOUNT:
        errors.add("line_items", "the session's total is too large", "out_of_range")
    errors.raise_if_any()
    if customer_id is not None:
        try:
            customer = await get_customer(db, tenant_id=tenant_id, customer_id=customer_id)
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
        customer_id,
        details,
        currency,
        [item.as_json() for item in items],
        total,
        trial_days,
        success_url,
        cancel_url,
        expires_at,
        metadata,
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

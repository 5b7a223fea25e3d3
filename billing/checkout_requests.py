"""A new checkout session's request: every field of its API data checked, all errors at once.

The customer is an existing one or the details of a new one, never both; the
return URLs are absolute https (plain http only for local hosts); a trial needs
a recurring item; the session lives from MIN_LIFETIME to MAX_LIFETIME.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from billing import validation
from billing.checkout_line_items import CheckoutLineItem, amount_total, line_items
from billing.countries import validate_country
from billing.customers import SUPPORTED_LANGUAGES
from billing.errors import InvalidInput
from billing.money import MAX_AMOUNT, validate_currency
from billing.subscriptions import parse_instant
from billing.validation import FieldErrors

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


@dataclass(frozen=True, kw_only=True)
class SessionDraft:
    """A new session's fields, checked; the currency None means the customer's or the default."""

    customer_id: str | None
    customer_details: dict[str, str] | None
    currency: str | None
    items: list[CheckoutLineItem]
    amount_total: int
    trial_days: int | None
    success_url: str | None
    cancel_url: str | None
    expires_at: datetime
    metadata: dict[str, str]


def check_session(data: Mapping[str, Any], now: datetime) -> SessionDraft:
    """API-shaped session `data` checked field by field; InvalidInput with every error at once."""
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
    return SessionDraft(
        customer_id=customer_id,
        customer_details=details,
        currency=currency,
        items=items,
        amount_total=total,
        trial_days=trial_days,
        success_url=success_url,
        cancel_url=cancel_url,
        expires_at=expires_at,
        metadata=metadata,
    )

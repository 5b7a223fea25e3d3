"""Customers of a tenant: create, read, list, and change their billing information.

Input uses the API's field names (`address.country`, `vat_number`...) so that
errors can name the field the caller sent. Every field is checked before any
write, and all errors are reported at once; a rejected call stores nothing.
A change the customer makes (`save_billing_info`) is announced to the tenant
with a `customer.billing_info.updated` event in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billing import validation
from billing.addresses import PostalAddress, check_postal_code
from billing.countries import validate_country
from billing.errors import InvalidInput, NotFound, RuleViolation
from billing.fields import SUPPORTED_LANGUAGES as SUPPORTED_LANGUAGES
from billing.fields import check_language
from billing.money import validate_currency
from billing.outbox import record_event
from billing.pagination import fetch_page
from billing.validation import FieldErrors
from billing.vat import validate_vat_number
from kernel.db import Db, transaction
from kernel.ids import is_public_id, new_id

ADDRESS_FIELDS = {
    # API field -> (column, maximum length)
    "line1": ("address_line1", 200),
    "line2": ("address_line2", 200),
    "city": ("city", 100),
    "postal_code": ("postal_code", 20),
    "state": ("state", 100),
}
CREATE_FIELDS = frozenset(
    {"name", "email", "address", "vat_number", "language", "currency", "metadata"}
)
BILLING_FIELDS = frozenset({"name", "email", "address", "vat_number", "language"})

CUSTOMER_COLUMNS = (
    "id, name, email, address_line1, address_line2, city, postal_code, state, country, "
    "vat_number, language, currency, metadata, created_at, updated_at"
)


@dataclass(frozen=True, kw_only=True)
class Customer:
    id: str
    name: str
    email: str | None
    address_line1: str | None
    address_line2: str | None
    city: str | None
    postal_code: str | None
    state: str | None
    country: str | None
    vat_number: str | None
    language: str
    currency: str
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Customer:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


def _reject_unknown(errors: FieldErrors, data: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for name in data:
        if name not in allowed:
            errors.add(name, "unknown field", "unknown_field")


def _address(errors: FieldErrors, value: Any) -> dict[str, str | None]:
    """Columns for a (possibly partial) address; fields left out keep their current value."""
    if not isinstance(value, Mapping):
        errors.add("address", "must be an object", "wrong_type")
        return {}
    columns: dict[str, str | None] = {}
    for name in value:
        if name not in ADDRESS_FIELDS and name != "country":
            errors.add(f"address.{name}", "unknown field", "unknown_field")
    for name, (column, maximum) in ADDRESS_FIELDS.items():
        if name in value:
            columns[column] = validation.text(
                errors, f"address.{name}", value[name], maximum=maximum
            )
    if "country" in value:
        if value["country"] is None:
            columns["country"] = None
        else:
            try:
                columns["country"] = validate_country(value["country"])
            except InvalidInput as error:
                errors.merge(error)
    return columns


def _language(errors: FieldErrors, value: Any) -> str | None:
    try:
        return check_language(value if isinstance(value, str) else "")
    except RuleViolation as violation:
        errors.violation("language", violation)
        return None


def _billing_columns(
    errors: FieldErrors, data: Mapping[str, Any], current: Customer | None
) -> dict[str, Any]:
    """Validated columns for the billing fields present in `data`."""
    columns: dict[str, Any] = {}
    if "name" in data or current is None:
        columns["name"] = validation.text(
            errors, "name", data.get("name"), maximum=200, required=True, one_line=True
        )
    if "email" in data:
        columns["email"] = validation.email(errors, "email", data["email"])
    if "address" in data and data["address"] is not None:
        columns.update(_address(errors, data["address"]))
    elif "address" in data:
        columns.update({column: None for column, _ in ADDRESS_FIELDS.values()})
        columns["country"] = None
    if "language" in data:
        columns["language"] = _language(errors, data["language"])
    _check_postal_code(errors, columns, current)
    country = columns.get("country", current.country if current else None)
    if "vat_number" in data and data["vat_number"] is not None:
        try:
            columns["vat_number"] = validate_vat_number(data["vat_number"], country=country)
        except InvalidInput as error:
            errors.merge(error)
    elif "vat_number" in data:
        columns["vat_number"] = None
    elif current is not None and current.vat_number and "country" in columns:
        # The country changed under an existing VAT number: it must still fit.
        try:
            validate_vat_number(current.vat_number, country=country)
        except InvalidInput:
            errors.add(
                "vat_number",
                f"the stored VAT number does not fit {country}; change it too",
                "invalid_vat_number",
            )
    return columns


def _check_postal_code(
    errors: FieldErrors, columns: dict[str, Any], current: Customer | None
) -> None:
    """The postal code must fit the country (and its state), whichever of them changed.

    A code sent is stored as post offices write it (`bs1 4dj` -> `BS1 4DJ`).
    """
    changed = {"postal_code", "country", "state"} & columns.keys()
    if not changed or "address.postal_code" in errors.errors:
        return

    def now(column: str) -> Any:
        return columns.get(column, getattr(current, column) if current else None)

    if not now("postal_code"):
        return
    try:
        postal_code = check_postal_code(now("postal_code"), now("country"), now("state"))
    except RuleViolation as violation:
        errors.violation("address.postal_code", violation)
        return
    if "postal_code" in columns:
        columns["postal_code"] = postal_code


async def create_customer(
    db: Db, *, tenant_id: int, data: Mapping[str, Any], default_currency: str
) -> Customer:
    """Create a customer from API-shaped `data`; the currency defaults to `default_currency`."""
    errors = FieldErrors()
    _reject_unknown(errors, data, CREATE_FIELDS)
    columns = _billing_columns(errors, data, None)
    if data.get("currency") is not None:
        try:
            columns["currency"] = validate_currency(data["currency"])
        except InvalidInput as error:
            errors.merge(error)
    columns["metadata"] = validation.metadata(errors, "metadata", data.get("metadata"))
    errors.raise_if_any()
    columns.setdefault("currency", default_currency)
    columns = {name: value for name, value in columns.items() if value is not None}
    names = ["id", "tenant_id", *columns]
    placeholders = ", ".join(f"${index}" for index in range(1, len(names) + 1))
    row = await db.fetchrow(
        f"INSERT INTO customers ({', '.join(names)}) VALUES ({placeholders}) "
        f"RETURNING {CUSTOMER_COLUMNS}",
        new_id("cus"),
        tenant_id,
        *columns.values(),
    )
    return Customer.from_row(row)


async def get_customer(db: Db, *, tenant_id: int, customer_id: str) -> Customer:
    """The tenant's customer; NotFound for an unknown, malformed or other tenant's id."""
    if not is_public_id(customer_id, "cus"):
        raise NotFound("customer", customer_id)
    row = await db.fetchrow(
        f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        customer_id,
    )
    if row is None:
        raise NotFound("customer", customer_id)
    return Customer.from_row(row)


async def list_customers(
    db: Db,
    *,
    tenant_id: int,
    limit: int,
    starting_after: str | None = None,
    email: str | None = None,
) -> tuple[list[Customer], bool]:
    """The tenant's customers, newest first; `email` filters on an exact (case-blind) match."""
    conditions: list[tuple[str, Any]] = []
    if email is not None:
        conditions.append(("lower(email)", email.strip().lower()))
    rows, has_more = await fetch_page(
        db,
        table="customers",
        columns=CUSTOMER_COLUMNS,
        tenant_id=tenant_id,
        limit=limit,
        starting_after=starting_after,
        conditions=conditions,
    )
    return [Customer.from_row(row) for row in rows], has_more


async def update_billing_info(
    db: Db, *, tenant_id: int, customer_id: str, changes: Mapping[str, Any]
) -> Customer:
    """Change billing fields (name, email, address, vat_number, language), all or nothing.

    `address` merges: sub-fields left out keep their value; `null` clears a field
    (or, for `address` itself, the whole address).
    """
    current = await get_customer(db, tenant_id=tenant_id, customer_id=customer_id)
    errors = FieldErrors()
    _reject_unknown(errors, changes, BILLING_FIELDS)
    columns = _billing_columns(errors, changes, current)
    errors.raise_if_any()
    if not columns:
        return current
    assignments = ", ".join(f"{column} = ${index}" for index, column in enumerate(columns, start=3))
    row = await db.fetchrow(
        f"UPDATE customers SET {assignments}, updated_at = now() "
        f"WHERE tenant_id = $1 AND id = $2 RETURNING {CUSTOMER_COLUMNS}",
        tenant_id,
        customer_id,
        *columns.values(),
    )
    if row is None:
        raise NotFound("customer", customer_id)
    return Customer.from_row(row)


def address_of(customer: Customer) -> dict[str, str | None]:
    """The customer's address in the API's shape (`line1`, ..., `country`), as everywhere."""
    address = {name: getattr(customer, column) for name, (column, _) in ADDRESS_FIELDS.items()}
    return {**address, "country": customer.country}


def postal_address(customer: Customer) -> PostalAddress:
    """The customer's address as `billing.addresses` formats it."""
    return PostalAddress(
        line1=customer.address_line1,
        line2=customer.address_line2,
        city=customer.city,
        postal_code=customer.postal_code,
        state=customer.state,
        country=customer.country,
    )


def billing_info_payload(customer: Customer) -> dict[str, Any]:
    """What tenants receive in `customer.billing_info.updated`: the saved values (JSON-ready)."""
    return {
        "customer": customer.id,
        "name": customer.name,
        "email": customer.email,
        "address": address_of(customer),
        "vat_number": customer.vat_number,
        "language": customer.language,
    }


async def save_billing_info(
    db: Db, *, tenant_id: int, customer_id: str, changes: Mapping[str, Any]
) -> Customer:
    """`update_billing_info`, plus a `customer.billing_info.updated` event when a value changed.

    The event carries the saved values and commits with the change, or neither
    happens; a save that changes nothing announces nothing.
    """
    async with transaction(db) as connection:
        # The row lock orders two saves of one customer, so each compares with the value
        # the other committed and no change goes unannounced.
        await connection.execute(
            "SELECT 1 FROM customers WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            tenant_id,
            customer_id,
        )
        before = await get_customer(connection, tenant_id=tenant_id, customer_id=customer_id)
        after = await update_billing_info(
            connection, tenant_id=tenant_id, customer_id=customer_id, changes=changes
        )
        if billing_info_payload(before) != billing_info_payload(after):
            await record_event(
                connection,
                tenant_id=tenant_id,
                type="customer.billing_info.updated",
                payload=billing_info_payload(after),
            )
    return after


# Customer search reads at most this many characters of the text typed.
SEARCH_MAX_LENGTH = 200


def _like_pattern(text: str) -> str:
    """`text` as a LIKE pattern matching it anywhere, its own wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_customers(
    db: Db, *, tenant_id: int, query: str, limit: int
) -> tuple[list[Customer], bool]:
    """The tenant's customers matching `query` (all of them when empty), newest first.

    Returns up to `limit` customers and whether more match.
    """
    text = query.strip()[:SEARCH_MAX_LENGTH]
    rows = await db.fetch(
        f"""SELECT {CUSTOMER_COLUMNS} FROM customers
            WHERE tenant_id = $1
              AND ($2 = '' OR id = $2 OR name ILIKE $3 OR email ILIKE $3)
            ORDER BY created_at DESC, id DESC
            LIMIT $4""",
        tenant_id,
        text,
        _like_pattern(text),
        limit + 1,
    )
    found = [Customer.from_row(row) for row in rows]
    return found[:limit], len(found) > limit

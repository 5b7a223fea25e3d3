"""The billing form of a checkout: the customer is created once, then kept up to date.

The form takes the customers API's shape; checkout asks for an email address
even where the API does not, so that a receipt reaches someone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billing.checkout_settlement import CheckoutClosed, locked_session
from billing.customers import (
    Customer,
    create_customer,
    save_billing_info,
)
from billing.errors import Conflict, InvalidInput
from kernel.db import Db, transaction

BILLING_FIELDS = frozenset({"name", "email", "address", "vat_number"})


def _billing_input(billing: Mapping[str, Any]) -> dict[str, Any]:
    unknown = [name for name in billing if name not in BILLING_FIELDS]
    if unknown:
        raise InvalidInput(dict.fromkeys(unknown, "unknown field"))
    email = billing.get("email")
    if not isinstance(email, str) or not email.strip():
        # A receipt must reach someone: checkout asks for an address even where the API does not.
        errors = {"email": "enter your email address"}
        name = billing.get("name")
        if not isinstance(name, str) or not name.strip():
            errors["name"] = "is required"
        raise InvalidInput(errors)
    return dict(billing)


async def save_billing_information(
    db: Db, *, tenant_id: int, session_id: str, billing: Mapping[str, Any]
) -> Customer:
    """Check the billing form and store it: a new customer is created once, a known one updated.

    `billing` uses the customers API's shape (`name`, `email`, `address`
    {line1, line2, city, postal_code, state, country}, `vat_number`); every
    field error is reported at once (InvalidInput) and nothing is stored then.
    CheckoutClosed once the session is no longer open.
    """
    data = _billing_input(billing)
    async with transaction(db) as connection:
        row, session = await locked_session(connection, tenant_id, session_id)
        if session.status == "complete":
            raise Conflict("This checkout is already paid.", field="checkout_session")
        if session.status != "open" or row["lapsed"]:
            raise CheckoutClosed()
        if session.customer_id is None:
            details = session.customer_details or {}
            customer = await create_customer(
                connection,
                tenant_id=tenant_id,
                default_currency=session.currency,
                data={
                    **data,
                    "currency": session.currency,
                    "language": details.get("language", "en"),
                },
            )
            await connection.execute(
                "UPDATE checkout_sessions SET customer_id = $3, updated_at = now() "
                "WHERE tenant_id = $1 AND id = $2",
                tenant_id,
                session.id,
                customer.id,
            )
            return customer
        # The portal's save: one payload shape for every source of the event.
        return await save_billing_info(
            connection, tenant_id=tenant_id, customer_id=session.customer_id, changes=data
        )

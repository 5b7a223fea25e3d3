"""The portal's data version of a customer, read with the customer in one indexed query.

Triggers (migration 0012) bump `portal_versions.version` in the same transaction as
every write to a row the portal shows: the customer, subscriptions and their items,
payment methods, invoices with their lines and payments, wallets, their ledger and
top-ups. A page rendered for version V is the page of every later read that finds V.
"""

from __future__ import annotations

from billing.customers import CUSTOMER_COLUMNS, Customer
from billing.errors import NotFound
from kernel.db import Db
from kernel.ids import is_public_id

# A customer no write has touched since the migration has no row yet: version 0.
_CUSTOMER_WITH_VERSION = (
    f"SELECT {CUSTOMER_COLUMNS}, COALESCE((SELECT v.version FROM portal_versions v"
    " WHERE v.customer_id = customers.id AND v.tenant_id = customers.tenant_id), 0)"
    " AS portal_version FROM customers WHERE tenant_id = $1 AND id = $2"
)


async def customer_with_version(
    db: Db, *, tenant_id: int, customer_id: str
) -> tuple[Customer, int]:
    """The tenant's customer and its portal data version; NotFound as `get_customer`."""
    if not is_public_id(customer_id, "cus"):
        raise NotFound("customer", customer_id)
    row = await db.fetchrow(_CUSTOMER_WITH_VERSION, tenant_id, customer_id)
    if row is None:
        raise NotFound("customer", customer_id)
    return Customer.from_row(row), int(row["portal_version"])


async def portal_version(db: Db, *, tenant_id: int, customer_id: str) -> int:
    """The customer's portal data version alone (0 before any write)."""
    version = await db.fetchval(
        "SELECT version FROM portal_versions WHERE customer_id = $1 AND tenant_id = $2",
        customer_id,
        tenant_id,
    )
    return int(version or 0)

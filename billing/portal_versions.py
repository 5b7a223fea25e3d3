"""The portal's data version of a customer, read with the customer in one indexed query.

Triggers (migration 0012) bump `portal_versions.version` in the same transaction as
every write to a row the portal shows: the customer, subscriptions and their items,
payment methods, invoices with their lines and payments, wallets, their ledger and
top-ups. A page rendered for version V is the page of every later read that finds V.
"""

from __future__ import annotations

from collections.abc import Sequence

from billing.customers import CUSTOMER_COLUMNS, Customer
from billing.errors import NotFound
from kernel.batched_reads import BatchedReads
from kernel.db import Db, Pool
from kernel.ids import is_public_id

# Each asked (tenant, customer) pair is matched on both columns. A customer no write has
# touched since the migration has no portal_versions row yet: version 0.
_CUSTOMERS_WITH_VERSIONS = (
    f"SELECT customers.tenant_id AS tenant_id, {CUSTOMER_COLUMNS}, COALESCE((SELECT"
    " v.version FROM portal_versions v WHERE v.customer_id = customers.id"
    " AND v.tenant_id = customers.tenant_id), 0) AS portal_version"
    " FROM unnest($1::bigint[], $2::text[]) AS asked (asked_tenant, asked_customer)"
    " JOIN customers ON customers.id = asked.asked_customer"
    " AND customers.tenant_id = asked.asked_tenant"
)

CustomerKey = tuple[int, str]  # (tenant id, customer id)


async def customers_with_versions(
    db: Db, keys: Sequence[CustomerKey]
) -> dict[CustomerKey, tuple[Customer, int]]:
    """Each (tenant, customer) pair that exists, with its version, in one statement."""
    rows = await db.fetch(
        _CUSTOMERS_WITH_VERSIONS, [tenant for tenant, _ in keys], [cus for _, cus in keys]
    )
    return {
        (row["tenant_id"], row["id"]): (Customer.from_row(row), int(row["portal_version"]))
        for row in rows
    }


class CustomerReads:
    """Each portal request's read of its customer with the version; concurrent reads share
    one statement.

    Each read still starts after it was asked for (`kernel.batched_reads`), so a page
    built from it is as fresh as one built from a read of its own.
    """

    def __init__(self, pool: Pool) -> None:
        self._reads: BatchedReads[CustomerKey, tuple[Customer, int]] = BatchedReads(
            lambda keys: customers_with_versions(pool, keys)
        )

    @property
    def statements(self) -> int:
        return self._reads.batches

    async def customer_with_version(
        self, *, tenant_id: int, customer_id: str
    ) -> tuple[Customer, int]:
        """The tenant's customer and its portal data version; NotFound as `get_customer`."""
        if not is_public_id(customer_id, "cus"):
            raise NotFound("customer", customer_id)
        found = await self._reads.get((tenant_id, customer_id))
        if found is None:
            raise NotFound("customer", customer_id)
        return found

"""Find a tenant's customers by a fragment of their name or email, or by their exact id."""

from __future__ import annotations

from billing.customers import CUSTOMER_COLUMNS, Customer
from kernel.db import Db

MAX_QUERY_LENGTH = 200


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
    text = query.strip()[:MAX_QUERY_LENGTH]
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

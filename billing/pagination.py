"""Keyset pagination on (created_at DESC, id DESC), scoped to one tenant.

A cursor is the id of the last row of the previous page. It must name a row of
the same tenant and table; anything else is a field error on `starting_after`
(so another tenant's id reveals nothing beyond "not a valid cursor").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from billing.errors import InvalidInput
from kernel.db import Db


async def fetch_page(
    db: Db,
    *,
    table: str,
    columns: str,
    tenant_id: int,
    limit: int,
    starting_after: str | None = None,
    conditions: Sequence[tuple[str, Any]] = (),
) -> tuple[list[Any], bool]:
    """Rows of `table` for `tenant_id`, newest first, and whether more follow.

    `table` and `columns` are fixed SQL fragments from the caller; `conditions`
    pairs a column expression (fixed SQL) with the value it must equal (a $n parameter).
    """
    if not 1 <= limit <= 100:
        raise InvalidInput({"limit": "must be between 1 and 100"}, {"limit": "out_of_range"})
    params: list[Any] = [tenant_id]
    where = ["tenant_id = $1"]
    for expression, value in conditions:
        params.append(value)
        where.append(f"{expression} = ${len(params)}")
    if starting_after is not None:
        cursor = await db.fetchrow(
            f"SELECT created_at, id FROM {table} WHERE tenant_id = $1 AND id = $2",
            tenant_id,
            starting_after,
        )
        if cursor is None:
            raise InvalidInput({"starting_after": "is not the id of an item of this list"})
        params.extend([cursor["created_at"], cursor["id"]])
        where.append(f"(created_at, id) < (${len(params) - 1}, ${len(params)})")
    params.append(limit + 1)
    rows = await db.fetch(
        f"SELECT {columns} FROM {table} WHERE {' AND '.join(where)} "
        f"ORDER BY created_at DESC, id DESC LIMIT ${len(params)}",
        *params,
    )
    return list(rows[:limit]), len(rows) > limit

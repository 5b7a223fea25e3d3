"""When the renewal job next has work: the earliest period end, dunning retry or charge lease.

The job sleeps until that moment instead of polling (issue 16): one query, each part of
which reads the first entry of a partial index (`subscriptions_due`,
`invoices_collection_due`, `payment_attempts_pending`), whatever the number of rows.
Operator-wide by design, like the job itself: it serves every tenant.
"""

from __future__ import annotations

from datetime import datetime

from billing.collection import CHARGE_LEASE
from kernel.db import Db

# The literal status lists repeat the partial indexes' predicates, so the planner uses them.
NEXT_DUE_QUERY = """
SELECT least(
    (SELECT min(current_period_end) FROM subscriptions
      WHERE status IN ('trialing', 'active', 'past_due')),
    (SELECT min(next_payment_attempt_at) FROM invoices
      WHERE status = 'open' AND next_payment_attempt_at IS NOT NULL),
    (SELECT min(started_at) FROM payment_attempts WHERE status = 'pending') + $1::interval
)
"""


async def next_due_at(db: Db) -> datetime | None:
    """The earliest moment a renewal, collection or reconciliation falls due; None: nothing is
    scheduled (the job then waits for a NOTIFY or its longest sleep)."""
    due: datetime | None = await db.fetchval(NEXT_DUE_QUERY, CHARGE_LEASE)
    return due

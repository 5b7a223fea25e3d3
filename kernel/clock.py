"""The wall clock: the one place the product reads the current time.

Rules that decide by the time (billing periods, validity windows, expiry) take
`now` as a keyword argument and fall back to `utc_now()`, so a test passes the
instant it means instead of patching `datetime`. Where such a decision is also
written as SQL, the caller's `now` goes in as a parameter: Python's clock
decides and the database's `now()` only stamps rows (`created_at`,
`updated_at`) or judges deadlines it wrote itself. A whole process tree
(pytest, PostgreSQL) moves together under `faketime`; see the Makefile's
`test-clock`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return datetime.now(UTC)


def unix_seconds() -> int:
    """The current Unix time in whole seconds (signatures, token ages)."""
    return int(time.time())

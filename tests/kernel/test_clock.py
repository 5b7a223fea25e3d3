"""The clock: Python and PostgreSQL agree on it, and a moved clock (faketime) moves both."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from kernel import clock

UNITS = {"d": timedelta(days=1), "y": timedelta(days=365), "h": timedelta(hours=1)}


def kernel_wall_clock() -> datetime:
    """The real time as the Linux kernel keeps it: boot time plus uptime, both read from /proc,
    which faketime does not move."""
    boot = next(
        int(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime ")
    )
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return datetime.fromtimestamp(boot + uptime, UTC)


def requested_offset() -> timedelta:
    """The offset `faketime -f '+400d'` (or +3y, +12h) was asked for; none without it."""
    spec = os.environ.get("FAKETIME", "")
    if not spec:
        return timedelta(0)
    found = re.fullmatch(r"([+-]\d+)([dyh])", spec)
    if found is None:
        pytest.fail(f"FAKETIME={spec!r} is not an offset this suite knows (+Nd, +Ny, +Nh)")
    return int(found[1]) * UNITS[found[2]]


def test_the_clock_is_utc_and_moves() -> None:
    first = clock.utc_now()
    assert first.tzinfo is UTC
    assert clock.utc_now() >= first
    assert abs(clock.unix_seconds() - first.timestamp()) < 5


def test_the_clock_is_the_kernels_moved_by_the_requested_offset() -> None:
    # Under `make test`'s moved-clock pass this proves the pass really runs in another year.
    moved_by = clock.utc_now() - kernel_wall_clock()
    assert abs(moved_by - requested_offset()) < timedelta(days=2), moved_by


async def test_postgresql_and_python_read_the_same_clock(pool: asyncpg.Pool) -> None:
    # PostgreSQL's now() stamps rows and Python's clock decides billing time; the server the
    # fixtures start runs under the same (possibly moved) clock.
    database_now = await pool.fetchval("SELECT now()")
    assert abs(database_now - clock.utc_now()) < timedelta(minutes=1)

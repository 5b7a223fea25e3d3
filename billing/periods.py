"""Billing periods: adding day, week, month or year intervals to an instant."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

Interval = Literal["day", "week", "month", "year"]
INTERVALS: tuple[str, ...] = get_args(Interval)


def add_interval(start: datetime, interval: str, count: int = 1) -> datetime:
    """`start` moved forward by `count` intervals on its own calendar.

    Month ends clamp (31 Jan + 1 month = 28 Feb; + 2 months = 31 Mar, so count periods from
    the anchor rather than chaining). In a zone with daylight saving the wall-clock time is
    kept (a day may last 23 or 25 hours); a wall time the change skips becomes the instant
    after the gap (02:30 becomes 03:30), so the result is always a real instant.
    """
    if interval == "day":
        moved = start + timedelta(days=count)
    elif interval == "week":
        moved = start + timedelta(weeks=count)
    elif interval in ("month", "year"):
        index = start.month - 1 + (count if interval == "month" else 12 * count)
        year, month = start.year + index // 12, index % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        moved = start.replace(year=year, month=month, day=day)
    else:
        raise ValueError(f"unknown interval {interval!r}")
    if moved.tzinfo is None or moved.tzinfo is UTC:
        return moved
    # Through UTC and back: a skipped wall time becomes the instant it denotes (PEP 495).
    return moved.astimezone(UTC).astimezone(moved.tzinfo)


def next_period_end(anchor: datetime, interval: str, count: int, *, after: datetime) -> datetime:
    """The first period boundary counted from `anchor` that falls after `after`.

    Boundaries are `anchor` plus k x `count` intervals (k >= 1), each computed from the
    anchor itself, so a subscription anchored on the 31st ends its periods on the 28th or
    29th of February and on the 31st again in March.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    average_days = {"day": 1.0, "week": 7.0, "month": 30.436875, "year": 365.2425}[interval]
    elapsed_days = max(0.0, (after - anchor).total_seconds() / 86400)
    # Start a little before the estimate; the loop then walks at most a few steps.
    periods = max(1, int(elapsed_days / (average_days * count)) - 1)
    end = add_interval(anchor, interval, count * periods)
    while end <= after:
        periods += 1
        end = add_interval(anchor, interval, count * periods)
    return end

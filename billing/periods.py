"""Billing periods: adding day, week, month or year intervals to an instant."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

INTERVALS = ("day", "week", "month", "year")


def add_interval(start: datetime, interval: str, count: int = 1) -> datetime:
    """`start` moved forward by `count` intervals; month ends clamp (Jan 31 + 1 month = Feb 28)."""
    if interval == "day":
        return start + timedelta(days=count)
    if interval == "week":
        return start + timedelta(weeks=count)
    if interval == "month":
        months = count
    elif interval == "year":
        months = 12 * count
    else:
        raise ValueError(f"unknown interval {interval!r}")
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)

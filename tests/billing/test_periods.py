"""Billing periods: calendar months and years clamp to the month's last day."""

from __future__ import annotations

from datetime import UTC, datetime

from billing.periods import add_interval


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 9, 30, tzinfo=UTC)


def test_monthly_periods_follow_the_calendar() -> None:
    assert add_interval(at(2026, 1, 15), "month") == at(2026, 2, 15)
    assert add_interval(at(2026, 1, 31), "month") == at(2026, 2, 28)
    assert add_interval(at(2028, 1, 31), "month") == at(2028, 2, 29)
    assert add_interval(at(2026, 11, 30), "month", 3) == at(2027, 2, 28)


def test_yearly_days_and_weeks() -> None:
    assert add_interval(at(2028, 2, 29), "year") == at(2029, 2, 28)
    assert add_interval(at(2026, 12, 30), "week") == at(2027, 1, 6)
    assert add_interval(at(2026, 12, 31), "day", 2) == at(2027, 1, 2)

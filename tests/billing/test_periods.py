"""Billing periods: calendar months and years clamp to the month's last day.

Every date here is given to the function: none depends on the day the suite runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from billing.periods import add_interval, next_period_end

PARIS = ZoneInfo("Europe/Paris")


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


def test_periods_counted_from_the_anchor_keep_its_day() -> None:
    # The third period of a subscription that started on 31 January ends on 31 March, not on
    # the 28th that chaining "+1 month" through February would give.
    assert add_interval(at(2026, 1, 31), "month", 2) == at(2026, 3, 31)
    assert add_interval(add_interval(at(2026, 1, 31), "month"), "month") == at(2026, 3, 28)
    assert [add_interval(at(2026, 1, 31), "month", n).day for n in range(1, 13)] == [
        28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31,
    ]  # fmt: skip


def test_leap_days() -> None:
    assert add_interval(at(2028, 2, 28), "day") == at(2028, 2, 29)
    assert add_interval(at(2027, 2, 28), "day") == at(2027, 3, 1)
    assert add_interval(at(2028, 2, 29), "month") == at(2028, 3, 29)
    assert add_interval(at(2028, 2, 29), "year", 4) == at(2032, 2, 29)
    assert add_interval(at(2027, 3, 29), "month", 11) == at(2028, 2, 29)


def test_the_year_end() -> None:
    assert add_interval(at(2026, 12, 31), "month") == at(2027, 1, 31)
    assert add_interval(at(2026, 12, 15), "month", 13) == at(2028, 1, 15)
    assert add_interval(at(2026, 12, 31), "year") == at(2027, 12, 31)
    assert add_interval(at(2026, 12, 28), "week") == at(2027, 1, 4)


def test_local_periods_keep_the_wall_clock_across_daylight_saving_changes() -> None:
    # Europe/Paris springs forward on 29 March 2026 and falls back on 25 October 2026.
    spring = add_interval(datetime(2026, 3, 28, 9, 30, tzinfo=PARIS), "day")
    assert (spring.hour, spring.minute, spring.utcoffset()) == (9, 30, timedelta(hours=2))
    assert spring.astimezone(UTC) == datetime(2026, 3, 29, 7, 30, tzinfo=UTC)  # 23 hours on
    autumn = add_interval(datetime(2026, 10, 24, 9, 30, tzinfo=PARIS), "day")
    assert autumn.astimezone(UTC) == datetime(2026, 10, 25, 8, 30, tzinfo=UTC)  # 25 hours on
    month = add_interval(datetime(2026, 3, 1, tzinfo=PARIS), "month")
    assert month.astimezone(UTC) == datetime(2026, 3, 31, 22, tzinfo=UTC)  # 1 April, midnight


def test_a_local_time_skipped_by_daylight_saving_becomes_a_real_instant() -> None:
    # 02:30 does not exist in Paris on 29 March 2026: the period ends at the same instant an
    # hour-long gap would put it, 03:30 summer time, never at a time no clock shows.
    for ends in (
        add_interval(datetime(2026, 1, 29, 2, 30, tzinfo=PARIS), "month", 2),
        add_interval(datetime(2026, 3, 28, 2, 30, tzinfo=PARIS), "day"),
    ):
        assert ends.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
        assert (ends.hour, ends.minute, ends.utcoffset()) == (3, 30, timedelta(hours=2))
    london = add_interval(datetime(2026, 2, 28, 1, 30, tzinfo=ZoneInfo("Europe/London")), "month")
    assert london.astimezone(UTC) == datetime(2026, 3, 28, 1, 30, tzinfo=UTC)  # no gap that day
    gap = add_interval(datetime(2026, 3, 28, 1, 30, tzinfo=ZoneInfo("Europe/London")), "day")
    assert (gap.hour, gap.utcoffset()) == (2, timedelta(hours=1))  # 01:30 skipped on 29 March
    repeated = add_interval(datetime(2026, 9, 25, 2, 30, tzinfo=PARIS), "month")
    assert repeated.utcoffset() == timedelta(hours=2)  # the first of the two 02:30s


def test_an_unknown_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown interval 'fortnight'"):
        add_interval(at(2026, 1, 1), "fortnight")


def test_periods_counted_from_an_anchor_on_the_31st_come_back_to_the_31st() -> None:
    anchor = datetime(2028, 1, 31, 9, tzinfo=UTC)
    feb = next_period_end(anchor, "month", 1, after=anchor)
    assert feb == datetime(2028, 2, 29, 9, tzinfo=UTC)  # a leap year
    assert next_period_end(anchor, "month", 1, after=feb) == datetime(2028, 3, 31, 9, tzinfo=UTC)
    late = datetime(2031, 6, 15, tzinfo=UTC)
    assert next_period_end(anchor, "month", 3, after=late) == datetime(2031, 7, 31, 9, tzinfo=UTC)
    leap = datetime(2028, 2, 29, tzinfo=UTC)
    assert next_period_end(leap, "year", 1, after=leap) == datetime(2029, 2, 28, tzinfo=UTC)
    assert next_period_end(leap, "year", 1, after=datetime(2031, 3, 1, tzinfo=UTC)) == datetime(
        2032, 2, 29, tzinfo=UTC
    )

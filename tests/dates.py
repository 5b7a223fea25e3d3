"""Dates for tests, derived from the clock the suite runs under, never a fixed calendar year.

The suite also runs with the whole process tree's clock moved (`make test-clock`), so
a test that needs "a card that is still valid" or "a period that has not ended" asks
here instead of writing a year down.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from kernel import clock

# A card that stays valid for years after whatever day the suite runs.
CARD_EXP_YEAR = clock.utc_now().year + 4
CARD_EXP_YEAR_2 = f"{CARD_EXP_YEAR % 100:02d}"  # as a card form's two-digit field takes it


def days_from_now(days: float) -> datetime:
    """The instant `days` from now (negative: in the past), UTC, to the microsecond dropped."""
    return (clock.utc_now() + timedelta(days=days)).replace(microsecond=0)

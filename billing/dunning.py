"""Dunning: when a failed invoice is charged again, and what happens after the last retry.

Retries follow the tenant's schedule, in days after the invoice's first failed charge
(default 1, 3, 5 and 7, as Stripe's default). After the last retry fails the
subscription is canceled or left `unpaid`, as the tenant chose; its invoice stays
open for the customer to pay in the portal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

DEFAULT_RETRY_DAYS = (1, 3, 5, 7)
FINAL_ACTIONS = ("cancel", "unpaid")


class CollectionPolicy(Protocol):
    """How a tenant collects renewals; its dunning settings are one (billing knows no tenant)."""

    @property
    def retry_days(self) -> Sequence[int]: ...
    @property
    def final_action(self) -> str: ...
    @property
    def wallet_spend_enabled(self) -> bool: ...


@dataclass(frozen=True, kw_only=True)
class DefaultCollectionPolicy:
    """The defaults, for callers without tenant settings (tests, scripts)."""

    retry_days: Sequence[int] = DEFAULT_RETRY_DAYS
    final_action: str = "cancel"
    wallet_spend_enabled: bool = False


def next_retry_at(
    policy: CollectionPolicy, *, first_failure_at: datetime, failures: int
) -> datetime | None:
    """When to charge again after `failures` failed charges; None once the schedule is spent."""
    retries_made = failures - 1
    if retries_made >= len(policy.retry_days):
        return None
    return first_failure_at + timedelta(days=policy.retry_days[retries_made])

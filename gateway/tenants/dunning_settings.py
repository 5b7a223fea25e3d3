"""The tenant's dunning settings: which days failed renewal charges are retried, and after."""

from __future__ import annotations

from typing import Any

from gateway.tenants.errors import InvalidTenantInput

FINAL_ACTIONS = ("cancel", "unpaid")
MAX_RETRIES = 10
MAX_RETRY_DAY = 60


def validate_retry_days(field: str, value: Any) -> list[int]:
    """Days after the first failed charge, rising, each from 1 to 60, at most ten."""
    if not isinstance(value, list | tuple) or len(value) > MAX_RETRIES:
        raise InvalidTenantInput({field: f"must be a list of at most {MAX_RETRIES} days"})
    days = list(value)
    if any(isinstance(day, bool) or not isinstance(day, int) for day in days):
        raise InvalidTenantInput({field: "must be whole days"})
    if any(not 1 <= day <= MAX_RETRY_DAY for day in days) or days != sorted(set(days)):
        raise InvalidTenantInput(
            {field: f"must be rising days from 1 to {MAX_RETRY_DAY}, each once"}
        )
    return days


def validate_final_action(field: str, value: Any) -> str:
    if value not in FINAL_ACTIONS:
        raise InvalidTenantInput({field: "must be 'cancel' or 'unpaid'"})
    return str(value)

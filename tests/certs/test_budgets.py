"""Issuance budgets: a broken domain cannot burn the CA's rate limits for everyone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from certs.budgets import DEFAULT_BUDGETS, BudgetExhausted, Budgets, check, registered_domain

DIRECTORY = "https://ca.test/dir"


async def record(
    pool: asyncpg.Pool, name: str, outcome: str, *, age: timedelta = timedelta(0)
) -> None:
    await pool.execute(
        """INSERT INTO acme_orders (name, registered_domain, directory_url, outcome, created_at,
                                    finished_at)
           VALUES ($1, $2, $3, $4, now() - $5::interval, now() - $5::interval)""",
        name,
        registered_domain(name),
        DIRECTORY,
        outcome,
        age,
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("billing.alpeak.com", "alpeak.com"),
        ("a.b.billing.alpeak.co.uk", "alpeak.co.uk"),
        ("Shop.Example.COM.", "example.com"),
        ("tenant.github.io", "tenant.github.io"),  # private-section suffix, as the CA counts it
        ("billing.alpeak.test", "alpeak.test"),  # unknown suffix: last two labels
        ("co.uk", "co.uk"),
    ],
)
def test_registered_domain_follows_the_public_suffix_list(name: str, expected: str) -> None:
    assert registered_domain(name) == expected


async def test_defaults_are_the_public_ca_limits(pool: asyncpg.Pool) -> None:
    assert DEFAULT_BUDGETS.certificates_per_registered_domain == 50
    assert DEFAULT_BUDGETS.certificate_window == timedelta(days=7)
    assert DEFAULT_BUDGETS.failed_validations_per_name == 5
    assert DEFAULT_BUDGETS.failure_window == timedelta(hours=1)
    await check(pool, "billing.alpeak.test")  # nothing ordered yet: allowed


async def test_failed_validations_per_name_stop_a_retry_storm_until_the_hour_passes(
    pool: asyncpg.Pool,
) -> None:
    for minutes in (50, 30, 10, 5, 1):
        await record(pool, "billing.alpeak.test", "invalid", age=timedelta(minutes=minutes))
    before = datetime.now(UTC)

    with pytest.raises(BudgetExhausted) as caught:
        await check(pool, "billing.alpeak.test")

    error = caught.value
    assert error.name == "billing.alpeak.test"
    assert "5 failed validations per name per hour" in str(error)
    # The oldest failure (50 minutes ago) leaves the window in about 10 minutes.
    expected = before + timedelta(minutes=10)
    assert abs(error.retry_at - expected) < timedelta(seconds=30)
    # Another name under the same registered domain is not held back.
    await check(pool, "shop.alpeak.test")


async def test_failures_older_than_the_window_do_not_count(pool: asyncpg.Pool) -> None:
    for _ in range(5):
        await record(pool, "billing.alpeak.test", "invalid", age=timedelta(minutes=61))
    await record(pool, "billing.alpeak.test", "error")  # a CA outage is not a failed validation

    await check(pool, "billing.alpeak.test")


async def test_certificates_per_registered_domain_are_shared_by_its_names(
    pool: asyncpg.Pool,
) -> None:
    budgets = Budgets(certificates_per_registered_domain=3)
    await record(pool, "a.alpeak.co.uk", "valid", age=timedelta(days=6))
    await record(pool, "b.alpeak.co.uk", "valid", age=timedelta(days=2))
    await record(pool, "c.alpeak.co.uk", "valid")
    await record(pool, "d.other.co.uk", "valid")

    with pytest.raises(BudgetExhausted, match=r"3 certificates for alpeak\.co\.uk per 7 days"):
        await budgets.check(pool, "new.alpeak.co.uk")
    await budgets.check(pool, "new.other.co.uk")


async def test_exhausted_budget_frees_up_when_the_oldest_order_leaves_the_window(
    pool: asyncpg.Pool,
) -> None:
    budgets = Budgets(failed_validations_per_name=2)
    await record(pool, "billing.alpeak.test", "invalid", age=timedelta(minutes=59))
    await record(pool, "billing.alpeak.test", "invalid", age=timedelta(minutes=1))

    with pytest.raises(BudgetExhausted):
        await budgets.check(pool, "billing.alpeak.test")
    await budgets.check(pool, "billing.alpeak.test", now=datetime.now(UTC) + timedelta(minutes=2))


def test_a_budget_that_allows_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Budgets(failed_validations_per_name=0)

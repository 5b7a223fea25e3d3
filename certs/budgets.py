"""Issuance budgets that model the public CA's rate limits, counted from table acme_orders.

Let's Encrypt (2026) allows 50 certificates per registered domain per 7 days
and 5 failed validations per name per hour. Hitting the CA's own limit blocks
every tenant under that registered domain for days, so the gateway stops one
step earlier with its own count: a broken domain retried by the schedule
cannot burn the budget of the others.

The registered domain is the public suffix plus one label, from the Public
Suffix List bundled with the `publicsuffixlist` package (ICANN and private
sections, as the CA uses; read offline, never fetched). A name under a suffix
unknown to the list (a test TLD) counts under its last two labels.

Orders are recorded one row per name; a certificate with several names under
one registered domain therefore counts once per name, which errs on the safe
side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

from certs.errors import CertsError
from kernel import clock
from kernel.db import Db
from kernel.errors import ErrorKind


class BudgetExhausted(CertsError):
    """An order now would exceed a CA limit; `retry_at` (UTC) is when the budget frees up."""

    kind = ErrorKind.RATE_LIMITED

    def __init__(self, name: str, budget: str, retry_at: datetime) -> None:
        self.name = name
        self.budget = budget
        self.retry_at = retry_at
        super().__init__(
            f"{name}: {budget} reached; next try after {retry_at:%Y-%m-%d %H:%M:%S} UTC"
        )

    @property
    def retry_after(self) -> datetime:
        return self.retry_at


@lru_cache(maxsize=1)
def _suffix_list() -> PublicSuffixList:
    return PublicSuffixList()  # parses the bundled list once (tens of milliseconds)


def registered_domain(name: str) -> str:
    """The name's registered domain: billing.alpeak.co.uk -> alpeak.co.uk.

    A name that is itself a public suffix (co.uk, github.io) is its own
    registered domain here, so it still gets a budget.
    """
    name = name.lower().rstrip(".")
    found = _suffix_list().privatesuffix(name)
    if isinstance(found, str):
        return found
    return name


@dataclass(frozen=True, kw_only=True)
class Budgets:
    """The limits to stay under; the defaults are the public CA's (FACTS.md)."""

    certificates_per_registered_domain: int = 50
    certificate_window: timedelta = timedelta(days=7)
    failed_validations_per_name: int = 5
    failure_window: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.certificates_per_registered_domain < 1 or self.failed_validations_per_name < 1:
            raise ValueError("a budget allows at least one order")
        if self.certificate_window <= timedelta(0) or self.failure_window <= timedelta(0):
            raise ValueError("a budget's window is a positive duration")

    async def check(self, db: Db, name: str, *, now: datetime | None = None) -> None:
        """Raise BudgetExhausted when an order for `name` now would exceed a limit.

        Counts valid orders under the name's registered domain in the last
        `certificate_window` and invalid (failed validation) orders for the name
        in the last `failure_window`, across all directories and replicas.
        """
        now = now or clock.utc_now()
        name = name.lower().rstrip(".")
        failures = await _oldest_counted(
            db,
            "name = $1 AND outcome = 'invalid'",
            name,
            now - self.failure_window,
            self.failed_validations_per_name,
        )
        if failures is not None:
            raise BudgetExhausted(
                name,
                f"{self.failed_validations_per_name} failed validations per name"
                f" per {_describe(self.failure_window)}",
                failures + self.failure_window,
            )
        domain = registered_domain(name)
        issued = await _oldest_counted(
            db,
            "registered_domain = $1 AND outcome = 'valid'",
            domain,
            now - self.certificate_window,
            self.certificates_per_registered_domain,
        )
        if issued is not None:
            raise BudgetExhausted(
                name,
                f"{self.certificates_per_registered_domain} certificates for {domain}"
                f" per {_describe(self.certificate_window)}",
                issued + self.certificate_window,
            )


DEFAULT_BUDGETS = Budgets()


async def check(db: Db, name: str, *, budgets: Budgets = DEFAULT_BUDGETS) -> None:
    """Raise BudgetExhausted when an order for `name` now would exceed the CA's limits."""
    await budgets.check(db, name)


async def _oldest_counted(
    db: Db, condition: str, value: str, since: datetime, limit: int
) -> datetime | None:
    """When the limit is reached: the time of the oldest order still counted, else None.

    The budget frees up when that order leaves the window. `condition` is one
    of this module's fixed fragments; values go through parameters.
    """
    rows = await db.fetch(
        f"""
        SELECT created_at FROM acme_orders
        WHERE {condition} AND created_at > $2
        ORDER BY created_at DESC
        LIMIT $3
        """,
        value,
        since,
        limit,
    )
    if len(rows) < limit:
        return None
    oldest: datetime = rows[-1]["created_at"]
    return oldest


def _describe(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 86400 == 0:
        days = seconds // 86400
        return "day" if days == 1 else f"{days} days"
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "hour" if hours == 1 else f"{hours} hours"
    return f"{seconds} s"

"""When to renew a certificate and when to retry after a failure: the schedule, no I/O.

A certificate is renewed when one third of its lifetime remains (what ACME
clients such as certbot and Caddy do; with 90-day certificates that is 30 days
before expiry, with the 45-day certificates of 2028 it is 15 days), a little
earlier by a jitter derived from its serial, so that certificates issued
together do not all renew in the same minute while every replica computes the
same time for one certificate.

Failures back off along FAILURE_BACKOFF (1, 2, 5, 10 minutes ... capped at 6
hours); the same schedule paces DNS re-checks of domains still waiting for
their record.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

RENEW_FRACTION = 1 / 3  # of the lifetime that must remain when renewal starts
JITTER_FRACTION = 0.05  # renewal starts up to this share of the lifetime earlier
FAILURE_BACKOFF = tuple(
    timedelta(minutes=minutes) for minutes in (1, 2, 5, 10, 20, 40, 60, 120, 240, 360)
)
MAX_BACKOFF = FAILURE_BACKOFF[-1]


def renewal_time(*, not_before: datetime, not_after: datetime, serial: str) -> datetime:
    """When renewal of the certificate [not_before, not_after] with `serial` should start."""
    lifetime = not_after - not_before
    digest = hashlib.sha256(serial.encode()).digest()
    share = int.from_bytes(digest[:4], "big") / 2**32  # stable in [0, 1) per certificate
    jitter = lifetime * (JITTER_FRACTION * share)
    return not_after - lifetime * RENEW_FRACTION - jitter


def backoff(attempts: int) -> timedelta:
    """The wait after `attempts` consecutive failures (1 -> 1 minute, ... capped at 6 hours)."""
    if attempts < 1:
        return FAILURE_BACKOFF[0]
    return FAILURE_BACKOFF[min(attempts, len(FAILURE_BACKOFF)) - 1]

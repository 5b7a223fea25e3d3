"""A custom domain's states and the one guarded way to move between them.

Every transition is one guarded UPDATE (`WHERE status = ANY(expected)`), so
two workers, or a worker and the API, can never both apply it; the loser sees
no row and leaves the domain alone. Workers claim due domains with
`FOR UPDATE SKIP LOCKED` and a lease (`claim_due`), so one replica handles a
given domain at a time, and a replica that dies mid-issuance only delays the
domain until its lease ends. gateway/tenants/lifecycle.py decides which
transition a domain takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import dns.asyncresolver

from certs.issuer import Issuer
from gateway.settings import Settings
from gateway.tenants.dns_check import make_resolver
from gateway.tenants.domains import DOMAIN_COLUMNS, DUE_CHANNEL, Domain
from kernel.db import Db, Pool
from kernel.sealing import Sealer

PENDING_DNS = "pending_dns"


VERIFIED = "verified"


ISSUING = "issuing"


ACTIVE = "active"


RENEWING = "renewing"


FAILED = "failed"


MOVED = "moved"


# A domain whose CNAME is gone is kept (and re-checked) this long before it is removed,
# so a DNS mistake fixed within the week loses nothing.
MOVED_GRACE = timedelta(days=7)


# How long a claimed domain (or an issuance in progress) belongs to one worker; after
# that another replica takes it over. Longer than one ACME order with its lock wait.
LEASE = timedelta(minutes=10)


HELD_BACK_PREFIX = "held back until "


_UPDATABLE = frozenset(
    {
        "failure_reason",
        "diagnosis",
        "attempts",
        "next_check_at",
        "last_checked_at",
        "verified_at",
        "moved_at",
    }
)


@dataclass(frozen=True, kw_only=True)
class LifecycleServices:
    """What the lifecycle needs: the database, the key sealer, settings, issuer and resolver."""

    pool: Pool
    sealer: Sealer
    settings: Settings
    issuer: Issuer
    resolver: dns.asyncresolver.Resolver

    @classmethod
    def build(
        cls, *, pool: Pool, sealer: Sealer, settings: Settings, issuer: Issuer
    ) -> LifecycleServices:
        return cls(
            pool=pool,
            sealer=sealer,
            settings=settings,
            issuer=issuer,
            resolver=resolver_for(settings),
        )


def resolver_for(settings: Settings) -> dns.asyncresolver.Resolver:
    """The resolver for domain checks: settings.dns_resolver, else the system's."""
    if settings.dns_resolver is None:
        return make_resolver()
    host, port = settings.dns_resolver
    return make_resolver([host], port=port)


def held_back_until(domain: Domain) -> datetime | None:
    """When a domain held back by the CA's limits is tried again; None when it is not held."""
    if domain.failure_reason and domain.failure_reason.startswith(HELD_BACK_PREFIX):
        return domain.next_check_at
    return None


async def transition(
    db: Db, domain: Domain, *, expected: Sequence[str], status: str, **changes: Any
) -> Domain | None:
    """Move `domain` to `status` if it is still in one of `expected`; the new row, else None.

    `changes` sets other columns (failure_reason, diagnosis, attempts,
    next_check_at, last_checked_at, verified_at, moved_at) in the same UPDATE.
    """
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValueError(f"not a lifecycle column: {', '.join(sorted(unknown))}")
    assignments = ["status = $4", "updated_at = now()"]
    values: list[Any] = [domain.tenant_id, domain.id, list(expected), status]
    for column, value in changes.items():  # column names come from _UPDATABLE only
        values.append(value)
        assignments.append(f"{column} = ${len(values)}")
    row = await db.fetchrow(
        f"""
        UPDATE domains SET {", ".join(assignments)}
        WHERE tenant_id = $1 AND id = $2 AND status = ANY($3::text[])
        RETURNING {DOMAIN_COLUMNS}
        """,
        *values,
    )
    return Domain.from_row(row) if row is not None else None


async def claim_due(db: Db, *, now: datetime, limit: int) -> list[Domain]:
    """Take up to `limit` domains due at `now` for this worker, pushing their next check by LEASE.

    Runs across tenants by design: the worker serves every tenant, and each
    later UPDATE names the domain's tenant. Rows another worker is claiming are
    skipped, so two workers never get the same domain.
    """
    rows = await db.fetch(
        f"""
        UPDATE domains SET next_check_at = $2
        WHERE id IN (
            SELECT id FROM domains
            WHERE next_check_at <= $1
            ORDER BY next_check_at
            LIMIT $3
            FOR UPDATE SKIP LOCKED
        )
        RETURNING {DOMAIN_COLUMNS}
        """,
        now,
        now + LEASE,
        limit,
    )
    return [Domain.from_row(row) for row in rows]


async def notify_due(db: Db, domain: Domain) -> None:
    """Wake the domain workers of every replica (delivered when the transaction commits)."""
    await db.execute("SELECT pg_notify($1, $2)", DUE_CHANNEL, domain.id)


def claim_deadline(domain: Domain, moment: datetime) -> datetime:
    """`moment`, or the claim's expiry when that comes first (so the expiry is acted on)."""
    if domain.proven_at is None and domain.claim_expires_at is not None:
        return min(moment, domain.claim_expires_at)
    return moment


async def current(db: Db, domain: Domain) -> Domain:
    row = await db.fetchrow(
        f"SELECT {DOMAIN_COLUMNS} FROM domains WHERE tenant_id = $1 AND id = $2",
        domain.tenant_id,
        domain.id,
    )
    return Domain.from_row(row) if row is not None else domain


async def or_current(db: Db, domain: Domain, updated: Domain | None) -> Domain:
    return updated if updated is not None else await current(db, domain)

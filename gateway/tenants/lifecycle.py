"""The custom-domain lifecycle: DNS checks, issuance, renewal, failures and moves, as transitions.

    pending_dns -> verified -> issuing -> active -> renewing -> active
    failed  (failure_reason, next_check_at: retried by the schedule)
    moved   (the CNAME is gone: no renewal; removed after MOVED_GRACE)

Every transition is one guarded UPDATE (`WHERE status = ANY(expected)`), so
two workers, or a worker and the API, can never both apply it; the loser sees
no row and leaves the domain alone. Workers also claim due domains with
`FOR UPDATE SKIP LOCKED` and a lease (`claim_due`), so one replica handles a
given domain at a time, and a replica that dies mid-issuance only delays the
domain until its lease ends.

A claim must prove that it is this tenant's before anything else happens: its
first verifying check also finds the TXT record `_gateway-verify.<name>` holding
the claim's token. Proving takes the name (`_take_ownership`): every other
tenant's claim on it is dropped, so the first to prove wins and a proof by
whoever controls the DNS later moves the name. A claim unproven when its time is
up is removed, and its token with it.

DNS that cannot be read (SERVFAIL, timeout) never moves or fails a domain: the
check is simply tried again later. A name not pointed at us stays in
pending_dns with the diagnosis and no order is placed with the CA. Issuance
starts in the same step that sees the domain verify. A certificate whose
issuance or renewal fails keeps serving while it is valid (the domain stays
active with the reason); a domain with no certificate goes to failed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import dns.asyncresolver

from certs.budgets import BudgetExhausted
from certs.errors import CertsError
from certs.issuance import issue_and_store
from certs.issuer import IssuanceFailed, IssuanceInProgress, Issuer
from certs.renewal import backoff, renewal_time
from gateway.settings import Settings
from gateway.tenants.dns_check import Diagnosis, OwnershipProof, check_domain, make_resolver
from gateway.tenants.domains import DOMAIN_COLUMNS, DUE_CHANNEL, Domain
from kernel import clock
from kernel.db import Db, Pool
from kernel.sealing import Sealer

log = logging.getLogger(__name__)


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


@dataclass(frozen=True, kw_only=True)
class CertificateInfo:
    """The newest certificate of a domain, as tenants see it."""

    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime


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


async def latest_certificate(db: Db, domain: Domain) -> CertificateInfo | None:
    found = await certificates_of(db, tenant_id=domain.tenant_id, domain_ids=[domain.id])
    return found.get(domain.id)


async def certificates_of(
    db: Db, *, tenant_id: int, domain_ids: Sequence[str]
) -> dict[str, CertificateInfo]:
    """The newest certificate of each of the tenant's `domain_ids` that has one."""
    rows = await db.fetch(
        """
        SELECT DISTINCT ON (domain_id) domain_id, issuer, serial, not_before, not_after
        FROM certificates
        WHERE tenant_id = $1 AND domain_id = ANY($2::text[])
        ORDER BY domain_id, not_after DESC, created_at DESC
        """,
        tenant_id,
        list(domain_ids),
    )
    return {
        row["domain_id"]: CertificateInfo(
            issuer=row["issuer"],
            serial=row["serial"],
            not_before=row["not_before"],
            not_after=row["not_after"],
        )
        for row in rows
    }


def _next_check(settings: Settings, now: datetime, certificate: CertificateInfo | None) -> datetime:
    """An active domain's next visit: the periodic DNS re-check or renewal, whichever is first."""
    recheck = now + timedelta(seconds=settings.domain_recheck_seconds)
    if certificate is None:
        return recheck
    return min(recheck, _renew_at(certificate))


def _renew_at(certificate: CertificateInfo) -> datetime:
    return renewal_time(
        not_before=certificate.not_before,
        not_after=certificate.not_after,
        serial=certificate.serial,
    )


async def advance(
    services: LifecycleServices, domain: Domain, *, now: datetime | None = None
) -> Domain:
    """One step for a due domain: check its DNS, then issue, renew, move or wait as it calls for.

    Returns the domain as left; when another worker changed it meanwhile,
    the row as it is now (this call then did nothing).
    """
    now = now or clock.utc_now()
    if domain.claim_expired(now):
        await services.pool.execute(
            "DELETE FROM domains WHERE tenant_id = $1 AND id = $2 AND proven_at IS NULL",
            domain.tenant_id,
            domain.id,
        )
        log.info("claim on %s expired unproven: removed", domain.name)
        return domain
    if domain.status in (ISSUING, RENEWING):
        # A lease ran out with the issuance unfinished (its worker stopped): take it over.
        return await issue_certificate(services, domain, now=now, renew=domain.status == RENEWING)
    diagnosis = await check_domain(
        domain.name,
        cname_target=services.settings.cname_target,
        ingress_addresses=services.settings.ingress_addresses,
        resolver=services.resolver,
        caa_identities=services.settings.caa_identities,
        proof=proof_of(domain),
    )
    checked = {"diagnosis": diagnosis.to_json(), "last_checked_at": now}
    if diagnosis.retry_later:
        return await _retry_later(services, domain, diagnosis, now=now)
    if not diagnosis.verified:
        return await _not_pointed_at_us(services, domain, checked, now=now)
    if domain.proven_at is None:
        owned = await _take_ownership(services.pool, domain, now=now)
        if owned is None:
            return await _current(services.pool, domain)
        domain = owned
    if domain.status == ACTIVE:
        certificate = await latest_certificate(services.pool, domain)
        if certificate is None or _renew_at(certificate) <= now:
            renewing = await transition(
                services.pool, domain, expected=[ACTIVE], status=ACTIVE, **checked
            )
            if renewing is None:
                return await _current(services.pool, domain)
            return await issue_certificate(services, renewing, now=now, renew=True)
        return await _or_current(
            services.pool,
            domain,
            await transition(
                services.pool,
                domain,
                expected=[ACTIVE],
                status=ACTIVE,
                attempts=0,
                next_check_at=_next_check(services.settings, now, certificate),
                **checked,
            ),
        )
    verified = await transition(
        services.pool,
        domain,
        expected=[PENDING_DNS, VERIFIED, FAILED, MOVED],
        status=VERIFIED,
        verified_at=now,
        moved_at=None,
        # The failure count survives a re-check so that issuance failures keep backing off.
        attempts=domain.attempts if domain.status == FAILED else 0,
        **checked,
    )
    if verified is None:
        return await _current(services.pool, domain)
    certificate = await latest_certificate(services.pool, verified)
    if certificate is not None and certificate.not_after > now and _renew_at(certificate) > now:
        # Back from moved (or failed) with a certificate still good: serve it again.
        return await _or_current(
            services.pool,
            verified,
            await transition(
                services.pool,
                verified,
                expected=[VERIFIED],
                status=ACTIVE,
                attempts=0,
                failure_reason=None,
                next_check_at=_next_check(services.settings, now, certificate),
            ),
        )
    return await issue_certificate(services, verified, now=now)


def proof_of(domain: Domain) -> OwnershipProof | None:
    """The TXT record a claim still has to show; None once it is proven."""
    if domain.proven_at is not None:
        return None
    return OwnershipProof(record_name=domain.proof_record_name, token=domain.proof_token)


async def _take_ownership(db: Pool, domain: Domain, *, now: datetime) -> Domain | None:
    """Mark the claim proven and drop every other tenant's claim on the name, atomically.

    None when the claim is gone or expired meanwhile (nothing is dropped then).
    """
    async with db.acquire() as connection, connection.transaction():
        # Two tenants proving one name at once take turns; the second one's proof then
        # moves the name, as it would a minute later.
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "domain owner " + domain.name
        )
        row = await connection.fetchrow(
            f"""UPDATE domains SET proven_at = $3, claim_expires_at = NULL, updated_at = now()
                WHERE tenant_id = $1 AND id = $2 AND proven_at IS NULL AND claim_expires_at > $3
                RETURNING {DOMAIN_COLUMNS}""",
            domain.tenant_id,
            domain.id,
            now,
        )
        if row is None:
            return None
        dropped = await connection.fetchval(
            """WITH dropped AS (DELETE FROM domains WHERE name = $1 AND id <> $2 RETURNING 1)
               SELECT count(*) FROM dropped""",
            domain.name,
            domain.id,
        )
    log.info("claim on %s proven; %d other claims on it dropped", domain.name, dropped)
    return Domain.from_row(row)


def _claim_deadline(domain: Domain, moment: datetime) -> datetime:
    """`moment`, or the claim's expiry when that comes first (so the expiry is acted on)."""
    if domain.proven_at is None and domain.claim_expires_at is not None:
        return min(moment, domain.claim_expires_at)
    return moment


async def _retry_later(
    services: LifecycleServices, domain: Domain, diagnosis: Diagnosis, *, now: datetime
) -> Domain:
    """DNS could not be read: keep the status (never moved or failed for it), look again soon."""
    attempts = domain.attempts + 1
    changes: dict[str, Any] = {
        "last_checked_at": now,
        "attempts": attempts,
        "next_check_at": _claim_deadline(domain, now + backoff(attempts)),
    }
    if domain.status in (PENDING_DNS, VERIFIED):
        changes["diagnosis"] = diagnosis.to_json()  # the tenant sees why nothing happens
    return await _or_current(
        services.pool,
        domain,
        await transition(
            services.pool, domain, expected=[domain.status], status=domain.status, **changes
        ),
    )


async def _not_pointed_at_us(
    services: LifecycleServices, domain: Domain, checked: dict[str, Any], *, now: datetime
) -> Domain:
    pool = services.pool
    attempts = domain.attempts + 1
    if domain.status == ACTIVE:
        moved = await transition(
            pool,
            domain,
            expected=[ACTIVE],
            status=MOVED,
            moved_at=now,
            attempts=0,
            next_check_at=now + backoff(1),
            **checked,
        )
        if moved is not None:
            log.info("domain %s no longer points at us: moved", domain.name)
        return await _or_current(pool, domain, moved)
    if domain.status == MOVED:
        moved_at = domain.moved_at or now
        if now >= moved_at + MOVED_GRACE:
            await pool.execute(
                "DELETE FROM domains WHERE tenant_id = $1 AND id = $2 AND status = $3",
                domain.tenant_id,
                domain.id,
                MOVED,
            )
            log.info("domain %s removed after %s moved away", domain.name, MOVED_GRACE)
            return domain
        return await _or_current(
            pool,
            domain,
            await transition(
                pool,
                domain,
                expected=[MOVED],
                status=MOVED,
                attempts=attempts,
                next_check_at=min(now + backoff(attempts), moved_at + MOVED_GRACE),
                **checked,
            ),
        )
    # pending_dns, verified or failed: wait for the tenant's record; no order with the CA.
    return await _or_current(
        pool,
        domain,
        await transition(
            pool,
            domain,
            expected=[PENDING_DNS, VERIFIED, FAILED],
            status=PENDING_DNS,
            attempts=attempts,
            failure_reason=None,
            next_check_at=_claim_deadline(domain, now + backoff(attempts)),
            **checked,
        ),
    )


async def issue_certificate(
    services: LifecycleServices, domain: Domain, *, now: datetime, renew: bool = False
) -> Domain:
    """Issue (verified, failed, issuing) or renew (active, renewing) the domain's certificate.

    Outcomes become state: active with the new certificate; failed with the
    reason and the next try on the backoff schedule, or "held back until ..."
    when the CA's budget is spent (an active domain keeps serving its current
    certificate and stays active with the reason).
    """
    pool = services.pool
    working = RENEWING if renew else ISSUING
    claimed = await transition(
        pool,
        domain,
        expected=[ACTIVE, RENEWING] if renew else [VERIFIED, FAILED, ISSUING],
        status=working,
        next_check_at=now + LEASE,
    )
    if claimed is None:
        return await _current(pool, domain)
    settle = ACTIVE if renew else FAILED
    try:
        stored = await issue_and_store(
            services.issuer,
            pool,
            services.sealer,
            tenant_id=domain.tenant_id,
            domain_id=domain.id,
            names=[domain.name],
        )
    except BudgetExhausted as error:
        reason = f"{HELD_BACK_PREFIX}{error.retry_at:%Y-%m-%d %H:%M:%S} UTC: {error.budget} reached"
        log.warning("certificate for %s %s", domain.name, reason)
        return await _settle(pool, claimed, settle, reason=reason, next_check_at=error.retry_at)
    except IssuanceInProgress:
        # Another process is ordering for this name; look again shortly.
        back = ACTIVE if renew else VERIFIED
        return await _settle(pool, claimed, back, reason=None, next_check_at=now + backoff(1))
    except IssuanceFailed as error:
        attempts = claimed.attempts + 1
        return await _settle(
            pool,
            claimed,
            settle,
            reason=error.reason,
            next_check_at=now + backoff(attempts),
            attempts=attempts,
        )
    except CertsError as error:  # names no CA issues: nothing to retry soon
        return await _settle(
            pool, claimed, FAILED, reason=str(error), next_check_at=now + backoff(99)
        )
    issued = stored.certificate
    certificate = CertificateInfo(
        issuer=services.issuer.kind,
        serial=issued.serial,
        not_before=issued.not_before,
        not_after=issued.not_after,
    )
    log.info("certificate %s issued for %s", issued.serial, domain.name)
    return await _or_current(
        pool,
        claimed,
        await transition(
            pool,
            claimed,
            expected=[working],
            status=ACTIVE,
            attempts=0,
            failure_reason=None,
            next_check_at=_next_check(services.settings, now, certificate),
        ),
    )


async def _settle(
    db: Db,
    domain: Domain,
    status: str,
    *,
    reason: str | None,
    next_check_at: datetime,
    attempts: int | None = None,
) -> Domain:
    changes: dict[str, Any] = {"failure_reason": reason, "next_check_at": next_check_at}
    if attempts is not None:
        changes["attempts"] = attempts
    return await _or_current(
        db, domain, await transition(db, domain, expected=[domain.status], status=status, **changes)
    )


async def check_now(
    services: LifecycleServices, domain: Domain, *, now: datetime | None = None
) -> Domain:
    """Check the domain at once (the API's and CLI's `check`), issuing if it just verified.

    An issuance already running elsewhere is left alone: the domain is returned as is.
    """
    now = now or clock.utc_now()
    if domain.status in (ISSUING, RENEWING) and (
        domain.next_check_at is None or domain.next_check_at > now
    ):
        return domain
    return await advance(services, domain, now=now)


async def renew_now(
    services: LifecycleServices, domain: Domain, *, now: datetime | None = None
) -> Domain:
    """Renew an active domain's certificate now, whatever its expiry (the CLI's `cert renew`).

    A domain that is not active gets the normal step instead (`advance`).
    """
    now = now or clock.utc_now()
    if domain.status != ACTIVE:
        return await advance(services, domain, now=now)
    return await issue_certificate(services, domain, now=now, renew=True)


async def _current(db: Db, domain: Domain) -> Domain:
    row = await db.fetchrow(
        f"SELECT {DOMAIN_COLUMNS} FROM domains WHERE tenant_id = $1 AND id = $2",
        domain.tenant_id,
        domain.id,
    )
    return Domain.from_row(row) if row is not None else domain


async def _or_current(db: Db, domain: Domain, updated: Domain | None) -> Domain:
    return updated if updated is not None else await _current(db, domain)

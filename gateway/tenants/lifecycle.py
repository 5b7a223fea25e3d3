"""The custom-domain lifecycle: DNS checks, issuance, renewal, failures and moves, as transitions.

    pending_dns -> verified -> issuing -> active -> renewing -> active
    failed  (failure_reason, next_check_at: retried by the schedule)
    moved   (the CNAME is gone: no renewal; removed after MOVED_GRACE)

Every transition is one guarded UPDATE, and workers claim due domains with a
lease (gateway/tenants/domain_states.py); issuance and renewal are
gateway/tenants/domain_issuance.py. This module decides which step a due
domain takes, and re-exports what the rest of the gateway uses (`__all__`).

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
from datetime import datetime
from typing import Any

from certs.renewal import backoff
from gateway.tenants.dns_check import Diagnosis, OwnershipProof, check_domain
from gateway.tenants.domain_issuance import (
    CertificateInfo,
    certificates_of,
    issue_certificate,
    latest_certificate,
    next_check,
    renew_at,
)
from gateway.tenants.domain_states import (
    ACTIVE,
    FAILED,
    ISSUING,
    LEASE,
    MOVED,
    MOVED_GRACE,
    PENDING_DNS,
    RENEWING,
    VERIFIED,
    LifecycleServices,
    claim_deadline,
    claim_due,
    current,
    held_back_until,
    notify_due,
    or_current,
    resolver_for,
    transition,
)
from gateway.tenants.domains import DOMAIN_COLUMNS, Domain
from kernel import clock
from kernel.db import Pool

log = logging.getLogger(__name__)

__all__ = [
    "ACTIVE",
    "FAILED",
    "ISSUING",
    "LEASE",
    "MOVED",
    "MOVED_GRACE",
    "PENDING_DNS",
    "RENEWING",
    "VERIFIED",
    "CertificateInfo",
    "LifecycleServices",
    "advance",
    "certificates_of",
    "check_now",
    "claim_due",
    "held_back_until",
    "issue_certificate",
    "latest_certificate",
    "notify_due",
    "proof_of",
    "renew_now",
    "resolver_for",
    "transition",
]


async def advance(
    services: LifecycleServices, domain: Domain, *, now: datetime | None = None
) -> Domain:
    """One step for a due domain: check its DNS, then issue, renew, move or wait as it calls for.

    Returns the domain as left; when another worker changed it meanwhile,
    the row as it is now (this call then did nothing).
    """
    now = now or clock.utc_now()
    if domain.claim_expired(now):
        await _drop_unproven(services.pool, domain)
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
            return await current(services.pool, domain)
        domain = owned
    if domain.status == ACTIVE:
        return await _still_active(services, domain, checked, now=now)
    return await _verified(services, domain, checked, now=now)


async def _still_active(
    services: LifecycleServices, domain: Domain, checked: dict[str, Any], *, now: datetime
) -> Domain:
    """An active domain still points at us: renew when due, else come back at the next check."""
    certificate = await latest_certificate(services.pool, domain)
    if certificate is None or renew_at(certificate) <= now:
        renewing = await transition(
            services.pool, domain, expected=[ACTIVE], status=ACTIVE, **checked
        )
        if renewing is None:
            return await current(services.pool, domain)
        return await issue_certificate(services, renewing, now=now, renew=True)
    return await or_current(
        services.pool,
        domain,
        await transition(
            services.pool,
            domain,
            expected=[ACTIVE],
            status=ACTIVE,
            attempts=0,
            next_check_at=next_check(services.settings, now, certificate),
            **checked,
        ),
    )


async def _verified(
    services: LifecycleServices, domain: Domain, checked: dict[str, Any], *, now: datetime
) -> Domain:
    """A domain that now points at us: served again with a good certificate, else issued one."""
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
        return await current(services.pool, domain)
    certificate = await latest_certificate(services.pool, verified)
    if certificate is not None and certificate.not_after > now and renew_at(certificate) > now:
        # Back from moved (or failed) with a certificate still good: serve it again.
        return await or_current(
            services.pool,
            verified,
            await transition(
                services.pool,
                verified,
                expected=[VERIFIED],
                status=ACTIVE,
                attempts=0,
                failure_reason=None,
                next_check_at=next_check(services.settings, now, certificate),
            ),
        )
    return await issue_certificate(services, verified, now=now)


async def _drop_unproven(db: Pool, domain: Domain) -> None:
    await db.execute(
        "DELETE FROM domains WHERE tenant_id = $1 AND id = $2 AND proven_at IS NULL",
        domain.tenant_id,
        domain.id,
    )
    log.info("claim on %s expired unproven: removed", domain.name)


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


async def _retry_later(
    services: LifecycleServices, domain: Domain, diagnosis: Diagnosis, *, now: datetime
) -> Domain:
    """DNS could not be read: keep the status (never moved or failed for it), look again soon."""
    attempts = domain.attempts + 1
    changes: dict[str, Any] = {
        "last_checked_at": now,
        "attempts": attempts,
        "next_check_at": claim_deadline(domain, now + backoff(attempts)),
    }
    if domain.status in (PENDING_DNS, VERIFIED):
        changes["diagnosis"] = diagnosis.to_json()  # the tenant sees why nothing happens
    return await or_current(
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
        return await or_current(pool, domain, moved)
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
        return await or_current(
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
    return await or_current(
        pool,
        domain,
        await transition(
            pool,
            domain,
            expected=[PENDING_DNS, VERIFIED, FAILED],
            status=PENDING_DNS,
            attempts=attempts,
            failure_reason=None,
            next_check_at=claim_deadline(domain, now + backoff(attempts)),
            **checked,
        ),
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

"""Issuing and renewing a custom domain's certificate, and what tenants see of it.

Outcomes become state: active with the new certificate; failed with the reason
and the next try on the backoff schedule, or "held back until ..." when the
CA's budget is spent (an active domain keeps serving its current certificate
and stays active with the reason).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from certs.budgets import BudgetExhausted
from certs.errors import CertsError
from certs.issuance import issue_and_store
from certs.issuer import IssuanceFailed, IssuanceInProgress
from certs.renewal import backoff, renewal_time
from certs.store import CertificateStore
from gateway.settings import Settings
from gateway.tenants.domain_states import (
    ACTIVE,
    FAILED,
    HELD_BACK_PREFIX,
    ISSUING,
    LEASE,
    RENEWING,
    VERIFIED,
    LifecycleServices,
    current,
    or_current,
    transition,
)
from gateway.tenants.domains import Domain
from kernel.db import Db

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class CertificateInfo:
    """The newest certificate of a domain, as tenants see it."""

    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime


async def latest_certificate(db: Db, domain: Domain) -> CertificateInfo | None:
    found = await certificates_of(db, tenant_id=domain.tenant_id, domain_ids=[domain.id])
    return found.get(domain.id)


async def certificates_of(
    db: Db, *, tenant_id: int, domain_ids: Sequence[str]
) -> dict[str, CertificateInfo]:
    """The newest certificate of each of the tenant's `domain_ids` that has one."""
    newest = await CertificateStore().newest_of_domains(
        db, tenant_id=tenant_id, domain_ids=domain_ids
    )
    return {
        domain_id: CertificateInfo(
            issuer=summary.issuer,
            serial=summary.serial,
            not_before=summary.not_before,
            not_after=summary.not_after,
        )
        for domain_id, summary in newest.items()
    }


def next_check(settings: Settings, now: datetime, certificate: CertificateInfo | None) -> datetime:
    """An active domain's next visit: the periodic DNS re-check or renewal, whichever is first."""
    recheck = now + timedelta(seconds=settings.domain_recheck_seconds)
    if certificate is None:
        return recheck
    return min(recheck, renew_at(certificate))


def renew_at(certificate: CertificateInfo) -> datetime:
    return renewal_time(
        not_before=certificate.not_before,
        not_after=certificate.not_after,
        serial=certificate.serial,
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
    claimed = await transition(
        pool,
        domain,
        expected=[ACTIVE, RENEWING] if renew else [VERIFIED, FAILED, ISSUING],
        status=RENEWING if renew else ISSUING,
        next_check_at=now + LEASE,
    )
    if claimed is None:
        return await current(pool, domain)
    try:
        stored = await issue_and_store(
            services.issuer,
            pool,
            services.sealer,
            tenant_id=domain.tenant_id,
            domain_id=domain.id,
            names=[domain.name],
        )
    except CertsError as error:
        return await _not_issued(pool, claimed, error, renew=renew, now=now)
    issued = stored.certificate
    certificate = CertificateInfo(
        issuer=services.issuer.kind,
        serial=issued.serial,
        not_before=issued.not_before,
        not_after=issued.not_after,
    )
    log.info("certificate %s issued for %s", issued.serial, domain.name)
    return await or_current(
        pool,
        claimed,
        await transition(
            pool,
            claimed,
            expected=[claimed.status],
            status=ACTIVE,
            attempts=0,
            failure_reason=None,
            next_check_at=next_check(services.settings, now, certificate),
        ),
    )


async def _not_issued(
    db: Db, claimed: Domain, error: CertsError, *, renew: bool, now: datetime
) -> Domain:
    """The state an issuance that raised `error` leaves the claimed domain in."""
    settle = ACTIVE if renew else FAILED
    if isinstance(error, BudgetExhausted):
        reason = f"{HELD_BACK_PREFIX}{error.retry_at:%Y-%m-%d %H:%M:%S} UTC: {error.budget} reached"
        log.warning("certificate for %s %s", claimed.name, reason)
        return await _settle(db, claimed, settle, reason=reason, next_check_at=error.retry_at)
    if isinstance(error, IssuanceInProgress):
        # Another process is ordering for this name; look again shortly.
        back = ACTIVE if renew else VERIFIED
        return await _settle(db, claimed, back, reason=None, next_check_at=now + backoff(1))
    if isinstance(error, IssuanceFailed):
        attempts = claimed.attempts + 1
        return await _settle(
            db,
            claimed,
            settle,
            reason=error.reason,
            next_check_at=now + backoff(attempts),
            attempts=attempts,
        )
    # Names no CA issues: nothing to retry soon.
    return await _settle(db, claimed, FAILED, reason=str(error), next_check_at=now + backoff(99))


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
    return await or_current(
        db, domain, await transition(db, domain, expected=[domain.status], status=status, **changes)
    )

"""The domain lifecycle step by step: DNS outages, renewal timing, moves and their grace period,
and guarded transitions, with the internal CA issuing and pebble-challtestsrv answering DNS."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from certs.renewal import JITTER_FRACTION, RENEW_FRACTION, backoff, renewal_time
from gateway.settings import Settings
from gateway.tenants import domains, lifecycle
from gateway.tenants.domains import Domain
from gateway.tenants.lifecycle import LifecycleServices
from gateway.tenants.registry import create_tenant
from tests.fixtures.pebble import ChallTestSrv, challtestsrv
from tests.tenants.lifecycle_services import lifecycle_services

__all__ = ["challtestsrv"]


@pytest.fixture
async def services(
    pool: asyncpg.Pool, settings: Settings, challtestsrv: ChallTestSrv
) -> LifecycleServices:
    return await lifecycle_services(pool, settings, challtestsrv, custom_suffix="alpeak.test")


async def new_domain(pool: asyncpg.Pool, *, pointed: ChallTestSrv | None = None) -> Domain:
    tenant = await create_tenant(
        pool, slug=f"t{secrets.token_hex(3)}", name="Alpeak", brand_color="#0e7c66"
    )
    name = f"billing-{secrets.token_hex(4)}.alpeak.test"
    domain = await domains.add_domain(pool, tenant_id=tenant.id, name=name, base_domain="localhost")
    if pointed is not None:
        pointed.set_cname(name, "cname.localhost")
        pointed.set_txt(domain.proof_record_name, domain.proof_token)
    return domain


async def test_a_verified_domain_is_active_with_its_certificate_in_one_step(
    pool: asyncpg.Pool, services: LifecycleServices, challtestsrv: ChallTestSrv
) -> None:
    domain = await new_domain(pool, pointed=challtestsrv)

    active = await lifecycle.advance(services, domain)

    assert active.status == "active"
    assert active.verified_at is not None
    assert await lifecycle.latest_certificate(pool, active) is not None


async def test_a_domain_outside_the_internal_ca_fails_with_the_setting_to_change(
    pool: asyncpg.Pool, settings: Settings, challtestsrv: ChallTestSrv
) -> None:
    """The root vouches for the base domain and localhost only: a custom domain the operator
    has not added to GATEWAY_INTERNAL_CA_NAMES fails with that in its reason, no crash."""
    services = await lifecycle_services(pool, settings, challtestsrv, custom_suffix=None)
    domain = await new_domain(pool, pointed=challtestsrv)

    failed = await lifecycle.advance(services, domain)

    assert failed.status == "failed"
    assert failed.failure_reason is not None
    assert domain.name in failed.failure_reason
    assert "GATEWAY_INTERNAL_CA_NAMES" in failed.failure_reason
    assert await lifecycle.latest_certificate(pool, failed) is None


async def test_dns_servfail_never_moves_an_active_domain_nor_fails_a_pending_one(
    pool: asyncpg.Pool, services: LifecycleServices, challtestsrv: ChallTestSrv
) -> None:
    active = await lifecycle.advance(services, await new_domain(pool, pointed=challtestsrv))
    pending = await new_domain(pool)
    for domain in (active, pending):
        challtestsrv.set_servfail(domain.name)
    later = datetime.now(UTC) + timedelta(hours=2)

    still_active = await lifecycle.advance(services, active, now=later)
    still_pending = await lifecycle.advance(services, pending, now=later)

    assert still_active.status == "active"
    assert still_pending.status == "pending_dns"
    assert still_pending.diagnosis["retry_later"] is True
    assert still_pending.next_check_at == later + backoff(1)


async def test_a_pending_domain_is_checked_again_on_a_growing_schedule(
    pool: asyncpg.Pool, services: LifecycleServices
) -> None:
    domain = await new_domain(pool)
    now = datetime.now(UTC)
    waits = []
    for _ in range(4):
        domain = await lifecycle.advance(services, domain, now=now)
        assert domain.next_check_at is not None
        waits.append(domain.next_check_at - now)
        now = domain.next_check_at

    assert domain.status == "pending_dns"
    assert waits == [timedelta(minutes=minutes) for minutes in (1, 2, 5, 10)]
    assert backoff(50) == timedelta(hours=6)


async def test_an_active_domain_renews_when_a_third_of_its_lifetime_remains(
    pool: asyncpg.Pool, services: LifecycleServices, challtestsrv: ChallTestSrv
) -> None:
    active = await lifecycle.advance(services, await new_domain(pool, pointed=challtestsrv))
    first = await lifecycle.latest_certificate(pool, active)
    assert first is not None
    renew_at = renewal_time(
        not_before=first.not_before, not_after=first.not_after, serial=first.serial
    )
    lifetime = first.not_after - first.not_before

    # A third of the lifetime left, started up to JITTER_FRACTION earlier (stable per serial).
    earliest = first.not_after - lifetime * (RENEW_FRACTION + JITTER_FRACTION)
    assert earliest <= renew_at <= first.not_after - lifetime * RENEW_FRACTION
    assert active.next_check_at is not None
    assert active.next_check_at <= renew_at
    not_yet = await lifecycle.advance(services, active, now=renew_at - timedelta(minutes=1))
    assert (await lifecycle.latest_certificate(pool, not_yet)) == first
    renewed = await lifecycle.advance(services, not_yet, now=renew_at + timedelta(seconds=1))
    second = await lifecycle.latest_certificate(pool, renewed)

    assert renewed.status == "active"
    assert second is not None
    assert second.serial != first.serial


async def test_a_moved_domain_is_removed_after_the_grace_period_unless_it_comes_back(
    pool: asyncpg.Pool, services: LifecycleServices, challtestsrv: ChallTestSrv
) -> None:
    returning = await lifecycle.advance(services, await new_domain(pool, pointed=challtestsrv))
    leaving = await lifecycle.advance(services, await new_domain(pool, pointed=challtestsrv))
    now = datetime.now(UTC) + timedelta(hours=2)
    for domain in (returning, leaving):
        challtestsrv.clear_cname(domain.name)
    returning = await lifecycle.advance(services, returning, now=now)
    leaving = await lifecycle.advance(services, leaving, now=now)
    assert (returning.status, leaving.status) == ("moved", "moved")

    challtestsrv.set_cname(returning.name, "cname.localhost")
    back = await lifecycle.advance(services, returning, now=now + timedelta(days=1))
    await lifecycle.advance(services, leaving, now=now + lifecycle.MOVED_GRACE)

    assert back.status == "active"
    assert back.moved_at is None
    remaining = await pool.fetchval("SELECT count(*) FROM domains WHERE id = $1", leaving.id)
    assert remaining == 0


async def test_a_transition_applies_only_from_the_expected_status(
    pool: asyncpg.Pool, services: LifecycleServices
) -> None:
    domain = await new_domain(pool)
    # Proven by hand: only proven claims may leave pending_dns.
    await pool.execute(
        "UPDATE domains SET proven_at = now(), claim_expires_at = NULL WHERE id = $1", domain.id
    )

    first = await lifecycle.transition(
        pool, domain, expected=["pending_dns"], status="verified", verified_at=datetime.now(UTC)
    )
    second = await lifecycle.transition(pool, domain, expected=["pending_dns"], status="verified")

    assert first is not None
    assert first.status == "verified"
    assert second is None

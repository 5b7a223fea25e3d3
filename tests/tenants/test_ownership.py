"""Taking over another company's custom domain fails: claims must be proven with a TXT record.

Two tenants, the internal CA issuing and pebble-challtestsrv answering DNS. The
victim's name already points at the gateway (or was left pointing at it after
removal); the attacker claims it and asks for checks. Nothing the attacker sees
names the victim or says the name is claimed elsewhere.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from gateway.settings import Settings
from gateway.tenants import domains, lifecycle
from gateway.tenants.domains import Domain
from gateway.tenants.errors import TenantConflict, TenantNotFound
from gateway.tenants.lifecycle import LifecycleServices
from gateway.tenants.models import Tenant
from gateway.tenants.registry import create_tenant
from tests.fixtures.pebble import ChallTestSrv, challtestsrv
from tests.tenants.lifecycle_services import lifecycle_services

__all__ = ["challtestsrv"]

CNAME_TARGET = "cname.localhost"


@pytest.fixture
async def services(
    pool: asyncpg.Pool, settings: Settings, challtestsrv: ChallTestSrv
) -> LifecycleServices:
    return await lifecycle_services(pool, settings, challtestsrv, custom_suffix="victim.test")


@pytest.fixture
async def victim(pool: asyncpg.Pool) -> Tenant:
    return await create_tenant(pool, slug="victimco", name="Victim Company", brand_color="#0e7c66")


@pytest.fixture
async def attacker(pool: asyncpg.Pool) -> Tenant:
    return await create_tenant(pool, slug="mallory", name="Mallory", brand_color="#aa0000")


@pytest.fixture
def name(challtestsrv: ChallTestSrv) -> str:
    """The victim's billing domain, already pointed at the gateway."""
    found = f"billing-{secrets.token_hex(4)}.victim.test"
    challtestsrv.set_cname(found, CNAME_TARGET)
    return found


async def claim(pool: asyncpg.Pool, tenant: Tenant, name: str, **options: Any) -> Domain:
    return await domains.add_domain(
        pool, tenant_id=tenant.id, name=name, base_domain="localhost", **options
    )


def assert_names_no_other_tenant(domain: Domain, victim: Tenant, victim_claim: Domain) -> None:
    seen = json.dumps(domain.diagnosis) + (domain.failure_reason or "")
    for secret in (victim.slug, victim.name, victim_claim.id, victim_claim.proof_token):
        assert secret not in seen
    assert "claimed" not in seen


async def test_claiming_a_name_first_does_not_take_it_from_the_company_that_proves_it(
    pool: asyncpg.Pool,
    services: LifecycleServices,
    challtestsrv: ChallTestSrv,
    victim: Tenant,
    attacker: Tenant,
    name: str,
) -> None:
    stolen = await claim(pool, attacker, name)
    rightful = await claim(pool, victim, name)  # not blocked, and not told about the other

    attempt = await lifecycle.advance(services, stolen)

    assert attempt.status == "pending_dns"
    assert attempt.proven_at is None
    assert [p["code"] for p in attempt.diagnosis["problems"]] == ["proof_missing"]
    assert {"type": "TXT", "name": f"_gateway-verify.{name}", "target": stolen.proof_token} in (
        attempt.diagnosis["records_to_create"]
    )
    assert_names_no_other_tenant(attempt, victim, rightful)
    assert await lifecycle.latest_certificate(pool, attempt) is None

    challtestsrv.set_txt(rightful.proof_record_name, rightful.proof_token)
    active = await lifecycle.advance(services, rightful)

    assert active.status == "active", active.failure_reason
    assert active.proven_at is not None
    assert await lifecycle.latest_certificate(pool, active) is not None
    # First to prove wins: the attacker's unproven claim is gone, and with it its token.
    with pytest.raises(TenantNotFound):
        await domains.get_domain(pool, tenant_id=attacker.id, name=name)
    served = await pool.fetch("SELECT tenant_id FROM domains WHERE name = $1", name)
    assert [row["tenant_id"] for row in served] == [victim.id]


async def test_a_name_left_pointing_at_us_after_removal_proves_nothing_for_the_next_claimant(
    pool: asyncpg.Pool,
    services: LifecycleServices,
    challtestsrv: ChallTestSrv,
    victim: Tenant,
    attacker: Tenant,
    name: str,
) -> None:
    owned = await claim(pool, victim, name)
    challtestsrv.set_txt(owned.proof_record_name, owned.proof_token)
    assert (await lifecycle.advance(services, owned)).status == "active"
    # The victim removes the domain but leaves both records in its DNS: the name dangles.
    await domains.delete_domain(pool, tenant_id=victim.id, name=name)

    stolen = await claim(pool, attacker, name)
    attempt = await lifecycle.advance(services, stolen)

    assert attempt.status == "pending_dns"
    assert stolen.proof_token != owned.proof_token
    assert [p["code"] for p in attempt.diagnosis["problems"]] == ["proof_missing"]
    assert_names_no_other_tenant(attempt, victim, owned)
    assert await pool.fetchval("SELECT count(*) FROM certificates") == 0

    # The company still controls its DNS: a new claim proven with its new token comes back.
    again = await claim(pool, victim, name)
    challtestsrv.set_txt(again.proof_record_name, again.proof_token)
    assert (await lifecycle.advance(services, again)).status == "active"


async def test_an_unproven_claim_expires_and_frees_the_name(
    pool: asyncpg.Pool,
    services: LifecycleServices,
    challtestsrv: ChallTestSrv,
    victim: Tenant,
    attacker: Tenant,
    name: str,
) -> None:
    stale = await claim(pool, attacker, name, claim_lifetime=timedelta(days=3))
    assert stale.claim_expires_at is not None
    assert stale.claim_expires_at - stale.created_at == timedelta(days=3)
    checked = await lifecycle.advance(services, stale, now=stale.created_at)
    # The retry schedule never looks past the claim's expiry.
    assert checked.next_check_at is not None
    assert checked.next_check_at <= stale.claim_expires_at

    gone = await lifecycle.advance(services, checked, now=stale.claim_expires_at)

    assert gone.id == stale.id
    with pytest.raises(TenantNotFound):
        await domains.get_domain(pool, tenant_id=attacker.id, name=name)
    # Its token died with it: setting it now proves nothing for anyone.
    challtestsrv.set_txt(stale.proof_record_name, stale.proof_token)
    rightful = await claim(pool, victim, name)
    assert rightful.proof_token != stale.proof_token
    assert (await lifecycle.advance(services, rightful)).status == "pending_dns"
    challtestsrv.set_txt(rightful.proof_record_name, rightful.proof_token)
    assert (await lifecycle.advance(services, rightful)).status == "active"


async def test_an_expired_claim_is_removed_when_the_name_is_claimed_again(
    pool: asyncpg.Pool, attacker: Tenant, name: str
) -> None:
    stale = await claim(pool, attacker, name)
    await pool.execute(
        "UPDATE domains SET claim_expires_at = now() - interval '1 second' WHERE id = $1",
        stale.id,
    )

    fresh = await claim(pool, attacker, name)

    assert fresh.id != stale.id
    assert fresh.proof_token != stale.proof_token
    assert await pool.fetchval("SELECT count(*) FROM domains WHERE name = $1", name) == 1


async def test_claiming_a_name_twice_is_refused_without_mentioning_anyone_else(
    pool: asyncpg.Pool, victim: Tenant, attacker: Tenant, name: str
) -> None:
    await claim(pool, victim, name)
    await claim(pool, attacker, name)

    with pytest.raises(TenantConflict) as refused:
        await claim(pool, attacker, name.upper() + ".")

    assert str(refused.value) == f"you have already added {name}"
    assert await pool.fetchval("SELECT count(*) FROM domains WHERE name = $1", name) == 2


async def test_a_proven_domain_is_served_by_one_tenant_only(
    pool: asyncpg.Pool, victim: Tenant, attacker: Tenant, name: str
) -> None:
    first = await claim(pool, victim, name)
    second = await claim(pool, attacker, name)
    await pool.execute(
        "UPDATE domains SET proven_at = now(), claim_expires_at = NULL WHERE id = $1", first.id
    )

    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute(
            "UPDATE domains SET proven_at = now(), claim_expires_at = NULL WHERE id = $1",
            second.id,
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute("UPDATE domains SET status = 'active' WHERE id = $1", second.id)

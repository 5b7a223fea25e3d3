"""DNS verification against a real mock DNS server (pebble-challtestsrv): what a tenant is told."""

from __future__ import annotations

import json
import secrets

import dns.asyncresolver
import pytest

from gateway.tenants.dns_check import (
    ADDRESS_ELSEWHERE,
    CAA_FORBIDS,
    DNS_UNAVAILABLE,
    NO_RECORD,
    WRONG_TARGET,
    Diagnosis,
    DnsRecord,
    check_domain,
    make_resolver,
)
from tests.fixtures.pebble import ChallTestSrv, empty_dns

__all__ = ["empty_dns"]

TARGET = "cname.gateway.test"
INGRESS = ["192.0.2.10", "2001:db8::10"]


@pytest.fixture
def resolver(empty_dns: ChallTestSrv) -> dns.asyncresolver.Resolver:
    return make_resolver(["127.0.0.1"], port=empty_dns.dns_port, timeout=3.0)


@pytest.fixture
def zone() -> str:
    """A registered domain of this test's own (the mock DNS lives for the whole session)."""
    return f"z{secrets.token_hex(4)}.test"


async def diagnose(name: str, resolver: dns.asyncresolver.Resolver) -> Diagnosis:
    return await check_domain(
        name,
        cname_target=TARGET,
        ingress_addresses=INGRESS,
        resolver=resolver,
        caa_identities=["pebble.letsencrypt.org"],
    )


async def test_cname_to_the_target_verifies_the_domain(
    empty_dns: ChallTestSrv, resolver: dns.asyncresolver.Resolver, zone: str
) -> None:
    empty_dns.set_cname(f"billing.{zone}", TARGET)
    empty_dns.add_a(TARGET, ["192.0.2.10"])

    diagnosis = await diagnose(f"billing.{zone}", resolver)

    assert diagnosis.verified
    assert diagnosis.problems == ()
    assert diagnosis.cname_chain == (TARGET,)
    assert diagnosis.ipv4 == ("192.0.2.10",)


async def test_cname_chain_through_another_name_still_verifies(
    empty_dns: ChallTestSrv, resolver: dns.asyncresolver.Resolver, zone: str
) -> None:
    empty_dns.set_cname(f"billing.{zone}", f"edge.{zone}")
    empty_dns.set_cname(f"edge.{zone}", TARGET)

    diagnosis = await diagnose(f"billing.{zone}", resolver)

    assert diagnosis.verified
    assert diagnosis.cname_chain == (f"edge.{zone}", TARGET)


async def test_wrong_cname_target_tells_what_it_points_to_and_what_to_change(
    empty_dns: ChallTestSrv, resolver: dns.asyncresolver.Resolver, zone: str
) -> None:
    empty_dns.set_cname(f"billing.{zone}", "old-provider.example.net")

    diagnosis = await diagnose(f"billing.{zone}", resolver)

    assert not diagnosis.verified
    assert not diagnosis.retry_later
    assert diagnosis.cname_chain == ("old-provider.example.net",)
    [problem] = diagnosis.problems
    assert problem.code == WRONG_TARGET
    assert "old-provider.example.net" in problem.message
    assert TARGET in problem.message
    assert diagnosis.records_to_create == (DnsRecord("CNAME", f"billing.{zone}", TARGET),)


async def test_missing_record_asks_for_the_cname(
    resolver: dns.asyncresolver.Resolver, zone: str
) -> None:
    diagnosis = await diagnose(f"billing.{zone}", resolver)

    assert not diagnosis.verified
    assert not diagnosis.retry_later
    assert [problem.code for problem in diagnosis.problems] == [NO_RECORD]
    assert diagnosis.cname_chain == ()
    assert diagnosis.records_to_create == (DnsRecord("CNAME", f"billing.{zone}", TARGET),)


async def test_a_record_pointing_elsewhere_is_named(
    empty_dns: ChallTestSrv, resolver: dns.asyncresolver.Resolver, zone: str
) -> None:
    empty_dns.add_a(f"billing.{zone}", ["203.0.113.7"])

    diagnosis = await diagnose(f"billing.{zone}", resolver)

    assert not diagnosis.verified
    assert diagnosis.ipv4 == ("203.0.113.7",)
    [problem] = diagnosis.problems
    assert problem.code == ADDRESS_ELSEWHERE
    assert "203.0.113.7" in problem.message


async def test_apex_with_the_ingress_addresses_verifies(
    empty_dns: ChallTestSrv, resolver: dns.asyncresolver.Resolver, zone: str
) -> None:
    empty_dns.add_a(zone, ["192.0.2.10"])
    empty_dns.add_aaaa(zone, ["2001:db8::10"])

    diagnosis = await diagnose(zone, resolver)

    assert diagnosis.verified
    assert diagnosis.ipv6 == ("2001:db8::10",)


async def test_apex_with_an_aaaa_elsewhere_is_not_verified_and_gets_address_records(
    empty_dns: ChallTestSrv, resolver: dns.asyncresolver.Resolver, zone: str
) -> None:
    empty_dns.add_a(zone, ["192.0.2.10"])
    empty_dns.add_aaaa(zone, ["2001:db8::99"])

    diagnosis = await diagnose(zone, resolver)

    assert not diagnosis.verified
    [problem] = diagnosis.problems
    assert problem.code == ADDRESS_ELSEWHERE
    assert "AAAA" in problem.message
    assert "2001:db8::99" in problem.message
    assert diagnosis.records_to_create == (
        DnsRecord("A", zone, "192.0.2.10"),
        DnsRecord("AAAA", zone, "2001:db8::10"),
    )


async def test_caa_on_a_parent_forbidding_our_ca_is_a_problem(
    empty_dns: ChallTestSrv, resolver: dns.asyncresolver.Resolver, zone: str
) -> None:
    empty_dns.set_cname(f"billing.{zone}", TARGET)
    empty_dns.add_caa(zone, [{"tag": "issue", "value": "digicert.com"}])

    diagnosis = await diagnose(f"billing.{zone}", resolver)

    assert not diagnosis.verified
    [problem] = diagnosis.problems
    assert problem.code == CAA_FORBIDS
    assert "digicert.com" in problem.message
    assert DnsRecord("CAA", zone, '0 issue "pebble.letsencrypt.org"') in (
        diagnosis.records_to_create
    )


async def test_caa_allowing_our_ca_verifies(
    empty_dns: ChallTestSrv, resolver: dns.asyncresolver.Resolver, zone: str
) -> None:
    empty_dns.set_cname(f"billing.{zone}", TARGET)
    empty_dns.add_caa(
        f"billing.{zone}",
        [
            {"tag": "issue", "value": "digicert.com"},
            {"tag": "issue", "value": "pebble.letsencrypt.org; validationmethods=http-01"},
        ],
    )

    diagnosis = await diagnose(f"billing.{zone}", resolver)

    assert diagnosis.verified


async def test_servfail_means_try_again_later_not_wrong(
    empty_dns: ChallTestSrv, resolver: dns.asyncresolver.Resolver, zone: str
) -> None:
    empty_dns.set_servfail(f"billing.{zone}")

    diagnosis = await diagnose(f"billing.{zone}", resolver)

    assert not diagnosis.verified
    assert diagnosis.retry_later
    assert [problem.code for problem in diagnosis.problems] == [DNS_UNAVAILABLE]
    assert "try again later" in diagnosis.problems[0].message


async def test_unreachable_dns_server_means_try_again_later(zone: str) -> None:
    silent = make_resolver(["127.0.0.1"], port=9, timeout=0.5)  # discard port: no DNS

    diagnosis = await diagnose(f"billing.{zone}", silent)

    assert diagnosis.retry_later
    assert not diagnosis.verified


async def test_diagnosis_round_trips_through_json_for_the_domains_table(
    empty_dns: ChallTestSrv, resolver: dns.asyncresolver.Resolver, zone: str
) -> None:
    empty_dns.set_cname(f"billing.{zone}", "old-provider.example.net")
    diagnosis = await diagnose(f"billing.{zone}", resolver)

    stored = json.loads(json.dumps(diagnosis.to_json()))

    assert Diagnosis.from_json(stored) == diagnosis
    assert stored["problems"][0]["code"] == WRONG_TARGET

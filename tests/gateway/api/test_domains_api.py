"""The domains API: bad names refused with the reason, and `check` showing the diagnosis,
then the certificate, with DNS served by pebble-challtestsrv and the internal CA issuing."""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
import pytest

from gateway.app import create_app
from gateway.settings import Settings
from tests.conftest import ApiTenant
from tests.fixtures.pebble import ChallTestSrv, challtestsrv

__all__ = ["challtestsrv"]

MakeTenant = Callable[..., Coroutine[Any, Any, ApiTenant]]


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, challtestsrv: ChallTestSrv) -> Any:
    configured = dataclasses.replace(
        settings,
        dns_resolver=("127.0.0.1", challtestsrv.dns_port),
        # The internal CA issues for the custom domains of these tests only when told to.
        internal_ca_names=("alpeak.test",),
    )
    app = create_app(configured, domain_worker=False)
    return await aiohttp_client(app)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("203.0.113.7", "not an IP address"),
        ("[2001:db8::1]", "not an IP address"),
        ("*.alpeak.com", "wildcard"),
        ("a" * 64 + ".alpeak.com", "longer than 63 characters"),
        (("abcdefghi." * 26) + "com", "at most 253 characters"),
        ("billing", "full domain name"),
        ("bad_name.alpeak.com", "not a valid domain name"),
        ("shop.localhost", "gateway's own"),
    ],
)
async def test_a_bad_domain_name_is_refused_with_the_reason_and_nothing_is_stored(
    client: Any, make_tenant: MakeTenant, pool: asyncpg.Pool, name: str, reason: str
) -> None:
    alpeak = await make_tenant("alpeak")

    response = await client.post("/api/v1/domains", headers=alpeak.headers, json={"name": name})

    assert response.status == 422
    problem = await response.json()
    assert reason in problem["errors"][0]["message"]
    assert await pool.fetchval("SELECT count(*) FROM domains") == 0


async def test_a_claim_by_another_tenant_neither_blocks_a_claim_nor_shows_in_it(
    client: Any, make_tenant: MakeTenant, pool: asyncpg.Pool
) -> None:
    alpeak, bergfeld = await make_tenant("alpeak"), await make_tenant("bergfeld")
    first = await (
        await client.post(
            "/api/v1/domains", headers=alpeak.headers, json={"name": "pay.alpeak.com"}
        )
    ).json()

    response = await client.post(
        "/api/v1/domains", headers=bergfeld.headers, json={"name": "PAY.alpeak.com."}
    )

    assert response.status == 201
    second = await response.json()
    assert second["name"] == "pay.alpeak.com"
    assert second["ownership"]["proven"] is False
    assert second["ownership"]["value"] != first["ownership"]["value"]
    for secret in (first["id"], first["ownership"]["value"], "claimed"):
        assert secret not in json.dumps(second)
    again = await client.post(
        "/api/v1/domains", headers=bergfeld.headers, json={"name": "pay.alpeak.com"}
    )
    assert again.status == 409
    assert (await again.json())["detail"] == "you have already added pay.alpeak.com"
    assert await pool.fetchval("SELECT count(*) FROM domains") == 2


async def test_check_shows_what_to_fix_then_the_certificate_once_the_cname_is_there(
    client: Any, make_tenant: MakeTenant, challtestsrv: ChallTestSrv
) -> None:
    alpeak = await make_tenant("alpeak")
    name = f"billing-{secrets.token_hex(4)}.alpeak.test"
    created = await client.post("/api/v1/domains", headers=alpeak.headers, json={"name": name})
    assert created.status == 201
    created_json = await created.json()

    first = await (
        await client.post(f"/api/v1/domains/{name}/check", headers=alpeak.headers)
    ).json()

    assert first["status"] == "pending_dns"
    assert first["resolves_to"] == ["127.0.0.1"]
    proof = created_json["ownership"]
    assert proof["record_name"] == f"_gateway-verify.{name}"
    assert (
        created_json["records_to_create"]
        == first["records_to_create"]
        == [
            {"type": "CNAME", "name": name, "target": "cname.localhost"},
            {"type": "TXT", "name": proof["record_name"], "target": proof["value"]},
        ]
    )
    assert "127.0.0.1" in first["problems"][0]["message"]
    assert first["problems"][1]["code"] == "proof_missing"
    assert first["certificate"] is None

    challtestsrv.set_cname(name, "cname.localhost")
    cname_only = await (
        await client.post(f"/api/v1/domains/{name}/check", headers=alpeak.headers)
    ).json()
    assert cname_only["status"] == "pending_dns"
    assert [p["code"] for p in cname_only["problems"]] == ["proof_missing"]
    assert proof["value"] in cname_only["problems"][0]["message"]

    challtestsrv.set_txt(proof["record_name"], proof["value"])
    second = await (
        await client.post(f"/api/v1/domains/{name}/check", headers=alpeak.headers)
    ).json()

    assert second["status"] == "active", second["failure_reason"]
    assert second["problems"] == []
    assert second["records_to_create"] == []
    assert second["certificate"]["issuer"] == "internal"
    assert second["held_back_until"] is None
    assert second["ownership"]["proven"] is True
    listed = await (await client.get("/api/v1/domains", headers=alpeak.headers)).json()
    assert listed["data"][0]["certificate"]["serial"] == second["certificate"]["serial"]


async def test_check_of_another_tenants_domain_is_not_found(
    client: Any, make_tenant: MakeTenant
) -> None:
    alpeak, bergfeld = await make_tenant("alpeak"), await make_tenant("bergfeld")
    await client.post("/api/v1/domains", headers=alpeak.headers, json={"name": "pay.alpeak.com"})

    response = await client.post("/api/v1/domains/pay.alpeak.com/check", headers=bergfeld.headers)

    assert response.status == 404

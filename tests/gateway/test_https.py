"""HTTPS serving end to end: the real gateway, real TLS clients, the internal CA, PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import ssl
import warnings

import asyncpg
import pytest

from certs.internal_ca import InternalCA
from certs.store import CertificateStore
from gateway.settings import Settings
from kernel.ids import new_id
from kernel.sealing import Sealer
from tests.gateway.https_gateway import (
    HttpsConnection,
    http_get,
    https_get,
    running_gateway,
    trusting,
    with_free_ports,
)

ALPEAK_COLOR = "#0f766e"
BERGWERK_COLOR = "#b45309"


async def add_tenant(pool: asyncpg.Pool, slug: str, name: str, color: str) -> int:
    tenant_id: int = await pool.fetchval(
        "INSERT INTO tenants (slug, name, brand_color) VALUES ($1, $2, $3) RETURNING id",
        slug,
        name,
        color,
    )
    return tenant_id


async def add_customer(pool: asyncpg.Pool, tenant_id: int, name: str) -> str:
    customer_id = new_id("cus")
    await pool.execute(
        "INSERT INTO customers (id, tenant_id, name, email) VALUES ($1, $2, $3, $4)",
        customer_id,
        tenant_id,
        name,
        "ada@example.com",
    )
    return customer_id


async def root_pem(pool: asyncpg.Pool, settings: Settings) -> str:
    assert settings.kek is not None
    authority = await InternalCA.load_or_create(
        pool, Sealer(settings.kek), permitted_names=settings.internal_ca_permitted_names
    )
    return authority.root_pem


async def certificate_count(pool: asyncpg.Pool, name: str) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM certificates WHERE names @> ARRAY[$1::text]", name
    )
    return count


@pytest.fixture
async def tenants(pool: asyncpg.Pool) -> dict[str, int]:
    return {
        "alpeak": await add_tenant(pool, "alpeak", "Alpeak Outdoor", ALPEAK_COLOR),
        "bergwerk": await add_tenant(pool, "bergwerk", "Bergwerk Tools", BERGWERK_COLOR),
    }


async def test_customer_opens_the_tenant_portal_over_https_trusting_the_internal_root(
    pool: asyncpg.Pool, settings: Settings, tenants: dict[str, int]
) -> None:
    customer_id = await add_customer(pool, tenants["alpeak"], "Ada Lovelace")
    settings = with_free_ports(settings)
    async with running_gateway(settings) as gateway:
        assert gateway.urls == [
            f"http://127.0.0.1:{settings.http_port}",
            f"https://127.0.0.1:{settings.https_port}",
        ]
        client = trusting(await root_pem(pool, settings))
        answer, _ = await https_get(
            settings.https_port, client, "alpeak.localhost", f"/portal/{customer_id}"
        )
    assert answer.status == 200
    assert f"--brand: {ALPEAK_COLOR}" in answer.body
    assert "Ada Lovelace" in answer.body
    assert "Bergwerk" not in answer.body
    # Browsers would pin localhost for a year: no HSTS for a development base domain.
    assert "strict-transport-security" not in answer.headers


async def test_first_handshake_after_a_restart_is_served_from_postgres(
    pool: asyncpg.Pool, settings: Settings, tenants: dict[str, int]
) -> None:
    settings = with_free_ports(settings)
    async with running_gateway(settings):
        client = trusting(await root_pem(pool, settings))
        _, first_serial = await https_get(settings.https_port, client, "alpeak.localhost", "/x")
    assert await certificate_count(pool, "alpeak.localhost") == 1

    async with running_gateway(settings):
        answer, serial = await https_get(settings.https_port, client, "alpeak.localhost", "/x")
    assert answer.status == 404  # a branded page: the handshake and the request went through
    assert f"--brand: {ALPEAK_COLOR}" in answer.body
    assert serial == first_serial
    assert await certificate_count(pool, "alpeak.localhost") == 1


async def test_unknown_server_name_is_refused_with_unrecognized_name(
    pool: asyncpg.Pool, settings: Settings, tenants: dict[str, int]
) -> None:
    settings = with_free_ports(settings)
    async with running_gateway(settings):
        client = trusting(await root_pem(pool, settings))
        for name in ("nobody.localhost", "billing.stranger.test", "a.b.localhost"):
            with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
                await https_get(settings.https_port, client, name, "/")
    assert await pool.fetchval("SELECT count(*) FROM certificates") == 0


async def test_custom_domain_not_yet_verified_gets_no_certificate(
    pool: asyncpg.Pool, settings: Settings, tenants: dict[str, int]
) -> None:
    await pool.execute(
        "INSERT INTO domains (id, tenant_id, name, status) VALUES ($1, $2, $3, 'pending_dns')",
        new_id("dom"),
        tenants["alpeak"],
        "billing.alpeak.test",
    )
    # The internal CA could issue for it: what holds the certificate back is the status.
    settings = with_free_ports(settings, internal_ca_names=("alpeak.test",))
    async with running_gateway(settings):
        client = trusting(await root_pem(pool, settings))
        with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
            await https_get(settings.https_port, client, "billing.alpeak.test", "/")
    assert await certificate_count(pool, "billing.alpeak.test") == 0


async def test_verified_custom_domain_gets_a_certificate_at_its_first_handshake(
    pool: asyncpg.Pool, settings: Settings, tenants: dict[str, int]
) -> None:
    await pool.execute(
        "INSERT INTO domains (id, tenant_id, name, status, proven_at)"
        " VALUES ($1, $2, $3, 'verified', now())",
        new_id("dom"),
        tenants["alpeak"],
        "billing.alpeak.test",
    )
    # The internal CA issues for the custom domain only when told to.
    settings = with_free_ports(settings, internal_ca_names=("alpeak.test",))
    async with running_gateway(settings):
        client = trusting(await root_pem(pool, settings))
        connection = await HttpsConnection.open(settings.https_port, client, "billing.alpeak.test")
        await connection.close()
    stored = await pool.fetchrow(
        "SELECT c.tenant_id, c.domain_id, d.name FROM certificates c JOIN domains d"
        " ON d.id = c.domain_id AND d.tenant_id = c.tenant_id WHERE c.tenant_id = $1",
        tenants["alpeak"],
    )
    assert stored is not None
    assert stored["name"] == "billing.alpeak.test"


async def test_server_name_of_one_tenant_and_host_of_another_gets_421(
    pool: asyncpg.Pool, settings: Settings, tenants: dict[str, int]
) -> None:
    settings = with_free_ports(settings)
    async with running_gateway(settings):
        client = trusting(await root_pem(pool, settings))
        port = settings.https_port
        answer, _ = await https_get(
            port, client, "alpeak.localhost", "/no-such-page", host=f"bergwerk.localhost:{port}"
        )
        same, _ = await https_get(
            port, client, "alpeak.localhost", "/no-such-page", host=f"ALPEAK.localhost.:{port}"
        )
    assert answer.status == 421
    assert "Bergwerk" not in answer.body
    assert same.status == 404  # same name, other spelling: served
    assert "Alpeak Outdoor" in same.body


async def test_host_port_must_be_the_port_of_the_listener_used(
    pool: asyncpg.Pool, settings: Settings, tenants: dict[str, int]
) -> None:
    settings = with_free_ports(settings)
    async with running_gateway(settings):
        client = trusting(await root_pem(pool, settings))
        answer, _ = await https_get(
            settings.https_port,
            client,
            "alpeak.localhost",
            "/x",
            host=f"alpeak.localhost:{settings.http_port}",
        )
    assert answer.status == 400


async def test_plain_http_redirects_known_hosts_to_https_with_308(
    pool: asyncpg.Pool, settings: Settings, tenants: dict[str, int]
) -> None:
    settings = with_free_ports(settings, redirect_http=True)
    async with running_gateway(settings):
        port = settings.http_port
        tenant = await http_get(port, "/portal/cus_1?lang=fr", f"alpeak.localhost:{port}")
        api = await http_get(port, "/api/v1/customers", f"api.localhost:{port}")
        unknown = await http_get(port, "/portal/cus_1", f"nobody.localhost:{port}")
    assert tenant.status == 308
    assert tenant.headers["location"] == (
        f"https://alpeak.localhost:{settings.https_port}/portal/cus_1?lang=fr"
    )
    assert api.status == 308
    assert (
        api.headers["location"] == f"https://api.localhost:{settings.https_port}/api/v1/customers"
    )
    assert unknown.status == 404


async def test_http01_challenge_is_answered_on_port_80_for_a_host_not_served_yet(
    pool: asyncpg.Pool, settings: Settings, tenants: dict[str, int]
) -> None:
    token = "tok_" + os.urandom(16).hex()
    await pool.execute(
        "INSERT INTO acme_challenges (token, name, kind, key_authorization, expires_at)"
        " VALUES ($1, 'billing.alpeak.test', 'http-01', $2, now() + interval '5 minutes')",
        token,
        f"{token}.thumbprint",
    )
    settings = with_free_ports(settings)
    async with running_gateway(settings):
        port = settings.http_port
        answer = await http_get(port, f"/.well-known/acme-challenge/{token}", "billing.alpeak.test")
        other_host = await http_get(
            port, f"/.well-known/acme-challenge/{token}", "billing.stranger.test"
        )
        missing = await http_get(port, "/.well-known/acme-challenge/nope", "billing.alpeak.test")
    assert answer.status == 200
    assert answer.body == f"{token}.thumbprint"
    assert answer.headers["content-type"].startswith("text/plain")
    assert other_host.status == 404
    assert missing.status == 404


async def test_https_responses_carry_hsts_without_include_subdomains(
    pool: asyncpg.Pool, settings: Settings, tenants: dict[str, int]
) -> None:
    settings = with_free_ports(settings, base_domain="gateway.test")
    async with running_gateway(settings):
        client = trusting(await root_pem(pool, settings))
        page, _ = await https_get(settings.https_port, client, "alpeak.gateway.test", "/x")
        api, _ = await https_get(settings.https_port, client, "api.gateway.test", "/api/v1/x")
    assert page.headers["strict-transport-security"] == "max-age=31536000"
    assert api.headers["strict-transport-security"] == "max-age=31536000"


async def test_renewal_serves_new_handshakes_while_an_open_connection_keeps_working(
    pool: asyncpg.Pool, settings: Settings, tenants: dict[str, int]
) -> None:
    settings = with_free_ports(settings)
    assert settings.kek is not None
    async with running_gateway(settings):
        client = trusting(await root_pem(pool, settings))
        port = settings.https_port
        kept = await HttpsConnection.open(port, client, "alpeak.localhost")
        try:
            assert (await kept.get("/x", f"alpeak.localhost:{port}")).status == 404
            sealer = Sealer(settings.kek)
            authority = await InternalCA.load_or_create(
                pool, sealer, permitted_names=settings.internal_ca_permitted_names
            )
            renewed = authority.issue(["alpeak.localhost"])
            await CertificateStore().save(
                pool,
                sealer,
                tenant_id=tenants["alpeak"],
                domain_id=None,
                names=renewed.names,
                issuer="internal",
                chain_pem=renewed.chain_pem,
                key_pem=renewed.key_pem,
            )
            renewed_serial = renewed.serial.lstrip("0")
            assert kept.serial != renewed_serial
            # Every replica learns of the renewal through NOTIFY: give it a moment.
            deadline = asyncio.get_running_loop().time() + 10
            while True:
                _, serial = await https_get(port, client, "alpeak.localhost", "/x")
                if serial == renewed_serial or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert serial == renewed_serial
            again = await kept.get("/x", f"alpeak.localhost:{port}")
            assert again.status == 404
            assert "Alpeak Outdoor" in again.body
        finally:
            await kept.close()


async def test_tls_1_1_client_is_refused(
    pool: asyncpg.Pool, settings: Settings, tenants: dict[str, int]
) -> None:
    settings = with_free_ports(settings)
    async with running_gateway(settings):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # setting TLSv1_1 is deprecated
            client = trusting(await root_pem(pool, settings))
            client.minimum_version = ssl.TLSVersion.TLSv1
            client.maximum_version = ssl.TLSVersion.TLSv1_1
        client.set_ciphers("DEFAULT:@SECLEVEL=0")
        with pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION"):
            await https_get(settings.https_port, client, "alpeak.localhost", "/")

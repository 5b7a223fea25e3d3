"""The served gateway against a real ACME CA (Pebble): challenges answered on its own listeners.

A verified custom domain gets its certificate at its first handshake; Pebble
validates through the gateway's port-80 route (HTTP-01) or its HTTPS listener
(TLS-ALPN-01), and the visitor gets the tenant's portal under Pebble's root.
"""

from __future__ import annotations

import asyncpg
import pytest

from certs.acme_issuer import AcmeIssuer
from certs.challenges import HTTP_01, TLS_ALPN_01
from gateway.settings import Settings
from kernel.ids import new_id
from kernel.sealing import Sealer
from tests.conftest import eventually
from tests.fixtures.pebble import Pebble, challtestsrv, pebble
from tests.gateway.https_gateway import https_get, running_gateway, trusting, with_free_ports

__all__ = ["challtestsrv", "pebble"]

ALPEAK_COLOR = "#0f766e"


@pytest.mark.parametrize("method", [HTTP_01, TLS_ALPN_01])
async def test_verified_domain_is_issued_by_the_ca_through_the_gateways_own_listeners(
    pool: asyncpg.Pool, settings: Settings, pebble: Pebble, method: str
) -> None:
    name = f"billing-{method}.alpeak.test"
    tenant_id = await pool.fetchval(
        "INSERT INTO tenants (slug, name, brand_color) VALUES ('alpeak', 'Alpeak Outdoor', $1)"
        " RETURNING id",
        ALPEAK_COLOR,
    )
    customer_id = new_id("cus")
    await pool.execute(
        "INSERT INTO customers (id, tenant_id, name, email) VALUES ($1, $2, 'Ada', 'a@b.test')",
        customer_id,
        tenant_id,
    )
    domain_id = new_id("dom")
    await pool.execute(
        "INSERT INTO domains (id, tenant_id, name, status, proven_at)"
        " VALUES ($1, $2, $3, 'verified', now())",
        domain_id,
        tenant_id,
        name,
    )
    # Pebble's validator connects to these ports on 127.0.0.1 (challtestsrv's default answer).
    settings = with_free_ports(
        settings,
        http_port=pebble.http_port,
        https_port=pebble.tls_port,
        issuer="acme",
        acme_directory_url=pebble.directory_url,
    )
    assert settings.kek is not None
    issuer = AcmeIssuer(
        pebble.directory_url,
        db=pool,
        sealer=Sealer(settings.kek),
        ca_bundle=pebble.ca_bundle,
        challenge_kinds=[method],
    )
    async with running_gateway(settings, issuer):
        client = trusting(pebble.root_pem)
        # The first handshake gets a certificate; the site opens once the domain is active.
        first, _ = await https_get(settings.https_port, client, name, f"/portal/{customer_id}")
        assert first.status == 404
        await pool.execute(
            "UPDATE domains SET status = 'active' WHERE id = $1 AND tenant_id = $2",
            domain_id,
            tenant_id,
        )
        answer = await eventually(
            lambda: https_get(settings.https_port, client, name, f"/portal/{customer_id}"),
            lambda result: result[0].status == 200,
        )
    assert answer[0].status == 200
    assert f"--brand: {ALPEAK_COLOR}" in answer[0].body
    assert "Ada" in answer[0].body
    stored = await pool.fetchrow(
        "SELECT issuer, domain_id FROM certificates WHERE tenant_id = $1", tenant_id
    )
    assert stored is not None
    assert stored["issuer"] == "acme"
    assert stored["domain_id"] == domain_id
    orders = await pool.fetch("SELECT outcome FROM acme_orders WHERE name = $1", name)
    assert [order["outcome"] for order in orders] == ["valid"]

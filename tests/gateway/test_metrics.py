"""Operators scrape the ops port: requests, latency, TLS handshakes, certificates, ACME, pool."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.edge import keys
from gateway.ops.metrics import GatewayMetrics
from gateway.ops.site import OpsSite, start_ops_site
from gateway.settings import Settings
from gateway.tls.client_hello import ClientHello
from gateway.tls.listener import HttpsListener
from kernel.ids import new_id
from tests.conftest import ApiTenant, eventually
from tests.dashboard.desk import signed_in_desk
from tests.dates import days_from_now
from tests.fixtures.pebble import free_port
from tests.gateway.https_gateway import http_get
from tests.gateway.ops_gateway import observed_app, parse_metrics, sample
from tests.gateway.test_limits import connect, post_bytes, probing_gateway, read_until_closed

Client = TestClient[web.Request, web.Application]
MakeTenant = Callable[..., Awaitable[ApiTenant]]
# A certificate still valid whatever day the suite runs (the metric may skip expired ones).
EXPIRES = days_from_now(60)


@pytest.fixture
def ops_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, ops_port=free_port(), metrics_refresh_seconds=1.0)


@pytest.fixture
async def client(
    ops_settings: Settings, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> Client:
    return await aiohttp_client(observed_app(ops_settings))


@contextlib.asynccontextmanager
async def ops_site(client: Client, **watched: object) -> AsyncIterator[OpsSite]:
    site = await start_ops_site(client.app, **watched)  # type: ignore[arg-type]
    try:
        yield site
    finally:
        await site.close()


async def known_host(client: Client, host: str) -> None:
    """Wait until the host index (refreshed on NOTIFY) knows `host`."""
    index = client.app[keys.HOST_INDEX]
    deadline = asyncio.get_running_loop().time() + 15
    while index.lookup(host) is None:
        assert asyncio.get_running_loop().time() < deadline, f"{host} never reached the index"
        await asyncio.sleep(0.05)


async def counted(done: Callable[[], bool]) -> None:
    """Wait until a counter read by `done` moved (the listener counts in its own tasks)."""
    deadline = asyncio.get_running_loop().time() + 30
    while not done():
        assert asyncio.get_running_loop().time() < deadline, "the counter never moved"
        await asyncio.sleep(0.05)


async def scrape(site: OpsSite, path: str = "/metrics") -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(site.url + path) as response:
        return response.status, response.headers["Content-Type"], await response.text()


async def test_requests_are_counted_by_route_and_status_class_with_latency(
    client: Client, make_tenant: MakeTenant
) -> None:
    acme = await make_tenant("acme")
    await known_host(client, "acme.localhost")
    for _ in range(3):
        response = await client.get("/api/v1/customers", headers=acme.headers)
        assert response.status == 200
    response = await client.get("/portal/cus_unknown", headers={"Host": "acme.localhost:8080"})
    assert response.status == 404
    response = await client.get("/wp-login.php", headers={"Host": "nobody.localhost:8080"})
    assert response.status == 404

    async with ops_site(client) as site:
        status, content_type, text = await scrape(site)
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    samples = parse_metrics(text)
    requests = "gateway_http_requests_total"
    assert sample(samples, requests, route="/api/v1/customers", status="2xx") == 3
    assert sample(samples, requests, route="/portal/{customer_id}", status="4xx") == 1
    # Unknown paths share one label: a scanner cannot grow the series.
    assert sample(samples, requests, route="unmatched", status="4xx") == 1
    latency = "gateway_http_request_duration_seconds"
    assert sample(samples, latency + "_count", route="/api/v1/customers") == 3
    assert sample(samples, latency + "_bucket", route="/api/v1/customers", le="+Inf") == 3
    total = sample(samples, latency + "_sum", route="/api/v1/customers")
    assert total is not None
    assert total > 0


async def test_certificate_expiry_and_acme_orders_come_from_postgresql_on_a_timer(
    client: Client, pool: asyncpg.Pool, make_tenant: MakeTenant
) -> None:
    acme = await make_tenant("acme")
    await pool.execute(
        """INSERT INTO certificates (id, tenant_id, names, issuer, serial, not_before, not_after,
                                     chain_pem, key_sealed)
           VALUES ($1, $2, $3, 'internal', '01', $4, $5, 'chain', '\\x00'::bytea)""",
        new_id("crt"),
        acme.tenant.id,
        ["billing.acme.example"],
        EXPIRES - timedelta(days=90),
        EXPIRES,
    )
    await pool.executemany(
        "INSERT INTO acme_orders (name, registered_domain, directory_url, outcome)"
        " VALUES ('billing.acme.example', 'acme.example', 'https://ca.invalid/dir', $1)",
        [("valid",), ("valid",), ("invalid",)],
    )

    async def scraped() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        async with ops_site(client) as site:
            return parse_metrics((await scrape(site))[2])

    async def refreshed_with_orders(valid: float) -> None:
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            samples = await scraped()
            if sample(samples, "gateway_acme_orders", outcome="valid") == valid:
                break
            assert asyncio.get_running_loop().time() < deadline, "metrics were not refreshed"
            await asyncio.sleep(0.2)

    await refreshed_with_orders(2)
    samples = await scraped()
    expiry = "gateway_certificate_expiry_timestamp_seconds"
    assert sample(samples, expiry, domain="billing.acme.example") == EXPIRES.timestamp()
    assert sample(samples, "gateway_acme_orders", outcome="invalid") == 1
    assert sample(samples, "gateway_acme_orders", outcome="error") == 0

    # A new order shows up at the next refresh, not on the scrape itself.
    await pool.execute(
        "INSERT INTO acme_orders (name, registered_domain, directory_url, outcome)"
        " VALUES ('billing.acme.example', 'acme.example', 'https://ca.invalid/dir', 'valid')"
    )
    await refreshed_with_orders(3)


async def test_database_pool_use_is_reported(client: Client) -> None:
    pool = client.app[keys.POOL]
    async with pool.acquire(), ops_site(client) as site:
        samples = parse_metrics((await scrape(site))[2])
    in_use = sample(samples, "gateway_database_pool_connections", state="in_use")
    # Ours, and the host index's LISTEN connection.
    assert in_use is not None
    assert in_use >= 2
    assert sample(samples, "gateway_database_pool_connections", state="idle") is not None
    assert sample(samples, "gateway_database_pool_max_connections") == pool.get_max_size()


async def test_tls_handshakes_are_counted_by_outcome(client: Client) -> None:
    async def no_certificate(hello: ClientHello) -> ssl.SSLContext | None:
        return None

    listener = HttpsListener(
        host="127.0.0.1", port=0, choose_context=no_certificate, protocol_factory=asyncio.Protocol
    )
    await listener.start()
    try:
        tls = ssl.create_default_context()
        with pytest.raises(ssl.SSLError):
            await asyncio.wait_for(
                asyncio.open_connection(
                    "127.0.0.1", listener.port, ssl=tls, server_hostname="unknown.example"
                ),
                30,
            )
        # Plain HTTP on the TLS port never becomes a handshake.
        _, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        writer.close()
        await counted(lambda: listener.failed >= 1)
        async with ops_site(client, listener=listener) as site:
            samples = parse_metrics((await scrape(site))[2])
    finally:
        await listener.close()
    assert sample(samples, "gateway_tls_connections_accepted_total") == 2
    assert sample(samples, "gateway_tls_handshakes_total", outcome="refused") == 1
    assert sample(samples, "gateway_tls_handshakes_total", outcome="failed") == 1


async def test_ops_site_serves_health_and_turns_unready_without_the_database(
    client: Client,
) -> None:
    async with ops_site(client) as site:
        assert site.url.startswith("http://127.0.0.1:")
        status, _, _ = await scrape(site, "/healthz")
        assert status == 200
        status, _, _ = await scrape(site, "/readyz")
        assert status == 200
        client.app[keys.POOL].terminate()
        status, _, body = await scrape(site, "/readyz")
        assert status == 503
        assert "unreachable" in body
        status, _, _ = await scrape(site, "/healthz")
        assert status == 200


async def test_metrics_are_not_served_on_the_public_listener(client: Client) -> None:
    response = await client.get("/metrics", headers={"Host": "api.localhost:8080"})
    assert response.status == 404


async def test_settings_page_requests_are_counted_under_their_route_pattern(
    client: Client, make_tenant: MakeTenant
) -> None:
    acme = await make_tenant("acme")
    desk = await signed_in_desk(client, acme.key)
    status, _ = await desk.get("/settings/customers")
    assert status == 200
    created = await client.post(
        "/api/v1/customers",
        json={"name": "Ada", "email": "ada@acme.test"},
        headers=acme.headers,
    )
    assert created.status == 201
    async with ops_site(client) as site:
        samples = parse_metrics((await scrape(site))[2])
    requests = "gateway_http_requests_total"
    assert sample(samples, requests, route="/settings/customers", status="2xx") == 1
    assert sample(samples, requests, route="/api/v1/customers", status="2xx") == 1


def test_request_series_stay_bounded_by_routes_and_status_classes() -> None:
    metrics = GatewayMetrics()
    for status in range(200, 600):
        metrics.observe_request(route="/portal/{customer_id}", status=status, seconds=0.01)
    samples = parse_metrics(metrics.render().decode())
    requests = {labels for name, labels in samples if name == "gateway_http_requests_total"}
    assert {dict(labels)["status"] for labels in requests} == {"2xx", "3xx", "4xx", "5xx"}
    assert (
        sample(samples, "gateway_http_requests_total", route="/portal/{customer_id}", status="4xx")
        == 100
    )
    # No tenant label: tenants are not bounded by configuration.
    assert all("tenant" not in dict(labels) for labels in requests)


def test_request_latency_buckets_and_sum_are_those_of_each_observation() -> None:
    metrics = GatewayMetrics()
    for seconds in (0.004, 0.005, 0.2, 20.0):
        metrics.observe_request(route="/brand/icon", status=200, seconds=seconds)
    samples = parse_metrics(metrics.render().decode())
    histogram = "gateway_http_request_duration_seconds"

    def bucket(bound: str) -> float | None:
        return sample(samples, f"{histogram}_bucket", route="/brand/icon", le=bound)

    # A value equal to a bound is in that bucket (le); buckets are cumulative.
    assert (bucket("0.005"), bucket("0.25"), bucket("10.0"), bucket("+Inf")) == (2, 3, 3, 4)
    assert sample(samples, f"{histogram}_count", route="/brand/icon") == 4
    assert sample(samples, f"{histogram}_sum", route="/brand/icon") == pytest.approx(20.209)
    assert sample(samples, "gateway_http_requests_total", route="/brand/icon", status="2xx") == 4


async def test_connections_closed_at_the_head_and_body_deadlines_and_over_the_cap_are_exported(
    settings: Settings,
) -> None:
    async with probing_gateway(
        settings, head_timeout=3.0, body_timeout=0.5, max_connections=2
    ) as served:
        port = served.settings.http_port
        # Two connections that never send a head fill the cap; a third is closed at once.
        first, first_writer = await connect(port)
        second, second_writer = await connect(port)
        over_cap, over_cap_writer = await connect(port)
        await read_until_closed(over_cap, 30)
        # Both silent ones get 408 at the head deadline, which frees the slots.
        await read_until_closed(first, 30)
        await read_until_closed(second, 30)
        # A head whose body stops halfway is closed at the body deadline.
        slow, writer = await connect(port)
        writer.write(post_bytes(b"0123456789")[:-5])
        await read_until_closed(slow, 30)
        for opened in (first_writer, second_writer, over_cap_writer, writer):
            opened.close()

        async def closed() -> dict[str, float | None]:
            answer = await http_get(served.settings.ops_port, "/metrics", "localhost")
            samples = parse_metrics(answer.body)
            return {
                reason: sample(samples, "gateway_http_connections_closed_total", reason=reason)
                for reason in ("head_timeout", "body_timeout", "over_limit")
            }

        figures = await eventually(closed, lambda found: all(found.values()), within=30)
        answer = await http_get(served.settings.ops_port, "/metrics", "localhost")
    samples = parse_metrics(answer.body)
    assert figures == {"head_timeout": 2, "body_timeout": 1, "over_limit": 1}
    # The scrape itself is on the ops port: the public listeners have nothing open.
    assert sample(samples, "gateway_http_connections_open") == 0

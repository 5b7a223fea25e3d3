"""Host middleware: each host shows its own tenant, bad hosts are refused, headers are safe."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.app import create_app
from gateway.settings import Settings

ALPEAK_COLOR = "#aa0000"
BERGWERK_COLOR = "#0055aa"
PNG = b"\x89PNG\r\n\x1a\n" + b"icon bytes"

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(
    # The pool comes first so it closes last: the app's listener gives its connection back first.
    pool: asyncpg.Pool,
    settings: Settings,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> Client:
    await pool.execute(
        "INSERT INTO tenants (slug, name, brand_color) VALUES"
        " ('alpeak', 'Alpeak Outdoor', $1), ('bergwerk', 'Bergwerk Tools', $2)",
        ALPEAK_COLOR,
        BERGWERK_COLOR,
    )
    return await aiohttp_client(create_app(settings, domain_worker=False, outbox_delivery=False))


async def get(client: Client, path: str, host: str) -> tuple[int, str, Any]:
    response = await client.get(path, headers={"Host": host})
    return response.status, await response.text(), response.headers


async def raw_request(client: Client, request: bytes) -> bytes:
    """Send bytes as they are (the test client would fix them) and read the whole answer."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_each_tenant_host_shows_its_own_brand(client: Client) -> None:
    status, alpeak_page, _ = await get(client, "/no-such-page", "alpeak.localhost:8080")
    assert status == 404
    assert f"--brand: {ALPEAK_COLOR}" in alpeak_page
    assert "Alpeak Outdoor" in alpeak_page
    assert "Bergwerk" not in alpeak_page

    status, bergwerk_page, _ = await get(client, "/no-such-page", "bergwerk.localhost")
    assert status == 404
    assert f"--brand: {BERGWERK_COLOR}" in bergwerk_page
    assert "Bergwerk Tools" in bergwerk_page
    assert "Alpeak" not in bergwerk_page


async def test_brand_text_colour_is_readable_on_the_brand(client: Client) -> None:
    _, page, _ = await get(client, "/no-such-page", "alpeak.localhost")
    assert "--brand-contrast: #ffffff" in page


async def test_upper_case_trailing_dot_and_port_reach_the_same_tenant(client: Client) -> None:
    status, page, _ = await get(client, "/no-such-page", "ALPEAK.localhost.:8080")
    assert status == 404
    assert f"--brand: {ALPEAK_COLOR}" in page
    assert "Alpeak Outdoor" in page


async def test_an_unknown_host_gets_a_404_that_names_no_tenant(client: Client) -> None:
    status, page, headers = await get(client, "/portal/cus_x", "nobody.localhost:8080")
    assert status == 404
    assert headers["Content-Type"].startswith("text/html")
    for leaked in ("Alpeak", "alpeak", "Bergwerk", "bergwerk", ALPEAK_COLOR, BERGWERK_COLOR):
        assert leaked not in page
    assert "no site at this address" in page


async def test_a_host_with_the_wrong_port_is_a_bad_request(client: Client) -> None:
    status, page, _ = await get(client, "/", "alpeak.localhost:9999")
    assert status == 400
    assert "8080" in page


async def test_a_malformed_host_is_a_bad_request(client: Client) -> None:
    status, page, _ = await get(client, "/", "alpeak..localhost")
    assert status == 400
    assert "Alpeak" not in page


async def test_an_absolute_form_request_target_is_refused(client: Client) -> None:
    answer = await raw_request(
        client,
        b"GET http://alpeak.localhost/brand/icon HTTP/1.1\r\n"
        b"Host: bergwerk.localhost\r\nConnection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"full URL" in answer
    assert b"Alpeak" not in answer
    assert b"Bergwerk" not in answer


async def test_a_request_without_host_is_refused(client: Client) -> None:
    answer = await raw_request(client, b"GET /brand/icon HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 400 ") or answer.startswith(b"HTTP/1.1 400 ")
    assert b"no Host header" in answer


async def test_health_check_answers_on_any_host(client: Client) -> None:
    response = await client.get("/healthz", headers={"Host": "10.0.0.7:12345"})
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_api_host_serves_only_the_api(client: Client) -> None:
    response = await client.get("/api/v1/openapi.json", headers={"Host": "api.localhost:8080"})
    assert response.status == 200
    assert (await response.json())["openapi"].startswith("3.")
    response = await client.get("/brand/icon", headers={"Host": "api.localhost"})
    assert response.status == 404
    assert response.content_type == "application/problem+json"


async def test_tenant_hosts_never_serve_the_api(client: Client) -> None:
    response = await client.get("/api/v1/openapi.json", headers={"Host": "alpeak.localhost"})
    assert response.status == 404
    assert response.content_type == "application/problem+json"


async def test_the_settings_host_sends_its_root_to_the_settings_page(client: Client) -> None:
    response = await client.get("/", headers={"Host": "app.localhost"}, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/settings"
    status, page, _ = await get(client, "/portal/anything", "app.localhost")
    assert status == 404
    assert "Alpeak" not in page


@pytest.mark.parametrize(
    ("host", "path"),
    [("alpeak.localhost", "/no-such-page"), ("alpeak.localhost:1", "/"), ("nobody.localhost", "/")],
)
async def test_security_headers_are_on_pages_and_errors(
    client: Client, host: str, path: str
) -> None:
    _, _, headers = await get(client, path, host)
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert "Permissions-Policy" in headers
    policy = headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ):
        assert directive in policy


async def test_brand_icon_is_served_with_a_long_lived_cache_and_revalidates(
    client: Client, pool: asyncpg.Pool
) -> None:
    await pool.execute(
        "UPDATE tenants SET icon = $1, icon_type = 'image/png', icon_etag = 'v1abc'"
        " WHERE slug = 'alpeak'",
        PNG,
    )
    host = {"Host": "alpeak.localhost"}
    response = await client.get("/brand/icon?v=v1abc", headers=host)
    assert response.status == 200
    assert await response.read() == PNG
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["ETag"] == '"v1abc"'
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["X-Content-Type-Options"] == "nosniff"

    again = await client.get("/brand/icon?v=v1abc", headers={**host, "If-None-Match": '"v1abc"'})
    assert again.status == 304
    assert await again.read() == b""

    changed = await client.get("/brand/icon", headers={**host, "If-None-Match": '"old"'})
    assert changed.status == 200
    # Without the version in the URL a browser must check back, or it would keep an old icon.
    assert "immutable" not in changed.headers["Cache-Control"]


async def test_a_tenant_without_icon_has_no_icon(client: Client) -> None:
    response = await client.get("/brand/icon", headers={"Host": "bergwerk.localhost"})
    assert response.status == 404


async def test_pages_link_the_icon_once_a_tenant_has_one(
    client: Client, pool: asyncpg.Pool
) -> None:
    _, page, _ = await get(client, "/no-such-page", "alpeak.localhost")
    assert "/brand/icon" not in page
    await pool.execute(
        "UPDATE tenants SET icon = $1, icon_type = 'image/png', icon_etag = 'v2def'"
        " WHERE slug = 'alpeak'",
        PNG,
    )
    deadline = asyncio.get_running_loop().time() + 10
    while "/brand/icon?v=v2def" not in page:
        assert asyncio.get_running_loop().time() < deadline, "the new icon never showed"
        await asyncio.sleep(0.05)
        _, page, _ = await get(client, "/no-such-page", "alpeak.localhost")
    assert 'rel="icon" href="/brand/icon?v=v2def"' in page


async def test_the_production_app_redirects_plain_http_for_known_hosts_when_configured(
    pool: asyncpg.Pool,
    settings: Settings,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> None:
    await pool.execute("INSERT INTO tenants (slug, name) VALUES ('alpeak', 'Alpeak Outdoor')")
    redirecting = dataclasses.replace(settings, redirect_http=True)
    client = await aiohttp_client(
        create_app(redirecting, domain_worker=False, outbox_delivery=False)
    )
    tenant = await client.get(
        "/portal/cus_1?lang=fr", headers={"Host": "alpeak.localhost:8080"}, allow_redirects=False
    )
    assert tenant.status == 308
    assert tenant.headers["Location"] == "https://alpeak.localhost:8443/portal/cus_1?lang=fr"
    assert "Strict-Transport-Security" not in tenant.headers  # HSTS only over HTTPS
    unknown = await client.get("/", headers={"Host": "nobody.localhost:8080"})
    assert unknown.status == 404

"""Ops run parts of the product as separate services behind reverse-proxy routes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import io
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict

from gateway.edge import keys
from gateway.network.http_guard import SERVER_NAME
from gateway.settings import Settings, SettingsError, load_settings
from tests.conftest import ApiTenant, eventually
from tests.fixtures.pebble import free_port
from tests.gateway.gateway_process import gateway_environment, gateway_process
from tests.gateway.ops_gateway import observed_app

Client = TestClient[web.Request, web.Application]
MakeTenant = Callable[..., Awaitable[ApiTenant]]
TENANT_HOST = "acme.localhost:8080"
READ_TIMEOUT = 1.0
WAIT = 60.0


class Upstream:
    """A small upstream service: echoes what it received, streams, or stays silent."""

    def __init__(self) -> None:
        self.first_chunk_received = asyncio.Event()
        self.release_rest = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_route("*", "/reports/echo", self.echo)
        self.app.router.add_post("/reports/upload", self.upload)
        self.app.router.add_get("/reports/stream", self.stream)
        self.app.router.add_get("/reports/silent", self.silent)
        self.app.router.add_get("/reports/broken", self.broken)
        self.app.router.add_get("/reports/held", self.held)
        self.held_requests = 0

    async def echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "path_qs": request.path_qs,
                "headers": dict(request.headers),
                "body": body.decode(),
            },
            status=201,
            headers={"X-Upstream": "reports", "Set-Cookie": "report=1; Path=/reports"},
        )

    async def upload(self, request: web.Request) -> web.Response:
        chunks = []
        async for chunk in request.content.iter_any():
            chunks.append(chunk)
            self.first_chunk_received.set()
        return web.Response(text=str(len(b"".join(chunks))))

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await response.write(b"first part\n")
        await asyncio.wait_for(self.release_rest.wait(), WAIT)
        await response.write(b"second part\n")
        await response.write_eof()
        return response

    async def broken(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await response.write(b"half of the report")
        assert request.transport is not None
        request.transport.close()  # the service crashes mid-answer
        return response

    async def held(self, request: web.Request) -> web.Response:
        """Answers only once the test releases it (or after WAIT)."""
        self.held_requests += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.release_rest.wait(), WAIT)
        return web.Response(text="released")

    async def silent(self, request: web.Request) -> web.Response:
        await asyncio.sleep(WAIT)
        return web.Response(text="too late")


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    service = Upstream()
    server = TestServer(service.app, host="127.0.0.1")
    await server.start_server()
    try:
        yield service, str(server.make_url("")).rstrip("/")
    finally:
        service.release_rest.set()
        await server.close()


async def proxied_client(
    settings: Settings,
    upstreams: tuple[tuple[str, str], ...],
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> Client:
    changed = dataclasses.replace(
        settings,
        upstreams=upstreams,
        upstream_connect_timeout=READ_TIMEOUT,
        upstream_read_timeout=READ_TIMEOUT,
    )
    return await aiohttp_client(observed_app(changed))


@pytest.fixture
async def client(
    settings: Settings,
    upstream: tuple[Upstream, str],
    make_tenant: MakeTenant,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> Client:
    await make_tenant("acme", name="Acme Reports", brand_color="#0a7d32")
    client = await proxied_client(settings, (("/reports", upstream[1]),), aiohttp_client)
    assert client.app[keys.HOST_INDEX].lookup("acme.localhost") is not None
    return client


async def test_the_upstream_learns_client_host_tenant_and_request_id_and_not_forged_values(
    client: Client,
) -> None:
    response = await client.post(
        "/reports/echo?month=2026-11&q=a%20b",
        data=b"report body",
        headers={
            "Host": TENANT_HOST,
            "Content-Type": "text/plain",
            "X-Forwarded-For": "6.6.6.6",
            "X-Tenant-Id": "999",
            "X-Request-Id": "req-1",
            "Connection": "keep-alive, X-Secret-Hop",
            "X-Secret-Hop": "only for the gateway",
        },
    )
    assert response.status == 201
    assert response.headers["X-Upstream"] == "reports"
    assert response.headers["Set-Cookie"] == "report=1; Path=/reports"
    seen: dict[str, Any] = await response.json()
    tenant = client.app[keys.HOST_INDEX].lookup("acme.localhost")
    assert tenant is not None
    assert seen["method"] == "POST"
    assert seen["path_qs"] == "/reports/echo?month=2026-11&q=a%20b"
    assert seen["body"] == "report body"
    headers = CIMultiDict(seen["headers"])  # names are case-insensitive
    assert headers["X-Forwarded-For"] == "127.0.0.1"
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["X-Forwarded-Host"] == TENANT_HOST
    assert headers["X-Tenant-Id"] == str(tenant.id)
    assert headers["X-Tenant-Slug"] == "acme"
    assert headers["X-Request-Id"] == "req-1"
    assert headers["Content-Type"] == "text/plain"
    assert "X-Secret-Hop" not in headers


async def test_a_relayed_response_names_the_gateway_and_echoes_the_request_id(
    client: Client,
) -> None:
    response = await client.get(
        "/reports/stream", headers={"Host": TENANT_HOST, "X-Request-Id": "relay-7"}
    )
    assert response.status == 200
    assert response.headers["Server"] == SERVER_NAME
    assert response.headers["X-Request-Id"] == "relay-7"
    response.close()


async def test_the_response_body_is_streamed_as_the_upstream_writes_it(
    client: Client, upstream: tuple[Upstream, str]
) -> None:
    service, _ = upstream
    response = await client.get("/reports/stream", headers={"Host": TENANT_HOST})
    assert response.status == 200
    # The upstream holds back its second part until we have read the first through the gateway.
    first = await asyncio.wait_for(response.content.readline(), WAIT)
    assert first == b"first part\n"
    service.release_rest.set()
    assert await asyncio.wait_for(response.content.read(), WAIT) == b"second part\n"


async def test_the_request_body_is_streamed_to_the_upstream_as_it_arrives(
    client: Client, upstream: tuple[Upstream, str]
) -> None:
    service, _ = upstream

    async def body() -> AsyncIterator[bytes]:
        yield b"x" * 1000
        # Sent only once the upstream holds the first part: a buffering proxy would hang here.
        await asyncio.wait_for(service.first_chunk_received.wait(), WAIT)
        yield b"y" * 500

    response = await client.post("/reports/upload", data=body(), headers={"Host": TENANT_HOST})
    assert response.status == 200
    assert await response.text() == "1500"


async def test_an_answer_the_upstream_breaks_off_is_not_passed_off_as_complete(
    client: Client,
) -> None:
    response = await client.get("/reports/broken", headers={"Host": TENANT_HOST})
    assert response.status == 200
    with pytest.raises(aiohttp.ClientPayloadError):
        await asyncio.wait_for(response.read(), WAIT)


async def test_an_upstream_that_is_down_is_a_branded_502(
    settings: Settings,
    make_tenant: MakeTenant,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> None:
    await make_tenant("acme", name="Acme Reports", brand_color="#0a7d32")
    down = f"http://127.0.0.1:{free_port()}"
    client = await proxied_client(settings, (("/reports", down),), aiohttp_client)
    response = await client.get("/reports/monthly", headers={"Host": TENANT_HOST})
    assert response.status == 502
    page = await response.text()
    assert response.content_type == "text/html"
    assert "--brand: #0a7d32" in page
    assert "not reachable" in page
    assert "127.0.0.1" not in page  # the upstream's address stays internal


async def test_an_upstream_that_does_not_answer_in_time_is_a_branded_504(
    client: Client,
) -> None:
    started = asyncio.get_running_loop().time()
    response = await client.get("/reports/silent", headers={"Host": TENANT_HOST})
    elapsed = asyncio.get_running_loop().time() - started
    assert response.status == 504
    assert "--brand: #0a7d32" in await response.text()
    assert elapsed < WAIT / 2


async def test_api_clients_get_a_problem_document_for_an_unreachable_upstream(
    client: Client,
) -> None:
    response = await client.get(
        "/reports/silent", headers={"Host": TENANT_HOST, "Accept": "application/json"}
    )
    assert response.status == 504
    problem = json.loads(await response.text())
    assert problem["title"] == "Gateway timeout"
    assert problem["error_id"]


async def test_a_body_over_the_limit_is_refused_before_reaching_the_upstream(
    client: Client,
) -> None:
    limit = client.app[keys.SETTINGS].max_body_bytes
    response = await client.post(
        "/reports/echo", data=io.BytesIO(b"z" * (limit + 1)), headers={"Host": TENANT_HOST}
    )
    assert response.status == 413


async def test_proxy_routes_serve_tenant_hosts_only(client: Client) -> None:
    for host in ("nobody.localhost:8080", "api.localhost:8080"):
        response = await client.get("/reports/echo", headers={"Host": host})
        assert response.status == 404
    # The prefix is a path segment, not a string prefix.
    response = await client.get("/reportsx", headers={"Host": TENANT_HOST})
    assert response.status == 404


async def test_the_upstream_session_is_closed_with_the_app(
    settings: Settings,
    upstream: tuple[Upstream, str],
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> None:
    from gateway.edge.proxy_routes import PROXY_SESSION

    client = await proxied_client(settings, (("/reports", upstream[1]),), aiohttp_client)
    session: aiohttp.ClientSession = client.app[PROXY_SESSION]
    await client.close()
    assert session.closed


HELD_REQUESTS = 5
SHUTDOWN_TIMEOUT = 2.0
# The bound is GATEWAY_SHUTDOWN_TIMEOUT plus about a second; the assertion allows for a loaded
# machine and still sits far below the WAIT seconds the upstream would hold the requests.
EXIT_MARGIN = 8.0


async def held_request(port: int) -> bytes:
    """GET /reports/held through the gateway: what came back before the connection ended."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET /reports/held HTTP/1.1\r\nHost: acme.localhost:{port}\r\n\r\n".encode())
        await writer.drain()
        try:
            return await asyncio.wait_for(reader.read(), WAIT * 2)
        except ConnectionResetError:
            return b""
    finally:
        writer.close()


async def test_a_stopping_gateway_cuts_requests_a_slow_upstream_holds_at_the_shutdown_bound(
    database_url: str,
    tmp_path: Any,
    upstream: tuple[Upstream, str],
    make_tenant: MakeTenant,
    record_property: Callable[[str, object], None],
) -> None:
    service, url = upstream
    await make_tenant("acme", name="Acme Reports")
    environment, ports = gateway_environment(
        database_url,
        base64.b64encode(os.urandom(32)).decode(),
        tmp_path,
        upstreams=f"/reports={url}",
        upstream_read_timeout=str(WAIT * 2),
        shutdown_timeout=str(SHUTDOWN_TIMEOUT),
    )
    async with gateway_process(environment, ports) as gateway:
        requests = [
            asyncio.ensure_future(held_request(gateway.http_port)) for _ in range(HELD_REQUESTS)
        ]
        held = await eventually(
            lambda: asyncio.sleep(0, service.held_requests),
            lambda count: count == HELD_REQUESTS,
            within=WAIT,
        )
        stopped_after = await gateway.stop()
        outcomes = await asyncio.gather(*requests)
        still_held = not service.release_rest.is_set()
    print(f"\nexited {stopped_after:.1f} s after SIGTERM (bound {SHUTDOWN_TIMEOUT} s + 1 s)")
    record_property("proxy_drain_exit_seconds", round(stopped_after, 2))
    assert held == HELD_REQUESTS
    assert still_held
    assert stopped_after < SHUTDOWN_TIMEOUT + EXIT_MARGIN
    assert gateway.process.returncode == 0
    # Cut, not answered: the clients see the connection end without a response.
    assert outcomes == [b""] * HELD_REQUESTS


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("reports=http://10.0.0.5:9000", "/prefix=http://host:port"),
        ("/reports=ftp://10.0.0.5", "/prefix=http://host:port"),
        ("/reports=http://a,/reports=http://b", "/prefix=http://host:port"),
        ("/portal/extra=http://10.0.0.5:9000", "outside the gateway's own paths"),
        ("/.well-known=http://10.0.0.5:9000", "outside the gateway's own paths"),
    ],
)
def test_a_bad_upstream_setting_stops_start_up_with_a_clear_message(value: str, named: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"GATEWAY_UPSTREAMS": value})
    assert "GATEWAY_UPSTREAMS" in str(raised.value)
    assert named in str(raised.value)


def test_upstreams_are_read_from_the_environment() -> None:
    settings = load_settings(
        {
            "GATEWAY_UPSTREAMS": "/reports=http://10.0.0.5:9000/, /exports/v2=https://exports.internal"
        }
    )
    assert settings.upstreams == (
        ("/reports", "http://10.0.0.5:9000"),
        ("/exports/v2", "https://exports.internal"),
    )

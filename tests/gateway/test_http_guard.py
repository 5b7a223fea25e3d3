"""Request lines the served gateway answers, and what its Server header tells a scanner.

Raw sockets speak to `GuardedRunner` (the runner `serve()` uses) as a scanner
would: only HTTP/1.0 and HTTP/1.1 get an answer from the application.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from gateway.network.http_guard import SERVER_NAME, ConnectionLimits, GuardedRunner, name_the_server


@pytest.fixture
async def port() -> AsyncIterator[int]:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.on_response_prepare.append(name_the_server)
    app.router.add_get("/", hello)
    runner = GuardedRunner(app, limits=ConnectionLimits(head_timeout=5.0))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def exchange(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send `request`, read until the server closes; the status line, headers and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=20)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return status, headers, body


@pytest.mark.parametrize(
    "request_line",
    [b"GET /", b"GET / HTTP/0.9", b"GET / HTTP/2.0"],
    ids=["no version (HTTP/0.9)", "HTTP/0.9", "HTTP/2.0"],
)
async def test_other_http_versions_get_505_and_the_connection_closes(
    port: int, request_line: bytes
) -> None:
    status, headers, body = await exchange(port, request_line + b"\r\nHost: a\r\n\r\n")
    assert status == "HTTP/1.0 505 HTTP Version Not Supported"
    assert headers["Server"] == SERVER_NAME
    assert b"hello" not in body
    assert b"use HTTP/1.1" in body
    # A request pipelined behind it is not answered either (the parser may call the pair a
    # malformed request, 400, instead).
    follow_up = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    status, _, body = await exchange(port, request_line + b"\r\nHost: a\r\n\r\n" + follow_up)
    assert status in ("HTTP/1.0 505 HTTP Version Not Supported", "HTTP/1.0 400 Bad Request")
    assert b"hello" not in body


@pytest.mark.parametrize("request_line", [b"GET / HTTP/1.2", b"GET / HTTP/3", b"GET / ICE/1.0"])
async def test_malformed_versions_get_400(port: int, request_line: bytes) -> None:
    status, headers, _ = await exchange(port, request_line + b"\r\nHost: a\r\n\r\n")
    assert status == "HTTP/1.0 400 Bad Request"
    assert headers["Server"] == SERVER_NAME


@pytest.mark.parametrize(("version", "keep"), [(b"HTTP/1.0", ""), (b"HTTP/1.1", "close")])
async def test_http_1_0_and_1_1_are_answered_with_a_versionless_server_header(
    port: int, version: bytes, keep: str
) -> None:
    connection = f"Connection: {keep}\r\n".encode() if keep else b""
    status, headers, body = await exchange(
        port, b"GET / " + version + b"\r\nHost: a\r\n" + connection + b"\r\n"
    )
    assert status == version.decode() + " 200 OK"
    assert body == b"hello"
    assert headers["Server"] == SERVER_NAME
    assert "aiohttp" not in headers["Server"]
    assert "Python" not in headers["Server"]


async def test_the_gateways_pages_and_errors_name_no_versions(gateway_client: Any) -> None:
    for path, host in (("/healthz", "alpeak.localhost:8080"), ("/nope", "nobody.localhost:8080")):
        response = await gateway_client.get(path, headers={"Host": host})
        assert response.headers["Server"] == SERVER_NAME, path

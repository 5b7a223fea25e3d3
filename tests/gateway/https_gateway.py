"""A real gateway (`gateway.server.serve`) on free ports, and small raw HTTP/HTTPS clients.

The clients speak HTTP/1.1 by hand so a test controls exactly the SNI, the
Host header and the keep-alive connection; the aiohttp client would fix them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from certs.issuer import Issuer
from gateway.app import create_app
from gateway.edge import keys
from gateway.server import serve
from gateway.settings import Settings
from tests.fixtures.pebble import free_port

START_TIMEOUT = 60.0
IO_TIMEOUT = 30.0


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: str


@dataclass(frozen=True)
class RunningGateway:
    settings: Settings
    urls: list[str]


def with_free_ports(settings: Settings, **changes: object) -> Settings:
    """`settings` on free loopback ports (plus any other `changes`)."""
    fields: dict[str, object] = {
        "http_port": free_port(),
        "https_port": free_port(),
        "ops_port": free_port(),
    }
    fields.update(changes)
    return dataclasses.replace(settings, **fields)  # type: ignore[arg-type]


def gateway_app(settings: Settings, issuer: Issuer | None = None) -> web.Application:
    """`create_app(settings)` without the domain worker; `issuer` replaces the one from settings."""
    # The domain worker would race the tests for the same names: they drive issuance themselves.
    app = create_app(settings, domain_worker=False)
    if issuer is not None:
        given = issuer

        async def provide_issuer(app: web.Application) -> AsyncIterator[None]:
            app[keys.ISSUER] = given
            yield

        app.cleanup_ctx.append(provide_issuer)
    return app


@contextlib.asynccontextmanager
async def running_gateway(
    settings: Settings, issuer: Issuer | None = None, app: web.Application | None = None
) -> AsyncIterator[RunningGateway]:
    """`serve(settings)` in this loop until the block ends; fails if it does not start.

    `app` defaults to `gateway_app(settings, issuer)`.
    """
    loop = asyncio.get_running_loop()
    started: asyncio.Future[list[str]] = loop.create_future()
    stop = asyncio.Event()

    def ready(urls: list[str]) -> None:
        started.set_result(urls)

    task = asyncio.create_task(
        serve(settings, ready=ready, stop=stop, app=app or gateway_app(settings, issuer))
    )
    try:
        waiting: set[asyncio.Future[Any]] = {task, started}
        done, _ = await asyncio.wait(
            waiting, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()  # raises the start-up error
        assert started.done(), "the gateway did not start"
        yield RunningGateway(settings, started.result())
    finally:
        stop.set()
        await asyncio.wait_for(task, START_TIMEOUT)


def trusting(root_pem: str) -> ssl.SSLContext:
    """A client context trusting only `root_pem`, checking host names."""
    return ssl.create_default_context(cadata=root_pem)


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IO_TIMEOUT)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), IO_TIMEOUT)
    return Answer(status, headers, body.decode("utf-8"))


def request_bytes(path: str, host: str, *, close: bool) -> bytes:
    connection = "close" if close else "keep-alive"
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: {connection}\r\n\r\n".encode()


class HttpsConnection:
    """One TLS connection to 127.0.0.1 with a chosen SNI, for several requests."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, client: ssl.SSLContext, server_name: str) -> HttpsConnection:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=client, server_hostname=server_name),
            IO_TIMEOUT,
        )
        return cls(reader, writer)

    @property
    def serial(self) -> str:
        """The serial of the certificate the server presented, lower-case hex."""
        certificate = self.writer.get_extra_info("peercert")
        return str(certificate["serialNumber"]).lower().lstrip("0")

    async def get(self, path: str, host: str) -> Answer:
        self.writer.write(request_bytes(path, host, close=False))
        await self.writer.drain()
        return await read_answer(self.reader)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await self.writer.wait_closed()


async def https_get(
    port: int, client: ssl.SSLContext, server_name: str, path: str, host: str | None = None
) -> tuple[Answer, str]:
    """One request on a fresh TLS connection; the answer and the certificate serial."""
    connection = await HttpsConnection.open(port, client, server_name)
    try:
        answer = await connection.get(path, host or f"{server_name}:{port}")
        return answer, connection.serial
    finally:
        await connection.close()


async def http_get(port: int, path: str, host: str) -> Answer:
    """One request over plain HTTP to 127.0.0.1:`port`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request_bytes(path, host, close=True))
        await writer.drain()
        return await read_answer(reader)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

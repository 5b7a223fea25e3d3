"""Serving per-SNI certificates end to end: peek the ClientHello, pick the context, hand over.

A small listener built from the gateway.tls and certs pieces (the production
listener wires the same steps): accept, `peek_client_hello`, context from the
LRU or else from PostgreSQL, `loop.connect_accepted_socket(..., ssl=context)`.
Names without a certificate get a fatal unrecognized_name alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import warnings
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import asyncpg
import pytest

from certs.internal_ca import InternalCA
from certs.keys import encrypt_private_key_pem, new_key_password
from certs.store import CertificateStore
from gateway.tls.alerts import refuse_handshake
from gateway.tls.client_hello import peek_client_hello
from gateway.tls.contexts import ContextCache
from gateway.tls.errors import TlsError, UnrecognizedName
from gateway.tls.policy import offers_supported_version, server_context
from kernel.sealing import Sealer
from tests.tls.clients import trusting_client

NAMES = ("billing.alpeak.test", "pay.other.test")
PROTOCOL_VERSION = ssl.AlertDescription.ALERT_DESCRIPTION_PROTOCOL_VERSION


class LineProtocol(asyncio.Protocol):
    """Answers the first line with "pong" and closes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if b"\n" in data:
            self.transport.write(b"pong\n")
            self.transport.close()


@dataclass
class SniListener:
    """The listener under test; `refused` and `failed` record what it turned away."""

    pool: asyncpg.Pool
    sealer: Sealer
    cache: ContextCache
    store: CertificateStore = field(default_factory=CertificateStore)
    refused: list[str | None] = field(default_factory=list)  # names, or "version 0x...."
    failed: list[BaseException] = field(default_factory=list)
    loads: int = 0

    async def context_for(self, name: str | None) -> ssl.SSLContext:
        if name is None:
            raise UnrecognizedName(None)
        context = self.cache.get(name)
        if context is not None:
            return context
        stored = await self.store.latest_for_name(self.pool, self.sealer, name)
        if stored is None:
            raise UnrecognizedName(name)
        self.loads += 1
        password = new_key_password()
        context = server_context(
            stored.chain_pem, encrypt_private_key_pem(stored.key_pem, password), password
        )
        self.cache.put(name, context)
        return context

    async def handle(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            hello = await peek_client_hello(sock, loop=loop, timeout=10)
            if not offers_supported_version(hello):
                self.refused.append(f"version {hello.highest_version:#06x}")
                await refuse_handshake(sock, loop=loop, description=PROTOCOL_VERSION)
                return
            context = await self.context_for(hello.server_name)
        except UnrecognizedName as error:
            self.refused.append(error.name)
            await refuse_handshake(sock, loop=loop)
            return
        except TlsError as error:
            self.failed.append(error)
            sock.close()
            return
        try:
            await loop.connect_accepted_socket(
                LineProtocol, sock, ssl=context, ssl_handshake_timeout=10
            )
        except OSError as error:  # ssl.SSLError included: a refused handshake
            self.failed.append(error)
            sock.close()

    async def serve(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        handlers: set[asyncio.Task[None]] = set()
        try:
            while True:
                sock, _ = await loop.sock_accept(listener)
                sock.setblocking(False)
                task = asyncio.create_task(self.handle(sock))
                handlers.add(task)
                task.add_done_callback(handlers.discard)
        finally:
            for task in list(handlers):
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)


@dataclass
class Running:
    listener: SniListener
    port: int
    root_pem: str
    serials: dict[str, str]


@pytest.fixture
async def running(pool: asyncpg.Pool) -> AsyncIterator[Running]:
    sealer = Sealer(os.urandom(32))
    ca = await InternalCA.load_or_create(
        pool, sealer, permitted_names=["alpeak.test", "other.test"]
    )
    store = CertificateStore()
    serials = {}
    for name in NAMES:
        issued = ca.issue([name])
        serials[name] = issued.serial
        await store.save(
            pool,
            sealer,
            tenant_id=None,
            domain_id=None,
            names=issued.names,
            issuer="internal",
            chain_pem=issued.chain_pem,
            key_pem=issued.key_pem,
        )
    listener = SniListener(pool, sealer, ContextCache(max_size=10), store)
    with socket.create_server(("127.0.0.1", 0)) as sock:
        sock.setblocking(False)
        server = asyncio.create_task(listener.serve(sock))
        try:
            yield Running(listener, sock.getsockname()[1], ca.root_pem, serials)
        finally:
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server


async def ping(
    port: int, client: ssl.SSLContext, server_name: str | None
) -> tuple[bytes, dict[str, object]]:
    """One TLS connection: send a line, read the answer; returns it and the peer certificate."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=client, server_hostname=server_name or ""
    )
    try:
        certificate = writer.get_extra_info("peercert")
        writer.write(b"ping\n")
        answer = await reader.readline()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return answer, certificate


def dns_names(certificate: Mapping[str, object]) -> list[str]:
    entries = certificate["subjectAltName"]
    assert isinstance(entries, tuple)
    return [value for kind, value in entries if kind == "DNS"]


def serial_of(certificate: Mapping[str, object]) -> str:
    serial = certificate["serialNumber"]
    assert isinstance(serial, str)
    return serial.lower().lstrip("0")


async def test_each_name_gets_its_own_certificate_loaded_from_postgres_then_memory(
    running: Running,
) -> None:
    client = trusting_client(running.root_pem)
    for name in NAMES:
        answer, certificate = await ping(running.port, client, name)
        assert answer == b"pong\n"
        assert dns_names(certificate) == [name]
        assert serial_of(certificate) == running.serials[name].lstrip("0")
    assert running.listener.loads == 2
    # Second handshakes come from the LRU, not the database.
    for name in NAMES:
        answer, certificate = await ping(running.port, client, name)
        assert dns_names(certificate) == [name]
    assert running.listener.loads == 2
    assert running.listener.cache.hits == 2
    assert running.listener.failed == []


async def test_unknown_name_is_refused_with_unrecognized_name(running: Running) -> None:
    client = trusting_client(running.root_pem)
    with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
        await ping(running.port, client, "unknown.alpeak.test")
    assert running.listener.refused == ["unknown.alpeak.test"]


async def test_client_without_sni_is_refused_with_unrecognized_name(running: Running) -> None:
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
        await asyncio.open_connection("127.0.0.1", running.port, ssl=client, server_hostname=None)
    assert running.listener.refused == [None]


async def test_tls11_client_is_refused_with_protocol_version(running: Running) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # setting TLSv1_1 is deprecated
        client = trusting_client(running.root_pem)
        client.minimum_version = ssl.TLSVersion.TLSv1
        client.maximum_version = ssl.TLSVersion.TLSv1_1
    client.set_ciphers("DEFAULT:@SECLEVEL=0")  # so the client itself offers TLS 1.1
    with pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION"):
        await ping(running.port, client, NAMES[0])
    assert running.listener.refused == ["version 0x0302"]


async def test_plain_http_on_the_tls_port_is_dropped(running: Running) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: billing.alpeak.test\r\n\r\n")
    # Closed with the request unread: the kernel sends a reset (or a FIN first).
    with contextlib.suppress(ConnectionResetError):
        assert await reader.read() == b""
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    assert running.listener.refused == []
    assert len(running.listener.failed) == 1


async def test_hello_arriving_in_two_pieces_still_completes_the_handshake(
    running: Running,
) -> None:
    """The ClientHello is peeked across two TCP writes, then the TLS transport reads it whole."""
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = trusting_client(running.root_pem).wrap_bio(
        incoming, outgoing, server_hostname=NAMES[0]
    )
    try:
        with contextlib.suppress(ssl.SSLWantReadError):
            client.do_handshake()
        hello = outgoing.read()
        writer.write(hello[:100])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(hello[100:])
        while True:
            data = await asyncio.wait_for(reader.read(65536), 10)
            assert data, "the server closed during the handshake"
            incoming.write(data)
            try:
                client.do_handshake()
                break
            except ssl.SSLWantReadError:
                writer.write(outgoing.read())
        client.write(b"ping\n")
        writer.write(outgoing.read())
        answer = b""
        while not answer.endswith(b"\n"):
            try:
                answer += client.read(1024)
            except ssl.SSLWantReadError:
                data = await asyncio.wait_for(reader.read(65536), 10)
                assert data, "the server closed before answering"
                incoming.write(data)
        assert answer == b"pong\n"
        certificate = client.getpeercert()
        assert certificate
        assert dns_names(certificate) == [NAMES[0]]
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

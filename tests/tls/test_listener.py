"""The HTTPS listener on its own: per-SNI contexts, refusals, deadlines, close, and uvloop."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvloop

from certs.internal_ca import InternalCA
from certs.keys import encrypt_private_key_pem, new_key_password
from gateway.tls.client_hello import ClientHello
from gateway.tls.listener import HttpsListener
from gateway.tls.policy import server_context
from gateway.tls.server_name import remember_server_name, server_name_of
from tests.tls.clients import trusting_client

NAME = "billing.alpeak.test"
AUTHORITY = InternalCA.create(permitted_names=["alpeak.test"])


def context_for(name: str) -> ssl.SSLContext:
    issued = AUTHORITY.issue([name])
    password = new_key_password()
    context = server_context(
        issued.chain_pem, encrypt_private_key_pem(issued.key_pem, password), password
    )
    return remember_server_name(context)


CONTEXT = context_for(NAME)


async def choose(hello: ClientHello) -> ssl.SSLContext | None:
    return CONTEXT if hello.server_name == NAME else None


class EchoName(asyncio.Protocol):
    """Answers the first line with the SNI the connection was opened with."""

    def connection_made(self, transport: Any) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport.
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        name = server_name_of(self.transport.get_extra_info("ssl_object"))
        self.transport.write(f"{name}\n".encode())
        self.transport.close()


async def ask(port: int, server_name: str) -> bytes:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=trusting_client(AUTHORITY.root_pem), server_hostname=server_name
    )
    try:
        writer.write(b"hello\n")
        return await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def listening(**options: float) -> AsyncIterator[HttpsListener]:
    listener = HttpsListener(
        host="127.0.0.1",
        port=0,
        choose_context=choose,
        protocol_factory=EchoName,
        **options,  # type: ignore[arg-type]
    )
    await listener.start()
    try:
        yield listener
    finally:
        await listener.close()


async def test_handlers_see_the_server_name_the_connection_was_opened_with() -> None:
    async with listening() as listener:
        assert await ask(listener.port, NAME) == f"{NAME}\n".encode()
        with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
            await ask(listener.port, "other.alpeak.test")
    assert listener.refused == 1


async def test_a_silent_client_is_dropped_at_the_handshake_deadline() -> None:
    async with listening(handshake_timeout=0.5) as listener:
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        try:
            with contextlib.suppress(ConnectionResetError):
                assert await asyncio.wait_for(reader.read(), 10) == b""
        finally:
            writer.close()
    assert listener.failed == 1


async def test_close_stops_accepting_without_waiting_for_silent_clients_forever() -> None:
    async with listening(handshake_timeout=60) as listener:
        port = listener.port
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(0.1)
    # close() returned: the silent client was cancelled after the grace period.
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    writer.close()


def test_the_listener_serves_under_uvloop() -> None:
    answers: list[bytes] = []

    async def main() -> None:
        async with listening() as listener:
            answers.append(await ask(listener.port, NAME))

    thread = threading.Thread(target=lambda: uvloop.run(main()))
    thread.start()
    thread.join(30)
    assert answers == [f"{NAME}\n".encode()]

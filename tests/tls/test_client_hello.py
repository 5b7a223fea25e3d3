"""The ClientHello parser and peek: SNI and ALPN from real clients, and garbage refused safely."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.tls.client_hello import ClientHello, parse_client_hello, peek_client_hello
from gateway.tls.errors import (
    ClientHelloTimeout,
    ClientHelloTooLarge,
    ConnectionClosedEarly,
    MalformedClientHello,
    NotClientHello,
    TlsError,
)
from tests.tls.clients import client_hello, record

HELLO = client_hello("Billing.Alpeak.TEST", alpn=["h2", "http/1.1"])
FUZZ = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def parse_complete(data: bytes) -> ClientHello:
    hello = parse_client_hello(data)
    assert hello is not None
    return hello


def test_sni_of_a_real_client_is_read_lower_cased() -> None:
    hello = parse_complete(HELLO)
    assert hello.server_name == "billing.alpeak.test"
    assert hello.alpn_protocols == ["h2", "http/1.1"]
    assert not hello.is_acme_tls_alpn


def test_client_without_sni_has_no_server_name() -> None:
    hello = parse_complete(client_hello(None))
    assert hello.server_name is None
    assert hello.alpn_protocols == []


def test_acme_tls_alpn_validator_is_recognised() -> None:
    hello = parse_complete(client_hello("billing.alpeak.test", alpn=["acme-tls/1"]))
    assert hello.is_acme_tls_alpn
    assert hello.alpn_protocols == ["acme-tls/1"]


def test_tls13_client_offers_tls13_through_supported_versions() -> None:
    hello = parse_complete(HELLO)
    assert hello.legacy_version == 0x0303
    assert 0x0304 in hello.supported_versions
    assert hello.highest_version == 0x0304


def test_tls12_only_client_is_seen_as_tls12() -> None:
    hello = parse_complete(client_hello("a.test", maximum_version=ssl.TLSVersion.TLSv1_2))
    assert hello.server_name == "a.test"
    assert hello.highest_version == 0x0303


def test_every_strict_prefix_of_a_hello_asks_for_more_bytes() -> None:
    for end in range(len(HELLO)):
        assert parse_client_hello(HELLO[:end]) is None, end


def test_bytes_after_the_hello_are_ignored() -> None:
    change_cipher_spec = record(b"\x01", content_type=20, version=b"\x03\x03")
    early_data = record(b"\x00" * 40, content_type=23, version=b"\x03\x03")
    hello = parse_complete(HELLO + change_cipher_spec + early_data)
    assert hello.server_name == "billing.alpeak.test"


def test_hello_fragmented_over_two_records_is_reassembled() -> None:
    message = HELLO[5:]
    fragmented = record(message[:60]) + record(message[60:])
    for end in range(len(fragmented)):
        assert parse_client_hello(fragmented[:end]) is None
    assert parse_complete(fragmented).server_name == "billing.alpeak.test"


def test_plain_http_on_the_tls_port_is_refused_from_its_first_byte() -> None:
    with pytest.raises(NotClientHello):
        parse_client_hello(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
    with pytest.raises(NotClientHello):
        parse_client_hello(b"G")


def test_sslv2_compatible_hello_is_refused() -> None:
    with pytest.raises(NotClientHello):
        parse_client_hello(b"\x80\x2e\x01\x00\x02" + b"\x00" * 45)


def test_other_handshake_messages_are_refused() -> None:
    server_hello = HELLO[:5] + b"\x02" + HELLO[6:]
    with pytest.raises(NotClientHello):
        parse_client_hello(server_hello)


def test_record_over_16_kib_is_refused() -> None:
    with pytest.raises(MalformedClientHello):
        parse_client_hello(b"\x16\x03\x01\x40\x01")


def test_lengths_pointing_past_the_record_are_refused() -> None:
    # The session id claims 255 bytes inside a record of about 500.
    body = bytearray(HELLO)
    body[5 + 4 + 2 + 32] = 0xFF
    with pytest.raises(MalformedClientHello):
        parse_client_hello(bytes(body))


def test_duplicated_server_name_extension_is_refused() -> None:
    sni = b"\x00\x00" + b"\x00\x09" + b"\x00\x07" + b"\x00" + b"\x00\x04" + b"a.te"
    extensions = sni + sni
    body = (
        b"\x03\x03"
        + b"\x00" * 32
        + b"\x00"
        + b"\x00\x02\x13\x01"
        + b"\x01\x00"
        + len(extensions).to_bytes(2, "big")
        + extensions
    )
    message = b"\x01" + len(body).to_bytes(3, "big") + body
    with pytest.raises(MalformedClientHello):
        parse_client_hello(record(message))
    single = body[: -len(extensions) - 2] + len(sni).to_bytes(2, "big") + sni
    assert parse_complete(
        record(b"\x01" + len(single).to_bytes(3, "big") + single)
    ).server_name == ("a.te")


def test_tls12_hello_without_extensions_is_accepted() -> None:
    body = b"\x03\x03" + b"\x00" * 32 + b"\x00" + b"\x00\x02\xc0\x2b" + b"\x01\x00"
    hello = parse_complete(record(b"\x01" + len(body).to_bytes(3, "big") + body))
    assert hello.server_name is None
    assert hello.highest_version == 0x0303


def outcome(data: bytes) -> ClientHello | str | None:
    try:
        return parse_client_hello(data)
    except TlsError as error:
        return type(error).__name__


@FUZZ
@given(st.binary(max_size=2048))
def test_garbage_never_raises_anything_but_a_tls_error(data: bytes) -> None:
    outcome(data)


@FUZZ
@given(st.binary(max_size=600))
def test_garbage_behind_a_handshake_header_never_raises_anything_but_a_tls_error(
    data: bytes,
) -> None:
    outcome(b"\x16\x03\x01" + len(data).to_bytes(2, "big") + data)
    outcome(b"\x16\x03\x01" + len(data).to_bytes(2, "big") + b"\x01" + data)


@FUZZ
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(HELLO) - 1), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    ),
    st.integers(min_value=0, max_value=len(HELLO)),
)
def test_corrupted_real_hello_never_raises_anything_but_a_tls_error(
    changes: list[tuple[int, int]], end: int
) -> None:
    corrupted = bytearray(HELLO)
    for position, value in changes:
        corrupted[position] = value
    outcome(bytes(corrupted[:end]))


# --- peeking on a real TCP connection -------------------------------------------------


@pytest.fixture
async def connection() -> AsyncIterator[tuple[socket.socket, socket.socket]]:
    """(server side, client side) of a fresh TCP loopback connection, both non-blocking."""
    loop = asyncio.get_running_loop()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        client = socket.socket()
        client.setblocking(False)
        await loop.sock_connect(client, listener.getsockname())
        server, _ = await loop.sock_accept(listener)
        server.setblocking(False)
    try:
        yield server, client
    finally:
        server.close()
        client.close()


async def test_peek_waits_for_a_hello_split_over_two_writes_and_leaves_it_unread(
    connection: tuple[socket.socket, socket.socket],
) -> None:
    server, client = connection
    loop = asyncio.get_running_loop()

    async def send_in_two_parts() -> None:
        await loop.sock_sendall(client, HELLO[:3])
        await asyncio.sleep(0.03)
        await loop.sock_sendall(client, HELLO[3:200])
        await asyncio.sleep(0.03)
        await loop.sock_sendall(client, HELLO[200:])

    sender = asyncio.create_task(send_in_two_parts())
    hello = await peek_client_hello(server, loop=loop, timeout=10)
    await sender
    assert hello.server_name == "billing.alpeak.test"
    # The TLS library that takes the socket next still reads the hello from its first byte,
    # with normal readiness.
    assert server.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT) == 1
    received = b""
    while len(received) < len(HELLO):
        received += await loop.sock_recv(server, 65536)
    assert received == HELLO


async def test_peek_gives_up_on_a_client_that_stops_mid_hello(
    connection: tuple[socket.socket, socket.socket],
) -> None:
    server, client = connection
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(client, HELLO[:100])
    with pytest.raises(ClientHelloTimeout) as raised:
        await peek_client_hello(server, loop=loop, timeout=0.3)
    assert raised.value.received == 100


async def test_peek_gives_up_on_a_silent_client(
    connection: tuple[socket.socket, socket.socket],
) -> None:
    server, _ = connection
    with pytest.raises(ClientHelloTimeout):
        await peek_client_hello(server, loop=asyncio.get_running_loop(), timeout=0.2)


async def test_peek_reports_a_client_that_hangs_up_mid_hello_without_waiting_for_the_deadline(
    connection: tuple[socket.socket, socket.socket],
) -> None:
    server, client = connection
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(client, HELLO[:100])
    client.shutdown(socket.SHUT_WR)
    started = time.monotonic()
    with pytest.raises(ConnectionClosedEarly):
        await peek_client_hello(server, loop=loop, timeout=30)
    assert time.monotonic() - started < 15


async def test_peek_reports_a_client_that_closes_before_sending(
    connection: tuple[socket.socket, socket.socket],
) -> None:
    server, client = connection
    client.close()
    with pytest.raises(ConnectionClosedEarly):
        await peek_client_hello(server, loop=asyncio.get_running_loop(), timeout=30)


async def test_peek_refuses_plain_http_at_once(
    connection: tuple[socket.socket, socket.socket],
) -> None:
    server, client = connection
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(client, b"GET / HTTP/1.1\r\n")
    with pytest.raises(NotClientHello):
        await peek_client_hello(server, loop=loop, timeout=30)


async def test_peek_refuses_a_hello_over_its_byte_bound_without_waiting(
    connection: tuple[socket.socket, socket.socket],
) -> None:
    server, client = connection
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(client, HELLO[:5])
    with pytest.raises(ClientHelloTooLarge):
        await peek_client_hello(server, loop=loop, timeout=30, max_bytes=256)

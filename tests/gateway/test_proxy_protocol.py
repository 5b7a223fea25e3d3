"""PROXY protocol: behind a trusted load balancer, handlers and logs see the real client address."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import struct
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
import pytest

from certs.internal_ca import InternalCA
from gateway.network.proxy_protocol import (
    V2_SIGNATURE,
    ProxyHeader,
    ProxyProtocolError,
    parse_proxy_header,
)
from gateway.settings import Settings, SettingsError, load_settings
from kernel.sealing import Sealer
from tests.conftest import ApiTenant
from tests.gateway.https_gateway import Answer, read_answer, trusting
from tests.gateway.test_limits import (
    decoded,
    post_bytes,
    probing_gateway,
    read_until_closed,
)

CLIENT_V4 = ("203.0.113.7", 51234)
CLIENT_V6 = ("2001:db8::7", 40000)


def v1(client: tuple[str, int], target: tuple[str, int] = ("192.0.2.1", 443)) -> bytes:
    family, destination = (
        ("TCP6", f"::ffff:{target[0]}") if ":" in client[0] else ("TCP4", target[0])
    )
    return f"PROXY {family} {client[0]} {destination} {client[1]} {target[1]}\r\n".encode()


def v2(client: tuple[str, int] | None, target: tuple[str, int] = ("192.0.2.1", 443)) -> bytes:
    if client is None:  # LOCAL: the balancer's own health check
        return V2_SIGNATURE + bytes([0x20, 0x00]) + struct.pack("!H", 0)
    source, destination = ipaddress.ip_address(client[0]), ipaddress.ip_address(target[0])
    if source.version == 4:
        family, addresses = 0x11, source.packed + destination.packed
    else:
        family = 0x21
        addresses = source.packed + ipaddress.IPv6Address(f"::ffff:{destination}").packed
    body = addresses + struct.pack("!HH", client[1], target[1])
    tlv = bytes([0x04]) + struct.pack("!H", 3) + b"abc"  # a TLV (NOOP) to skip
    return (
        V2_SIGNATURE + bytes([0x21, family]) + struct.pack("!H", len(body) + len(tlv)) + body + tlv
    )


async def send_raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await read_until_closed(reader, 30)
    finally:
        writer.close()


async def proxied_post(port: int, header: bytes) -> Answer:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(header + post_bytes(b"hello"))
        await writer.drain()
        return await read_answer(reader)
    finally:
        writer.close()


# --- the header itself ------------------------------------------------------------------------


@pytest.mark.parametrize("client", [CLIENT_V4, CLIENT_V6])
@pytest.mark.parametrize("encode", [v1, v2], ids=["v1", "v2"])
def test_a_balancers_header_names_the_client_and_is_consumed_exactly(
    encode: Callable[[tuple[str, int]], bytes], client: tuple[str, int]
) -> None:
    header = encode(client)
    parsed = parse_proxy_header(header + b"GET / HTTP/1.1\r\n")
    assert parsed is not None
    found, length = parsed
    assert found.source == client
    assert length == len(header)


def test_health_checks_without_a_client_leave_the_peer_address() -> None:
    assert parse_proxy_header(v2(None)) == (ProxyHeader(2, None, None), 16)
    assert parse_proxy_header(b"PROXY UNKNOWN\r\n") == (ProxyHeader(1, None, None), 15)


def test_a_header_split_over_segments_waits_for_the_rest() -> None:
    for header in (v1(CLIENT_V4), v2(CLIENT_V6)):
        for cut in (1, 5, 12, 15, len(header) - 1):
            assert parse_proxy_header(header[:cut]) is None


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\n",
        b"\x16\x03\x01\x02\x00",  # a TLS ClientHello
        b"PROXY TCP4 203.0.113.7 nonsense 1 2\r\n",
        b"PROXY TCP4 2001:db8::7 192.0.2.1 1 2\r\n",
        b"PROXY TCP4 203.0.113.7 192.0.2.1 99999 2\r\n",
        b"PROXY TCP4 " + b"1" * 120,  # no CRLF within 107 bytes
        V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", 60_000),
        V2_SIGNATURE + bytes([0x31, 0x11]) + struct.pack("!H", 12),
    ],
    ids=["http", "tls", "bad-address", "wrong-family", "bad-port", "too-long", "huge", "v3"],
)
def test_garbage_instead_of_a_header_is_refused(data: bytes) -> None:
    with pytest.raises(ProxyProtocolError):
        parse_proxy_header(data)


def test_only_the_configured_version_is_accepted() -> None:
    with pytest.raises(ProxyProtocolError):
        parse_proxy_header(v1(CLIENT_V4), versions=(2,))
    with pytest.raises(ProxyProtocolError):
        parse_proxy_header(v2(CLIENT_V4), versions=(1,))


def test_proxy_protocol_without_trusted_balancers_is_a_start_up_error() -> None:
    with pytest.raises(SettingsError, match="GATEWAY_TRUSTED_PROXIES"):
        load_settings({"GATEWAY_PROXY_PROTOCOL": "any"})
    settings = load_settings(
        {"GATEWAY_PROXY_PROTOCOL": "v2", "GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7"}
    )
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.0.2.7/32")


# --- on the served gateway --------------------------------------------------------------------


@pytest.mark.parametrize("encode", [v1, v2], ids=["v1", "v2"])
async def test_header_from_a_trusted_balancer_sets_the_address_handlers_see(
    settings: Settings, encode: Callable[[tuple[str, int]], bytes]
) -> None:
    async with probing_gateway(
        settings, proxy_protocol="any", trusted_proxies=("127.0.0.0/8",)
    ) as served:
        answer = await proxied_post(served.settings.http_port, encode(CLIENT_V4))
    assert answer.status == 200
    assert decoded(answer)["remote"] == CLIENT_V4[0]


async def test_header_from_an_untrusted_peer_is_refused_but_its_plain_requests_are_served(
    settings: Settings,
) -> None:
    async with probing_gateway(
        settings, proxy_protocol="any", trusted_proxies=("192.0.2.0/24",)
    ) as served:
        port = served.settings.http_port
        spoofed_v1 = await send_raw(port, v1(CLIENT_V4) + post_bytes(b"hello"))
        spoofed_v2 = await send_raw(port, v2(CLIENT_V4) + post_bytes(b"hello"))
        direct = await proxied_post(port, b"")
    assert spoofed_v1 == b""
    assert spoofed_v2 == b""
    assert direct.status == 200
    assert decoded(direct)["remote"] == "127.0.0.1"


async def test_trusted_balancer_without_a_header_is_refused(settings: Settings) -> None:
    async with probing_gateway(
        settings, proxy_protocol="v2", trusted_proxies=("127.0.0.1",)
    ) as served:
        port = served.settings.http_port
        bare = await send_raw(port, post_bytes(b"hello"))
        wrong_version = await send_raw(port, v1(CLIENT_V4) + post_bytes(b"hello"))
    assert bare == b""
    assert wrong_version == b""


async def test_trusted_balancer_that_never_sends_its_header_is_dropped_at_the_deadline(
    settings: Settings,
) -> None:
    async with probing_gateway(
        settings, proxy_protocol="any", trusted_proxies=("127.0.0.1",), head_timeout=1.0
    ) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.settings.http_port)
        writer.write(b"PROXY TCP4 203.0.113.7")  # and then nothing
        loop = asyncio.get_running_loop()
        began = loop.time()
        sent_back = await read_until_closed(reader, 30)
        lasted = loop.time() - began
        writer.close()
    assert sent_back == b""
    assert lasted < 6


async def test_trusted_balancer_that_hangs_up_inside_its_header_is_dropped_at_once(
    settings: Settings,
) -> None:
    async with probing_gateway(
        settings, proxy_protocol="any", trusted_proxies=("127.0.0.1",), head_timeout=30.0
    ) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.settings.http_port)
        writer.write(b"PROXY TCP4 203.0.113.7")
        writer.write_eof()  # half of a header, then the balancer's FIN
        loop = asyncio.get_running_loop()
        began = loop.time()
        sent_back = await read_until_closed(reader, 60)
        lasted = loop.time() - began
        writer.close()
    assert sent_back == b""
    assert lasted < 5  # not the 30 s header deadline


async def test_header_before_the_tls_handshake_sets_the_address_on_https(
    settings: Settings,
    pool: asyncpg.Pool,
    make_tenant: Callable[..., Coroutine[Any, Any, ApiTenant]],
) -> None:
    await make_tenant("alpeak")
    assert settings.kek is not None
    authority = await InternalCA.load_or_create(
        pool, Sealer(settings.kek), permitted_names=settings.internal_ca_permitted_names
    )
    client = trusting(authority.root_pem)
    async with probing_gateway(
        settings, proxy_protocol="v2", trusted_proxies=("127.0.0.1",)
    ) as served:
        port = served.settings.https_port
        answers = [await https_post(port, v2(address), client) for address in (CLIENT_V6, None)]
    assert [answer.status for answer in answers] == [200, 200]
    assert [decoded(answer)["remote"] for answer in answers] == [CLIENT_V6[0], "127.0.0.1"]


async def https_post(port: int, header: bytes, client: ssl.SSLContext) -> Answer:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(header)
    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(
        sock=sock, ssl=client, server_hostname="alpeak.localhost"
    )
    try:
        writer.write(post_bytes(b"hello", host=f"alpeak.localhost:{port}"))
        await writer.drain()
        return await read_answer(reader)
    finally:
        writer.close()

"""PROXY protocol v1 and v2: the real client address from a trusted load balancer.

A TCP load balancer in front of several replicas hides the client's address;
with the PROXY protocol (haproxy's proxy-protocol.txt, v1 text and v2 binary)
it sends a header naming the client before the client's own bytes. The header
is read here on the accepted socket, before the TLS ClientHello is peeked or
the HTTP server sees anything, and consumed exactly (nothing of the client's
bytes), so the socket can then be handed to `loop.connect_accepted_socket`.

Only peers in the trusted networks may send one (an attacker could otherwise
choose the address our logs and limits see): a trusted peer must send one, an
untrusted peer sending one is closed, an untrusted peer without one is served
with its own address. Every header has a size bound and a deadline.

`ProxyProtocolListener` is the plain HTTP listener used when the PROXY
protocol is on (aiohttp's TCPSite cannot read a header before HTTP starts).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from gateway.network.accept_loop import AcceptLoop
from gateway.network.socket_peek import (
    UNDECIDED,
    PeekFailed,
    PeekTimeout,
    PeekTooLarge,
    PeerClosed,
    Undecided,
    peek_until,
)

logger = logging.getLogger(__name__)

ClientAddress = tuple[str, int]
ProtocolFactory = Callable[[], asyncio.BaseProtocol]

V1_PREFIX = b"PROXY "
# proxy-protocol.txt 2.1: the longest v1 line, CRLF included.
V1_MAX_BYTES = 107
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED_BYTES = 16
# Addresses take at most 216 bytes (AF_UNIX); TLVs (AWS, Azure, GCP ids) a few hundred more.
V2_MAX_PAYLOAD = 2048
MAX_HEADER_BYTES = V2_FIXED_BYTES + V2_MAX_PAYLOAD

MODES = ("off", "v1", "v2", "any")

T = TypeVar("T")


class ProxyProtocolError(Exception):
    """A PROXY header was missing, malformed, too large, late, or sent by an untrusted peer."""


@dataclass(frozen=True)
class ProxyHeader:
    """A parsed header: `source` is the client (None for LOCAL or UNKNOWN: use the peer)."""

    version: int
    source: ClientAddress | None
    destination: ClientAddress | None


def parse_proxy_header(
    data: bytes, *, versions: Iterable[int] = (1, 2)
) -> tuple[ProxyHeader, int] | None:
    """The header at the start of `data` and its length in bytes; None if more bytes are needed.

    Raises ProxyProtocolError when `data` cannot start a header of an accepted version.
    """
    accepted = set(versions)
    if 2 in accepted and _could_start(data, V2_SIGNATURE):
        return _parse_v2(data) if len(data) >= len(V2_SIGNATURE) else None
    if 1 in accepted and _could_start(data, V1_PREFIX):
        return _parse_v1(data) if len(data) >= len(V1_PREFIX) else None
    raise ProxyProtocolError("the connection does not start with a PROXY protocol header")


def starts_with_header(data: bytes) -> bool | None:
    """Whether `data` starts with a PROXY signature of any version; None while undecided."""
    for signature in (V1_PREFIX, V2_SIGNATURE):
        if data.startswith(signature):
            return True
    if any(_could_start(data, signature) for signature in (V1_PREFIX, V2_SIGNATURE)):
        return None
    return False


def _could_start(data: bytes, signature: bytes) -> bool:
    length = min(len(data), len(signature))
    return data[:length] == signature[:length]


def _parse_v1(data: bytes) -> tuple[ProxyHeader, int] | None:
    end = data.find(b"\r\n", 0, V1_MAX_BYTES)
    if end < 0:
        if len(data) >= V1_MAX_BYTES:
            raise ProxyProtocolError(f"PROXY v1 line longer than {V1_MAX_BYTES} bytes")
        return None
    try:
        parts = data[:end].decode("ascii").split(" ")
    except UnicodeDecodeError:
        raise ProxyProtocolError("PROXY v1 line is not ASCII") from None
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return ProxyHeader(1, None, None), end + 2
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyProtocolError("malformed PROXY v1 line")
    version = 4 if parts[1] == "TCP4" else 6
    source = (_v1_address(parts[2], version), _v1_port(parts[4]))
    destination = (_v1_address(parts[3], version), _v1_port(parts[5]))
    return ProxyHeader(1, source, destination), end + 2


def _v1_address(text: str, version: int) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ProxyProtocolError(f"bad address in PROXY v1 line: {text!r}") from None
    if address.version != version:
        raise ProxyProtocolError(f"PROXY v1 address {text!r} is not IPv{version}")
    return str(address)


def _v1_port(text: str) -> int:
    if not text.isdigit() or len(text) > 5 or int(text) > 65535:
        raise ProxyProtocolError(f"bad port in PROXY v1 line: {text!r}")
    return int(text)


def _parse_v2(data: bytes) -> tuple[ProxyHeader, int] | None:
    if data[: len(V2_SIGNATURE)] != V2_SIGNATURE:
        raise ProxyProtocolError("malformed PROXY v2 signature")
    if len(data) < V2_FIXED_BYTES:
        return None
    version, command = data[12] >> 4, data[12] & 0x0F
    if version != 2 or command not in (0, 1):
        raise ProxyProtocolError(f"unsupported PROXY v2 version/command byte {data[12]:#x}")
    family = data[13] >> 4
    length = int.from_bytes(data[14:16], "big")
    if length > V2_MAX_PAYLOAD:
        raise ProxyProtocolError(f"PROXY v2 header of {length} bytes exceeds {V2_MAX_PAYLOAD}")
    total = V2_FIXED_BYTES + length
    if len(data) < total:
        return None
    body = data[V2_FIXED_BYTES:total]
    if command == 0:  # LOCAL: the balancer's own health check
        return ProxyHeader(2, None, None), total
    if family == 1:  # AF_INET
        if length < 12:
            raise ProxyProtocolError("PROXY v2 IPv4 addresses truncated")
        source = (str(ipaddress.IPv4Address(body[0:4])), int.from_bytes(body[8:10], "big"))
        target = (str(ipaddress.IPv4Address(body[4:8])), int.from_bytes(body[10:12], "big"))
        return ProxyHeader(2, source, target), total
    if family == 2:  # AF_INET6
        if length < 36:
            raise ProxyProtocolError("PROXY v2 IPv6 addresses truncated")
        source = (str(ipaddress.IPv6Address(body[0:16])), int.from_bytes(body[32:34], "big"))
        target = (str(ipaddress.IPv6Address(body[16:32])), int.from_bytes(body[34:36], "big"))
        return ProxyHeader(2, source, target), total
    # AF_UNSPEC or AF_UNIX: no client address to report.
    return ProxyHeader(2, None, None), total


class ProxyPolicy:
    """Who may send a PROXY header, which versions, and the deadline to send it.

    `admit(sock, peer)` is what a listener calls on each accepted socket.
    """

    def __init__(self, *, mode: str, trusted: Iterable[str], timeout: float) -> None:
        if mode not in MODES:
            raise ValueError(f"PROXY protocol mode must be one of {MODES}")
        self.mode = mode
        self.versions = {"v1": (1,), "v2": (2,), "any": (1, 2)}.get(mode, ())
        self.trusted = tuple(ipaddress.ip_network(network, strict=False) for network in trusted)
        self.timeout = timeout
        # Operator counters.
        self.proxied = 0
        self.refused = 0

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def trusts(self, host: str) -> bool:
        """Whether the peer at `host` is one of the trusted load balancers."""
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.trusted)

    async def admit(self, sock: socket.socket, peer: object) -> ClientAddress | None:
        """The client address for this accepted socket, or None to close it.

        Consumes the PROXY header of a trusted peer (exactly its bytes); checks
        that an untrusted peer does not send one. Never raises for a client's
        misbehaviour: it is logged at debug level and counted in `refused`.
        """
        own = _address(peer)
        if not self.enabled:
            return own
        loop = asyncio.get_running_loop()
        try:
            if own is None or not self.trusts(own[0]):
                if await _peek(sock, loop, starts_with_header, self.timeout):
                    raise ProxyProtocolError(f"untrusted peer {own} sent a PROXY header")
                return own

            def parse(data: bytes) -> tuple[ProxyHeader, int] | None:
                return parse_proxy_header(data, versions=self.versions)

            header, length = await _peek(sock, loop, parse, self.timeout)
            _consume(sock, length)
        except ProxyProtocolError as error:
            self.refused += 1
            logger.debug("closed a connection: %s", error)
            return None
        self.proxied += 1
        return header.source or own


def _address(peer: object) -> ClientAddress | None:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return str(peer[0]), int(peer[1])
    return None


async def _peek(
    sock: socket.socket,
    loop: asyncio.AbstractEventLoop,
    decide: Callable[[bytes], T | None],
    timeout: float,  # noqa: ASYNC109 - a listener must never wait on a silent peer
) -> T:
    """Peek at the socket until `decide` returns a value, within `timeout` seconds."""

    def decided(data: bytes) -> T | Undecided:
        result = decide(data)
        return UNDECIDED if result is None else result

    try:
        return await peek_until(
            sock, decided, loop=loop, timeout=timeout, max_bytes=MAX_HEADER_BYTES
        )
    except PeekTimeout:
        raise ProxyProtocolError(f"no PROXY header decision within {timeout} s") from None
    except PeekTooLarge:
        raise ProxyProtocolError("PROXY header too large") from None
    except PeerClosed as closed:
        raise ProxyProtocolError(
            f"the peer closed after {closed.received} bytes, inside its PROXY header"
            if closed.received
            else "the peer closed before its first bytes"
        ) from None
    except PeekFailed as failed:
        raise ProxyProtocolError(str(failed)) from None


def _consume(sock: socket.socket, length: int) -> None:
    """Read exactly `length` bytes already peeked (they are buffered, so this never waits)."""
    remaining = length
    while remaining:
        try:
            chunk = sock.recv(remaining)
        except OSError as error:
            raise ProxyProtocolError(f"the connection failed: {error}") from None
        if not chunk:
            raise ProxyProtocolError("the peer closed inside its PROXY header")
        remaining -= len(chunk)


class ProxyProtocolListener(AcceptLoop):
    """A plain-HTTP listening socket that reads PROXY headers before handing sockets to HTTP.

    `protocol_for(client)` builds the protocol factory for a connection whose
    client is `client`. At most `max_pending` connections wait for their
    header at once; the rest wait in the kernel's backlog. `close()` stops
    accepting; connections still sending their header get a short grace.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        policy: ProxyPolicy,
        protocol_for: Callable[[ClientAddress | None], ProtocolFactory],
        max_pending: int = 1024,
        reuse_port: bool = False,
    ) -> None:
        super().__init__(
            host=host, port=port, name="HTTP", max_pending=max_pending, reuse_port=reuse_port
        )
        self._policy = policy
        self._protocol_for = protocol_for

    async def _handle(
        self, sock: socket.socket, peer: object, loop: asyncio.AbstractEventLoop
    ) -> None:
        try:
            client = await self._policy.admit(sock, peer)
            if client is None:
                sock.close()
                return
            await loop.connect_accepted_socket(self._protocol_for(client), sock)
        except OSError as error:
            logger.debug("HTTP connection failed: %s", error)
            sock.close()
        except BaseException:
            sock.close()
            raise

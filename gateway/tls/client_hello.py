"""Read a TLS ClientHello (SNI, ALPN, versions) without consuming it, before the handshake.

`parse_client_hello` is pure: it takes the bytes at the start of a connection
and returns a `ClientHello`, None when more bytes are needed, or raises a
`TlsError` subclass. Every length is checked against the buffer before it is
used, and every loop advances, so garbage can neither read past the buffer nor
loop forever.

A ClientHello is one handshake message (RFC 8446 section 4.1.2, RFC 5246
section 7.4.1.2) carried in handshake records of at most 2**14 bytes each
(RFC 8446 section 5.1). Clients put it in one record in practice (about 1.8 KB
with post-quantum key shares), but the record layer allows fragmenting it, so
the parser reassembles consecutive handshake records until the message is
complete; `peek_client_hello` bounds the total with `max_bytes`. Bytes after
the ClientHello (a compatibility ChangeCipherSpec, 0-RTT data) are ignored.
SSLv2-compatible hellos are refused: no client we serve sends them.

`peek_client_hello` reads with `MSG_PEEK`, so the TLS library that takes the
socket afterwards still sees the ClientHello from its first byte.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

from gateway.network.socket_peek import (
    PeekFailed,
    PeekTimeout,
    PeekTooLarge,
    PeerClosed,
    Undecided,
    peek_until,
)
from gateway.tls.errors import (
    ClientHelloTimeout,
    ClientHelloTooLarge,
    ConnectionClosedEarly,
    MalformedClientHello,
    NotClientHello,
)

RECORD_HEADER_LENGTH = 5
MAX_RECORD_LENGTH = 2**14  # RFC 8446 section 5.1: TLSPlaintext.length
# One full record: what a client may send for the ClientHello in one go.
MAX_CLIENT_HELLO_BYTES = RECORD_HEADER_LENGTH + MAX_RECORD_LENGTH
HANDSHAKE_RECORD = 22
CLIENT_HELLO = 1

EXTENSION_SERVER_NAME = 0  # RFC 6066 section 3
EXTENSION_ALPN = 16  # RFC 7301 section 3.1
EXTENSION_SUPPORTED_VERSIONS = 43  # RFC 8446 section 4.2.1
SERVER_NAME_HOST = 0
ACME_TLS_ALPN_PROTOCOL = "acme-tls/1"  # RFC 8737 section 6.2


@dataclass(frozen=True)
class ClientHello:
    """What the listener needs from a ClientHello before choosing a certificate.

    `server_name` is the host_name SNI entry, lower-cased (None without SNI);
    `legacy_version` is the ClientHello's version field (0x0303 for TLS 1.2 and
    1.3); `supported_versions` is the supported_versions extension, in the
    client's order (empty when absent, that is a client of TLS 1.2 or older).
    """

    server_name: str | None
    alpn_protocols: list[str] = field(default_factory=list)
    legacy_version: int = 0x0303
    supported_versions: list[int] = field(default_factory=list)

    @property
    def is_acme_tls_alpn(self) -> bool:
        """An ACME TLS-ALPN-01 validation: ALPN offers exactly acme-tls/1 (RFC 8737 section 3)."""
        return self.alpn_protocols == [ACME_TLS_ALPN_PROTOCOL]

    @property
    def highest_version(self) -> int:
        """The newest protocol version the client offers (GREASE values ignored)."""
        offered = [v for v in self.supported_versions if not _is_grease(v)]
        return max(offered) if offered else self.legacy_version


def _is_grease(value: int) -> bool:
    # RFC 8701: 0x0A0A, 0x1A1A, ... 0xFAFA
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


class _Reader:
    """Bounded cursor over one length-delimited span; every read checks the span first."""

    __slots__ = ("_data", "_end", "_position", "_what")

    def __init__(self, data: bytes, what: str, start: int = 0, end: int | None = None) -> None:
        self._data = data
        self._position = start
        self._end = len(data) if end is None else end
        self._what = what

    @property
    def remaining(self) -> int:
        return self._end - self._position

    def take(self, count: int) -> bytes:
        if count > self.remaining:
            raise MalformedClientHello(f"{self._what} is shorter than its lengths announce")
        chunk = self._data[self._position : self._position + count]
        self._position += count
        return chunk

    def take_all(self) -> bytes:
        return self.take(self.remaining)

    def integer(self, width: int) -> int:
        return int.from_bytes(self.take(width), "big")

    def vector(self, length_width: int, what: str) -> _Reader:
        """The sub-span announced by a `length_width`-byte length; this cursor moves past it."""
        length = self.integer(length_width)
        if length > self.remaining:
            raise MalformedClientHello(f"{what} is longer than {self._what}")
        inner = _Reader(self._data, what, self._position, self._position + length)
        self._position += length
        return inner


def _reassemble(data: bytes) -> tuple[bytes | None, int]:
    """The ClientHello handshake body from the records at the start of `data`.

    Returns (body, bytes used) once complete, else (None, the least total byte
    count that could complete it). Raises on anything that is not handshake
    records starting with a ClientHello.
    """
    message = bytearray()
    position = 0
    while True:
        if len(message) >= 4:
            needed = 4 + int.from_bytes(message[1:4], "big")
            if len(message) >= needed:
                return bytes(message[4:needed]), position
        header = data[position : position + RECORD_HEADER_LENGTH]
        if header and header[0] != HANDSHAKE_RECORD:
            raise NotClientHello(
                f"record type {header[0]} is not a TLS handshake"
                if position
                else "the connection does not start with a TLS handshake record"
            )
        if len(header) >= 2 and header[1] != 3:
            raise NotClientHello(f"record version {header[1]}.x is not TLS")
        if len(header) < RECORD_HEADER_LENGTH:
            return None, position + RECORD_HEADER_LENGTH
        length = int.from_bytes(header[3:5], "big")
        if length == 0 or length > MAX_RECORD_LENGTH:
            # RFC 8446 section 5.1: no empty handshake fragments, none over 2**14.
            raise MalformedClientHello(f"handshake record length {length} is out of bounds")
        fragment_start = position + RECORD_HEADER_LENGTH
        fragment = data[fragment_start : fragment_start + length]
        if not message and fragment[:1] and fragment[0] != CLIENT_HELLO:
            raise NotClientHello(f"handshake message type {fragment[0]} is not a ClientHello")
        if len(fragment) < length:
            if len(message) + len(fragment) >= 4:
                # The announced message length gives a better lower bound than this record.
                joined = message + fragment
                total = 4 + int.from_bytes(joined[1:4], "big")
                return None, max(fragment_start + length, fragment_start + total - len(message))
            return None, fragment_start + length
        message += fragment
        position = fragment_start + length


def _parse_body(body: bytes) -> ClientHello:
    """Fields of a complete ClientHello body (after the 4-byte handshake header)."""
    reader = _Reader(body, "the ClientHello")
    legacy_version = reader.integer(2)
    if legacy_version >> 8 != 3:
        raise MalformedClientHello(f"ClientHello version {legacy_version:#06x} is not TLS")
    reader.take(32)  # random
    if reader.vector(1, "the session id").remaining > 32:
        raise MalformedClientHello("the session id is longer than 32 bytes")
    suites = reader.vector(2, "the cipher suites")
    if suites.remaining < 2 or suites.remaining % 2:
        raise MalformedClientHello("the cipher suite list has a bad length")
    if reader.vector(1, "the compression methods").remaining < 1:
        raise MalformedClientHello("the compression method list is empty")
    server_name: str | None = None
    alpn: list[str] = []
    versions: list[int] = []
    if reader.remaining == 0:  # TLS 1.2 and older may omit the extensions block
        return ClientHello(None, alpn, legacy_version, versions)
    extensions = reader.vector(2, "the extensions")
    if reader.remaining:
        raise MalformedClientHello("bytes follow the extensions")
    seen: set[int] = set()
    while extensions.remaining:
        kind = extensions.integer(2)
        content = extensions.vector(2, f"extension {kind}")
        if kind in seen:  # RFC 8446 section 4.2: at most one extension of each type
            raise MalformedClientHello(f"extension {kind} appears twice")
        seen.add(kind)
        if kind == EXTENSION_SERVER_NAME:
            server_name = _server_name(content)
        elif kind == EXTENSION_ALPN:
            alpn = _alpn(content)
        elif kind == EXTENSION_SUPPORTED_VERSIONS:
            versions = _supported_versions(content)
    return ClientHello(server_name, alpn, legacy_version, versions)


def _server_name(content: _Reader) -> str | None:
    names = content.vector(2, "the server name list")
    if content.remaining:
        raise MalformedClientHello("bytes follow the server name list")
    host_name: str | None = None
    while names.remaining:
        name_type = names.integer(1)
        value = names.vector(2, "a server name").take_all()
        if name_type != SERVER_NAME_HOST:
            continue
        if host_name is not None:  # RFC 6066 section 3: one name of each type
            raise MalformedClientHello("the server name list holds two host names")
        if not value:
            raise MalformedClientHello("the host name is empty")
        try:
            host_name = value.decode("ascii").lower()
        except UnicodeDecodeError:
            raise MalformedClientHello("the host name is not ASCII") from None
    return host_name


def _alpn(content: _Reader) -> list[str]:
    protocols = content.vector(2, "the ALPN protocol list")
    if content.remaining:
        raise MalformedClientHello("bytes follow the ALPN protocol list")
    found: list[str] = []
    while protocols.remaining:
        name = protocols.vector(1, "an ALPN protocol").take_all()
        if not name:  # RFC 7301 section 3.1: ProtocolName<1..2^8-1>
            raise MalformedClientHello("an ALPN protocol name is empty")
        found.append(name.decode("latin-1"))
    return found


def _supported_versions(content: _Reader) -> list[int]:
    versions = content.vector(1, "the supported versions")
    if content.remaining or versions.remaining % 2:
        raise MalformedClientHello("the supported versions have a bad length")
    return [versions.integer(2) for _ in range(versions.remaining // 2)]


def parse_client_hello(data: bytes) -> ClientHello | None:
    """The ClientHello at the start of `data`, or None when more bytes are needed.

    Raises NotClientHello when the bytes are not a TLS handshake starting with a
    ClientHello, MalformedClientHello when its lengths or fields are wrong.
    """
    body, _ = _reassemble(data)
    return None if body is None else _parse_body(body)


async def peek_client_hello(
    sock: socket.socket,
    *,
    loop: asyncio.AbstractEventLoop,
    timeout: float,  # noqa: ASYNC109 - a listener must never wait on a silent peer
    max_bytes: int = MAX_CLIENT_HELLO_BYTES,
) -> ClientHello:
    """Wait for the whole ClientHello on an accepted non-blocking socket, without consuming it.

    Peeks again each time more bytes arrive until the records announced by the
    headers are complete, all within `timeout` seconds. Raises a TlsError
    subclass on timeout, close, garbage, or a hello needing more than
    `max_bytes`. The socket is left open and unread for the caller, who closes
    it on error. While waiting, SO_RCVLOWAT is raised to the bytes still
    missing (so a partial record does not wake the loop on every segment) and
    reset to 1 before returning, so the TLS transport that takes the socket
    sees normal readiness (`gateway.network.socket_peek.peek_until`).
    """
    try:
        return await peek_until(sock, _decide, loop=loop, timeout=timeout, max_bytes=max_bytes)
    except PeekTimeout as late:
        raise ClientHelloTimeout(timeout, late.received) from None
    except PeekTooLarge:
        raise ClientHelloTooLarge(max_bytes) from None
    except PeerClosed as closed:
        raise ConnectionClosedEarly(
            f"the peer closed after {closed.received} bytes, before a complete ClientHello"
        ) from None
    except PeekFailed as failed:
        raise ConnectionClosedEarly(str(failed)) from None


def _decide(data: bytes) -> ClientHello | Undecided:
    body, needed = _reassemble(data)
    return Undecided(needed) if body is None else _parse_body(body)

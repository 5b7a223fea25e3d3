"""Errors of the TLS serving package: data with a readable message, one root to catch."""

from __future__ import annotations


class TlsError(Exception):
    """Root of every error gateway.tls raises on purpose; the connection it concerns is dropped."""


class NotClientHello(TlsError):
    """The first bytes are not a TLS handshake record holding a ClientHello (plain HTTP on 443,
    an SSLv2 hello, a port scanner)."""


class MalformedClientHello(TlsError):
    """The bytes announce a ClientHello but its lengths or fields are inconsistent."""


class ClientHelloTooLarge(TlsError):
    """The ClientHello would need more bytes than the configured bound; `limit` is that bound."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the ClientHello does not fit in {limit} bytes")


class ClientHelloTimeout(TlsError):
    """The whole ClientHello did not arrive within the deadline; `received` bytes had come."""

    def __init__(self, timeout: float, received: int) -> None:
        self.timeout = timeout
        self.received = received
        super().__init__(f"no complete ClientHello within {timeout:g} s ({received} bytes came)")


class ConnectionClosedEarly(TlsError):
    """The peer closed or reset the connection before its ClientHello was complete."""


class CertificateLoadError(TlsError):
    """A certificate chain or its private key could not be loaded into an SSL context."""


class UnrecognizedName(TlsError):
    """No certificate is served for this SNI name (unknown, inactive, or no SNI at all)."""

    def __init__(self, name: str | None) -> None:
        self.name = name
        super().__init__(
            f"no certificate for server name {name!r}" if name else "the client sent no server name"
        )

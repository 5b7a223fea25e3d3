"""Real ClientHellos from Python's ssl module, for the TLS tests."""

from __future__ import annotations

import contextlib
import ssl


def client_hello(
    server_name: str | None = None,
    *,
    alpn: list[str] | None = None,
    maximum_version: ssl.TLSVersion | None = None,
) -> bytes:
    """The bytes a real ssl client sends first (its ClientHello records)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(alpn)
    if maximum_version is not None:
        context.maximum_version = maximum_version
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    connection = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with contextlib.suppress(ssl.SSLWantReadError):
        connection.do_handshake()
    return outgoing.read()


def record(payload: bytes, *, content_type: int = 22, version: bytes = b"\x03\x01") -> bytes:
    """One TLS record holding `payload`."""
    return bytes([content_type]) + version + len(payload).to_bytes(2, "big") + payload


def trusting_client(root_pem: str, *, alpn: list[str] | None = None) -> ssl.SSLContext:
    """A client context that trusts only `root_pem` and checks host names."""
    context = ssl.create_default_context(cadata=root_pem)
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


class MemoryConnection:
    """A TLS client and server talking through memory buffers, no sockets."""

    def __init__(
        self,
        server_context: ssl.SSLContext,
        client_context: ssl.SSLContext,
        server_name: str | None,
    ) -> None:
        self.client_in, self.client_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.server_in, self.server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.client = client_context.wrap_bio(
            self.client_in, self.client_out, server_hostname=server_name
        )
        self.server = server_context.wrap_bio(self.server_in, self.server_out, server_side=True)

    def pump(self) -> None:
        self.server_in.write(self.client_out.read())
        self.client_in.write(self.server_out.read())

    def handshake(self) -> MemoryConnection:
        """Run the handshake; raises the ssl error of whichever side fails."""
        done = {"client": False, "server": False}
        for _ in range(20):
            for side, endpoint in (("client", self.client), ("server", self.server)):
                if not done[side]:
                    try:
                        endpoint.do_handshake()
                        done[side] = True
                    except ssl.SSLWantReadError:
                        pass
            self.pump()
            if all(done.values()):
                return self
        raise AssertionError("the handshake did not finish")

    def server_says(self, data: bytes) -> bytes:
        """Send `data` from server to client; returns what the client read."""
        self.server.write(data)
        self.pump()
        return self.client.read(len(data) + 1024)


def memory_handshake(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext, server_name: str | None
) -> MemoryConnection:
    """A finished in-memory handshake; raises the ssl error of whichever side fails."""
    return MemoryConnection(server_context, client_context, server_name).handshake()

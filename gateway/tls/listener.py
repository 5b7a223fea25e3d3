"""The HTTPS listener: accept, read the ClientHello, choose the certificate, hand over to HTTP.

Python's SNI callback is synchronous, so the choice is made before the TLS
library sees the connection: the ClientHello is peeked (not consumed), the
context comes from `CertificateResolver` (memory, PostgreSQL, or an issuance),
and `loop.connect_accepted_socket` starts the handshake with it and gives the
connection to the HTTP server's protocol factory (aiohttp's `runner.server`).
Works with the default event loop and with uvloop.

Every connection gets one deadline for its ClientHello and another for its
handshake; at most `max_pending` connections are between accept and a
finished handshake at once, the others wait in the kernel's backlog, so a
flood of silent or slow clients costs bounded memory. Accepting, that bound
and closing are `gateway.accept_loop.AcceptLoop`, shared with the plain HTTP
listener of the PROXY protocol.

With `admit`, each accepted socket is first given to it (the PROXY protocol
reader): it consumes what precedes the ClientHello and names the client, or
refuses the connection; `protocol_for(client)` then builds the protocol.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable

from gateway.accept_loop import AcceptLoop
from gateway.tls.alerts import refuse_handshake
from gateway.tls.client_hello import ClientHello, peek_client_hello
from gateway.tls.errors import TlsError
from gateway.tls.policy import offers_supported_version

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = ssl.AlertDescription.ALERT_DESCRIPTION_PROTOCOL_VERSION
UNRECOGNIZED_NAME = ssl.AlertDescription.ALERT_DESCRIPTION_UNRECOGNIZED_NAME

ContextChooser = Callable[[ClientHello], Awaitable[ssl.SSLContext | None]]
ProtocolFactory = Callable[[], asyncio.BaseProtocol]
ClientAddress = tuple[str, int]
# Given the accepted socket and its peer address: the client's address, or None to close.
Admission = Callable[[socket.socket, object], Awaitable[ClientAddress | None]]


class HttpsListener(AcceptLoop):
    """One listening socket serving TLS with a per-SNI context; `start()`, then `close()`.

    `choose_context` returns the context for a ClientHello, or None to refuse
    it with unrecognized_name. `protocol_factory` builds the protocol each
    connection is handed to once its handshake is done; with `admit` (see
    the module docstring), `protocol_for(client)` builds it instead.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        choose_context: ContextChooser,
        protocol_factory: ProtocolFactory,
        handshake_timeout: float = 10.0,
        max_pending: int = 1024,
        reuse_port: bool = False,
        admit: Admission | None = None,
        protocol_for: Callable[[ClientAddress | None], ProtocolFactory] | None = None,
    ) -> None:
        super().__init__(
            host=host, port=port, name="HTTPS", max_pending=max_pending, reuse_port=reuse_port
        )
        self._choose_context = choose_context
        self._protocol_factory = protocol_factory
        self._handshake_timeout = handshake_timeout
        self._admit = admit
        self._protocol_for = protocol_for
        # Operator counters, beside the accept loop's `accepted`.
        self.refused = 0
        self.failed = 0

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        return self.address[1]

    async def _admitted(self, sock: socket.socket, peer: object) -> ProtocolFactory | None:
        """The protocol factory for this client, or None when `admit` refuses it."""
        if self._admit is None:
            return self._protocol_factory
        try:
            client = await self._admit(sock, peer)
        except BaseException:
            sock.close()
            raise
        if client is None:
            return None
        if self._protocol_for is not None:
            return self._protocol_for(client)
        return self._protocol_factory

    async def _handle(
        self, sock: socket.socket, peer: object, loop: asyncio.AbstractEventLoop
    ) -> None:
        protocol_factory = await self._admitted(sock, peer)
        if protocol_factory is None:
            self.refused += 1
            sock.close()
            return
        try:
            hello = await peek_client_hello(sock, loop=loop, timeout=self._handshake_timeout)
        except TlsError as error:
            # Plain HTTP on the TLS port, scanners, silent clients: nothing to answer.
            logger.debug("dropped a connection before its handshake: %s", error)
            self.failed += 1
            sock.close()
            return
        except BaseException:
            sock.close()
            raise
        if not offers_supported_version(hello):
            self.refused += 1
            await refuse_handshake(sock, loop=loop, description=PROTOCOL_VERSION)
            return
        try:
            context = await self._choose_context(hello)
        except Exception:
            # The database is down, say: this client goes, the listener stays.
            logger.exception("no certificate choice for %r", hello.server_name)
            self.failed += 1
            sock.close()
            return
        except BaseException:
            sock.close()
            raise
        if context is None:
            self.refused += 1
            logger.debug("refused server name %r", hello.server_name)
            await refuse_handshake(sock, loop=loop, description=UNRECOGNIZED_NAME)
            return
        try:
            await loop.connect_accepted_socket(
                protocol_factory,
                sock,
                ssl=context,
                ssl_handshake_timeout=self._handshake_timeout,
            )
        except (OSError, TimeoutError) as error:  # ssl.SSLError is an OSError
            logger.debug("TLS handshake failed: %s", error)
            self.failed += 1
            sock.close()
        except BaseException:
            sock.close()
            raise

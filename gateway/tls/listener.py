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
flood of silent or slow clients costs bounded memory.

With `admit`, each accepted socket is first given to it (the PROXY protocol
reader): it consumes what precedes the ClientHello and names the client, or
refuses the connection; `protocol_for(client)` then builds the protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable

from gateway.tls.alerts import refuse_handshake
from gateway.tls.client_hello import ClientHello, peek_client_hello
from gateway.tls.errors import TlsError
from gateway.tls.policy import offers_supported_version

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = ssl.AlertDescription.ALERT_DESCRIPTION_PROTOCOL_VERSION
UNRECOGNIZED_NAME = ssl.AlertDescription.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
BACKLOG = 1024
# Handshakes still running at close get this long to finish before they are cancelled.
CLOSE_GRACE_SECONDS = 5.0

ContextChooser = Callable[[ClientHello], Awaitable[ssl.SSLContext | None]]
ProtocolFactory = Callable[[], asyncio.BaseProtocol]
ClientAddress = tuple[str, int]
# Given the accepted socket and its peer address: the client's address, or None to close.
Admission = Callable[[socket.socket, object], Awaitable[ClientAddress | None]]


class HttpsListener:
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
        self._host = host
        self._port = port
        self._choose_context = choose_context
        self._protocol_factory = protocol_factory
        self._handshake_timeout = handshake_timeout
        self._pending = asyncio.Semaphore(max_pending)
        self._reuse_port = reuse_port
        self._admit = admit
        self._protocol_for = protocol_for
        self._socket: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[None]] = set()
        # Operator counters.
        self.accepted = 0
        self.refused = 0
        self.failed = 0

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        if self._socket is None:
            raise RuntimeError("the HTTPS listener is not started")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def address(self) -> tuple[str, int]:
        if self._socket is None:
            raise RuntimeError("the HTTPS listener is not started")
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    async def start(self) -> None:
        """Bind and listen, then accept in the background. Raises OSError when the port is taken."""
        if self._socket is not None:
            raise RuntimeError("the HTTPS listener is already started")
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self._reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((self._host, self._port))
            sock.listen(BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._socket = sock
        self._accepting = asyncio.create_task(self._accept_loop(sock), name="https accept")

    async def close(self) -> None:
        """Stop accepting, give handshakes in progress a short grace, cancel the rest.

        Connections already handed to the HTTP server are the server's to close.
        """
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
            self._accepting = None
        if self._socket is not None:
            self._socket.close()
        pending = list(self._connections)
        if pending:
            _, late = await asyncio.wait(pending, timeout=CLOSE_GRACE_SECONDS)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._pending.acquire()
            try:
                sock, peer = await loop.sock_accept(listener)
            except asyncio.CancelledError:
                self._pending.release()
                raise
            except OSError as error:
                # EMFILE, ECONNABORTED...: keep serving; pause so a full fd table can drain.
                self._pending.release()
                logger.warning("accept failed: %s", error)
                await asyncio.sleep(0.1)
                continue
            self.accepted += 1
            sock.setblocking(False)
            task = asyncio.create_task(self._handle(sock, peer, loop))
            self._connections.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._connections.discard(task)
        self._pending.release()
        if not task.cancelled() and task.exception() is not None:
            logger.error("HTTPS connection setup failed", exc_info=task.exception())

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

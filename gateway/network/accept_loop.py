"""The one accept loop of the gateway's own listeners (plain HTTP with PROXY, and HTTPS).

Both listeners read bytes before the HTTP server may see a connection (a PROXY
header, a ClientHello), so neither can use `loop.create_server`: they accept
themselves and give each socket to a handler. The loop bounds how many
connections are between accept and their hand-over at once (`max_pending`;
the others wait in the kernel's backlog, so a flood of silent clients costs
bounded memory), survives accept errors, tracks each connection's task, and on
close gives those tasks a short grace before cancelling them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

logger = logging.getLogger(__name__)

BACKLOG = 1024
# Connections still being set up at close get this long to finish before they are cancelled.
CLOSE_GRACE_SECONDS = 5.0
# After a failed accept (EMFILE, ECONNABORTED...), this pause lets a full fd table drain.
ACCEPT_ERROR_PAUSE_SECONDS = 0.1


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A non-blocking listening TCP socket on host:port (SO_REUSEPORT for worker processes)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class AcceptLoop:
    """Accepts on one listening socket and runs `_handle(sock, peer, loop)` for each connection.

    A listener subclasses it and implements `_handle`, which owns the accepted
    non-blocking socket. `start()` binds and accepts in the background;
    `close()` stops accepting and waits for the handlers (at most
    CLOSE_GRACE_SECONDS, then cancels them). A handler's task ends when the
    connection is handed over (to the HTTP server, say), not when it closes:
    what was handed over is the new owner's to close. `name` names the loop's
    task and its log lines ("HTTPS", "HTTP"). `accepted` counts the
    connections accepted, for the operator's metrics.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        name: str,
        max_pending: int = 1024,
        reuse_port: bool = False,
    ) -> None:
        self._host = host
        self._port = port
        self._name = name
        self._pending = asyncio.Semaphore(max_pending)
        self._reuse_port = reuse_port
        self._socket: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.accepted = 0

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (useful when started on port 0)."""
        if self._socket is None:
            raise RuntimeError(f"the {self._name} listener is not started")
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    async def start(self) -> None:
        """Bind and listen, then accept in the background. Raises OSError when the port is taken."""
        if self._socket is not None:
            raise RuntimeError(f"the {self._name} listener is already started")
        self._socket = listening_socket(self._host, self._port, reuse_port=self._reuse_port)
        self._accepting = asyncio.create_task(
            self._accept_loop(self._socket), name=f"{self._name.lower()} accept"
        )

    async def close(self) -> None:
        """Stop accepting, give connections being set up a short grace, cancel the rest."""
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
                logger.warning("%s accept failed: %s", self._name, error)
                await asyncio.sleep(ACCEPT_ERROR_PAUSE_SECONDS)
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
            logger.error("%s connection setup failed", self._name, exc_info=task.exception())

    async def _handle(
        self, sock: socket.socket, peer: object, loop: asyncio.AbstractEventLoop
    ) -> None:
        """Set up one accepted connection; close `sock` unless it was handed over."""
        raise NotImplementedError

"""Deadlines and limits aiohttp lacks: request head and body deadlines, a connection cap per worker.

aiohttp's server has no deadline for receiving a request head or body: a
client trickling one header byte at a time keeps its connection (and a slot)
until the keep-alive timeout, and a trickled body has no bound at all. The
request handler here adds both, as nginx's `client_header_timeout` and a total
`client_body_timeout` would:

- head deadline: armed when the connection opens and when the first byte of a
  keep-alive request arrives, cancelled when the parser has the whole head.
  On expiry an idle connection gets `408 Request Timeout` and is closed.
- body deadline: armed when a head announcing a body is complete, cancelled
  when the parser has the whole body; on expiry the connection is closed and
  the handler's read fails.
- connections beyond `max_connections` are closed as soon as they are made.

Only HTTP/1.0 and HTTP/1.1 are answered: aiohttp's parser takes a request
line without a version as HTTP/0.9 and `HTTP/2.0` as itself, and answered
both with a status line of that version (issue 13); they get `505 HTTP Version
Not Supported` and the connection closes. Every response names the server as
`SERVER_NAME`, without the Python and aiohttp versions aiohttp would send.

Draining (`runner.cleanup()` after the listeners closed) finishes what was
accepted: aiohttp's own shutdown marks every connection closing at once and
from then on drops the bytes that arrive, so a request whose body was still
on its way was lost. Here a request whose head has arrived keeps receiving
its body and gets its response (with `Connection: close`); idle connections
close at once; at the runner's `shutdown_timeout` every handler still running
is cancelled (a proxied upstream request with it) and its connection cut, so
`cleanup()` returns within that bound plus a short grace.

It also carries the client address a PROXY protocol header named, so that
`request.remote`, the access log and X-Forwarded-For see the real client.
`GuardedRunner` is an `AppRunner` whose server builds these handlers; use
`runner.server` (or `runner.server.protocol_for(address)`) as the protocol
factory of every listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http import HttpVersion10, HttpVersion11, RawRequestMessage
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from aiohttp.web_protocol import RequestHandler, _ErrInfo
from aiohttp.web_request import BaseRequest

logger = logging.getLogger(__name__)

ClientAddress = tuple[str, int]

REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
# What the Server header says: the product, never versions (RFC 9110 10.2.4 warns against detail).
SERVER_NAME = "billing-edge-gateway"
SERVED_VERSIONS = (HttpVersion10, HttpVersion11)

# How long handlers cancelled at the shutdown deadline get to unwind before their
# connections are cut regardless.
CUT_GRACE_SECONDS = 0.5


@dataclass(frozen=True)
class ConnectionLimits:
    """The deadlines (seconds) and the connection cap one worker enforces."""

    head_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 10_000


class GuardedServer(web.Server):
    """aiohttp's low-level server, building `GuardedRequestHandler`s under `limits`.

    The counters are for operators: connections open now, and how many were
    closed for a late head, a late body or over the cap since start.
    """

    def __init__(self, *args: Any, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.open_connections = 0
        self.head_timeouts = 0
        self.body_timeouts = 0
        self.refused_connections = 0
        self.draining = False

    def pre_shutdown(self) -> None:
        """Start draining: idle connections close, requests in progress may finish."""
        self.draining = True
        for connection in list(self._connections):
            if isinstance(connection, GuardedRequestHandler):
                connection.drain()
            else:
                connection.close()

    async def shutdown(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 (aiohttp's)
        """Wait up to `timeout` seconds for the requests in progress, then cut the rest."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        connections = list(self._connections)
        await asyncio.gather(
            *(
                connection.finish(deadline)
                if isinstance(connection, GuardedRequestHandler)
                else connection.shutdown(timeout)
                for connection in connections
            )
        )
        self._connections.clear()

    def __call__(self) -> GuardedRequestHandler:
        return GuardedRequestHandler(self, loop=self._loop, **self._kwargs)

    def protocol_for(self, client: ClientAddress | None) -> Callable[[], GuardedRequestHandler]:
        """A protocol factory whose connection reports `client` as its peer (PROXY protocol)."""

        def build() -> GuardedRequestHandler:
            handler = self()
            handler.client_address = client
            return handler

        return build


class GuardedRequestHandler(RequestHandler):
    """aiohttp's HTTP/1.1 protocol with head and body deadlines and a connection cap."""

    def __init__(self, manager: GuardedServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = manager
        self._limits = manager.limits
        self._head_deadline: asyncio.TimerHandle | None = None
        self._body_deadline: asyncio.TimerHandle | None = None
        self._body: StreamReader | None = None
        self._counted = False
        self._draining = False
        self.client_address: ClientAddress | None = None

    @property
    def peername(self) -> Any:
        """The client a trusted PROXY header named, else the socket's peer."""
        if self.client_address is not None:
            return self.client_address
        return None if self.transport is None else self.transport.get_extra_info("peername")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._guard.open_connections >= self._limits.max_connections:
            self._guard.refused_connections += 1
            logger.warning(
                "closed a connection: %d open, the limit per worker",
                self._limits.max_connections,
            )
            self._manager = None  # connection_lost then has nothing to undo
            transport.close()
            return
        self._guard.open_connections += 1
        self._counted = True
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._counted:
            self._counted = False
            self._guard.open_connections -= 1
        self._cancel_head_deadline()
        self._cancel_body_deadline()
        self._body = None
        super().connection_lost(exc)

    @property
    def draining(self) -> bool:
        """Whether the server is stopping: the response in progress is this connection's last."""
        return self._draining

    async def finish_response(
        self, request: BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        if self._draining and not resp.prepared:
            # The client learns this response is the connection's last (aiohttp then sends
            # Connection: close), rather than racing its next request against the close.
            # Here rather than in an on_response_prepare hook, which would run per response.
            resp.force_close()
        return await super().finish_response(request, resp, start_time)

    def drain(self) -> None:
        """No further request on this connection; the one whose head has arrived may finish."""
        self._draining = True
        self._cancel_head_deadline()
        # aiohttp's close() also makes data_received drop what arrives; the body of the
        # request in progress still gets through (see data_received).
        self.close()

    async def finish(self, deadline: float | None) -> None:
        """Let the request in progress finish until `deadline` (loop time), then cut it."""
        self._draining = True
        if self._keepalive_handle is not None:
            self._keepalive_handle.cancel()
            self._keepalive_handle = None
        task = self._task_handler
        if task is not None and not task.done():
            timeout = None if deadline is None else max(0.0, deadline - self._loop.time())
            await asyncio.wait({task}, timeout=timeout)
            if not task.done():
                logger.warning("cut a request from %s at the shutdown deadline", _peer(self))
                # Cancels the handler it awaits too, and any upstream request that handler makes.
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), CUT_GRACE_SECONDS)
        self.force_close()

    async def shutdown(self, timeout: float | None = 15.0) -> None:  # noqa: ASYNC109 (aiohttp's)
        """aiohttp's per-connection shutdown, as `finish` within `timeout` seconds."""
        self.drain()
        await self.finish(None if timeout is None else self._loop.time() + timeout)

    def data_received(self, data: bytes) -> None:
        if self._draining and self._close and not self._force_close and self._receiving_body():
            # Draining: the body of the request whose head has arrived is still wanted.
            self._close = False
            try:
                self.data_received(data)
            finally:
                self._close = True
            return
        if self._payload_parser is not None or self._upgraded or self._close or self._force_close:
            super().data_received(data)
            return
        reading_body = self._body is not None and not self._body.is_eof()
        heads_before = self._request_count
        super().data_received(data)
        if self._request_count != heads_before:
            self._refuse_other_versions(self._request_count - heads_before)
            self._cancel_head_deadline()
            self._cancel_body_deadline()
            payload = self._messages[-1][1] if self._messages else None
            if isinstance(payload, StreamReader) and not payload.is_eof():
                self._body = payload
                self._body_deadline = self._loop.call_later(
                    self._limits.body_timeout, self._body_expired
                )
            else:
                self._body = None
        elif not reading_body and data and self._head_deadline is None:
            # The first bytes of a keep-alive request: its head is now on the clock.
            self._arm_head_deadline()
        if self._body is not None and self._body.is_eof():
            self._body = None
            self._cancel_body_deadline()

    def _refuse_other_versions(self, new: int) -> None:
        """Replace the newest `new` queued requests of another HTTP version with a 505."""
        queued = self._messages
        for position in range(max(0, len(queued) - new), len(queued)):
            message, _payload = queued[position]
            if isinstance(message, RawRequestMessage) and message.version not in SERVED_VERSIONS:
                version = "HTTP/{}.{}".format(*message.version)
                refusal = HttpProcessingError(
                    code=505, message=f"{version} is not served; use HTTP/1.1"
                )
                queued[position] = (
                    _ErrInfo(status=505, exc=refusal, message=refusal.message),
                    EMPTY_PAYLOAD,
                )
                # Nothing after it on this connection is read: the 505 closes it.
                while len(queued) > position + 1:
                    queued.pop()
                self._close = True
                return

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's error answer (a malformed request, a 505 above), naming the server plainly."""
        response = super().handle_error(request, status, exc, message)
        response.headers["Server"] = SERVER_NAME
        return response

    def _receiving_body(self) -> bool:
        return self._body is not None and not self._body.is_eof()

    def _arm_head_deadline(self) -> None:
        if self._draining:
            return
        self._cancel_head_deadline()
        self._head_deadline = self._loop.call_later(self._limits.head_timeout, self._head_expired)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _cancel_body_deadline(self) -> None:
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None

    def _head_expired(self) -> None:
        self._head_deadline = None
        if self.transport is None or self._force_close:
            return
        self._guard.head_timeouts += 1
        logger.info("closed %s: no complete request head in time", _peer(self))
        if self._request_in_progress:
            # A pipelined head is late while a response is being made: finish that one first.
            self.close()
            return
        self.transport.write(REQUEST_TIMEOUT)
        self.force_close()

    def _body_expired(self) -> None:
        self._body_deadline = None
        if self._body is None or self._body.is_eof() or self.transport is None:
            return
        self._guard.body_timeouts += 1
        logger.info("closed %s: request body not received in time", _peer(self))
        self._body = None
        self.force_close()


class GuardedRunner(web.AppRunner):
    """An `AppRunner` whose server is a `GuardedServer` enforcing `limits`.

    Other keyword arguments go to aiohttp's request handler as usual
    (`keepalive_timeout`, `max_line_size`, `max_field_size`, `max_headers`...).
    """

    def __init__(self, app: web.Application, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._limits = limits

    def shorten_shutdown(self, seconds: float) -> None:
        """Give requests in flight at most `seconds` in `cleanup()` (what is left to a deadline)."""
        self._shutdown_timeout = min(self._shutdown_timeout, seconds)

    @property
    def guarded_server(self) -> GuardedServer:
        """The server once `setup()` has run."""
        server = self.server
        if not isinstance(server, GuardedServer):
            raise RuntimeError("the runner is not set up")
        return server

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        # Same handler, request factory and handler arguments as aiohttp's own server.
        return GuardedServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            limits=self._limits,
            **plain._kwargs,
        )


async def name_the_server(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the Server header without versions (aiohttp's default names them)."""
    response.headers["Server"] = SERVER_NAME


def _peer(handler: RequestHandler) -> str:
    peer = handler.peername
    if isinstance(peer, tuple) and peer:
        return f"{peer[0]}:{peer[1]}" if len(peer) > 1 else str(peer[0])
    return "a client"

"""Reverse-proxy routes: tenant-host paths under a prefix forwarded to an upstream HTTP service.

GATEWAY_UPSTREAMS lists `/prefix=http://host:port` pairs. A request for
`/prefix` or `/prefix/...` on a tenant host goes to the upstream with its
path and query unchanged (appended to the upstream URL's own path), its body
streamed as it arrives, and the upstream's answer streamed back. The upstream
learns the client (`X-Forwarded-For`, `-Proto`, `-Host`), the tenant
(`X-Tenant-Id`, `X-Tenant-Slug`) and the request id; values a client sent in
those headers are replaced, never passed on. An upstream that refuses the
connection or breaks its answer is a 502, one that does not connect or
answer in time a 504, both as the gateway's branded error page.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from gateway.edge import keys
from gateway.edge.errors import BadGateway, GatewayTimeout, PayloadTooLarge
from gateway.edge.response_headers import tls_object
from gateway.ops.logging_setup import REQUEST_ID, REQUEST_ID_HEADER
from gateway.settings import Settings

logger = logging.getLogger(__name__)

PROXY_SESSION = web.AppKey("proxy_session", aiohttp.ClientSession)
CHUNK_BYTES = 64 * 1024

# RFC 9110 7.6.1: connection-specific fields are for one hop only; so is Host, which the
# client sets for the upstream's own address.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Set by the gateway only: a client's own values would let it pose as another address or tenant.
GATEWAY_SET = frozenset(
    {
        "host",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-real-ip",
        "x-tenant-id",
        "x-tenant-slug",
        REQUEST_ID_HEADER.lower(),
    }
)


def _connection_tokens(headers: CIMultiDictProxy[str]) -> set[str]:
    tokens: set[str] = set()
    for value in headers.getall("Connection", []):
        tokens.update(token.strip().lower() for token in value.split(",") if token.strip())
    return tokens


def upstream_request_headers(request: web.Request) -> CIMultiDict[str]:
    """The headers the upstream receives: the client's end-to-end ones plus the gateway's own."""
    dropped = HOP_BY_HOP | GATEWAY_SET | _connection_tokens(request.headers)
    headers: CIMultiDict[str] = CIMultiDict(
        (name, value) for name, value in request.headers.items() if name.lower() not in dropped
    )
    if request.remote:
        headers["X-Forwarded-For"] = request.remote
    headers["X-Forwarded-Proto"] = "https" if tls_object(request) is not None else "http"
    host = request.headers.get("Host")
    if host:
        headers["X-Forwarded-Host"] = host
    tenant = request.get(keys.TENANT)
    if tenant is not None:
        headers["X-Tenant-Id"] = str(tenant.id)
        headers["X-Tenant-Slug"] = tenant.slug
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        headers[REQUEST_ID_HEADER] = request_id
    return headers


def client_response_headers(upstream: aiohttp.ClientResponse) -> CIMultiDict[str]:
    """The upstream's headers minus the hop-by-hop ones (the gateway frames its own answer)."""
    dropped = HOP_BY_HOP | _connection_tokens(upstream.headers)
    return CIMultiDict(
        (name, value) for name, value in upstream.headers.items() if name.lower() not in dropped
    )


class UpstreamRoute:
    """The handler for one prefix: forward to `upstream`, stream both ways, map failures."""

    def __init__(self, *, prefix: str, upstream: str, max_body_bytes: int) -> None:
        self.prefix = prefix
        self.upstream = URL(upstream)
        self.max_body_bytes = max_body_bytes

    def target(self, request: web.Request) -> URL:
        """The upstream URL for `request`: upstream path + the request's raw path and query."""
        base = self.upstream.raw_path.rstrip("/")
        return self.upstream.with_path(base + request.raw_path, encoded=True)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Forward `request` and relay the answer; raises the gateway errors listed above."""
        if request.content_length is not None and request.content_length > self.max_body_bytes:
            raise self._too_large()
        session = request.config_dict[PROXY_SESSION]
        too_large: list[bool] = []
        body = self._body(request, too_large) if request.body_exists else None
        try:
            upstream = await session.request(
                request.method,
                self.target(request),
                headers=upstream_request_headers(request),
                data=body,
                allow_redirects=False,
            )
        except aiohttp.ServerTimeoutError as error:
            raise GatewayTimeout("The service behind this page did not answer in time.") from error
        except (aiohttp.ClientError, OSError) as error:
            if too_large:
                raise self._too_large() from error
            logger.warning("upstream %s for %s failed: %r", self.upstream, request.path, error)
            raise BadGateway("The service behind this page is not reachable right now.") from error
        async with upstream:
            return await self._relay(request, upstream)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"The request body is larger than the limit of {self.max_body_bytes} bytes."
        )

    async def _body(self, request: web.Request, too_large: list[bool]) -> AsyncIterator[bytes]:
        # A chunked body has no announced length: count it as it streams, and stop the
        # upload (the client session then fails the request) once it passes the limit.
        received = 0
        async for chunk in request.content.iter_chunked(CHUNK_BYTES):
            received += len(chunk)
            if received > self.max_body_bytes:
                too_large.append(True)
                raise self._too_large()
            yield chunk

    async def _relay(
        self, request: web.Request, upstream: aiohttp.ClientResponse
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=upstream.status,
            reason=upstream.reason,
            headers=client_response_headers(upstream),
        )
        # Sent from here, so before the error middleware sees it: its fixed headers now.
        request.app[keys.RESPONSE_HEADERS].apply_transport(request, response, request[REQUEST_ID])
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            # The status line is gone already: closing the connection is the only way to tell
            # the client the body is incomplete (a final empty chunk would say it is whole).
            logger.warning("upstream %s broke off %s: %r", self.upstream, request.path, error)
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response


def setup_proxy_routes(app: web.Application, settings: Settings) -> None:
    """Add a route pair per GATEWAY_UPSTREAMS prefix, and the client session they share.

    Call before the app starts; does nothing when no upstream is configured.
    """
    if not settings.upstreams:
        return
    for prefix, upstream in settings.upstreams:
        route = UpstreamRoute(
            prefix=prefix, upstream=upstream, max_body_bytes=settings.max_body_bytes
        )
        app.router.add_route("*", prefix, route.handle)
        app.router.add_route("*", prefix + "/{tail:.*}", route.handle)
    app.cleanup_ctx.append(_session_context(settings))


def _session_context(
    settings: Settings,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def session_context(app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=settings.upstream_connect_timeout,
            sock_connect=settings.upstream_connect_timeout,
            sock_read=settings.upstream_read_timeout,
        )
        # Bodies pass through as sent: no decompression, no cookie jar shared between clients.
        # No connection cap of the session's own: a queue there would turn load into 504s;
        # the listeners' connection limits bound what reaches upstreams.
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=timeout,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        ) as session:
            app[PROXY_SESSION] = session
            yield

    return session_context

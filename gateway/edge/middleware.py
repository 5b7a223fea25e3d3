"""Request middleware: canonical host and tenant resolution, HTTPS rules, database outages."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from gateway.edge import keys
from gateway.edge.app_host import PREFIX as DASHBOARD_PREFIX
from gateway.edge.app_host import is_dashboard_path
from gateway.edge.errors import BadRequest, MisdirectedRequest, NotFound
from gateway.edge.hosts import canonicalise_host
from gateway.edge.response_headers import tls_object
from gateway.ops.health import DATABASE_OUTAGE_ERRORS, DatabaseUnavailable
from gateway.tenants.index import HostIndex
from gateway.tls.server_name import server_name_of
from kernel.text import request_target_problem

# Answered on any host (load balancers probe by address), before host checks.
HOST_INDEPENDENT_PATHS = frozenset({"/healthz", "/readyz"})
# RFC 8555 section 8.3: the CA validates a name before it is active here, so any host.
ACME_CHALLENGE_PREFIX = "/.well-known/acme-challenge/"


def is_api_path(path: str) -> bool:
    """Whether `path` belongs to the tenant API (served on the API host only)."""
    return path == "/api" or path.startswith("/api/")


@web.middleware
async def edge_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Host and tenant, and the database outage, as one layer.

    The host is checked and the tenant stored by `route_by_host`. A database
    outage met by a handler becomes DatabaseUnavailable (a branded 503 when the
    host index, in memory, knew the tenant). Goes inside the error middleware,
    which turns what it raises into pages and adds the fixed response headers
    (`gateway.edge.response_headers`).
    """
    route_by_host(request)
    try:
        return await handler(request)
    except DATABASE_OUTAGE_ERRORS as error:
        raise DatabaseUnavailable() from error


def route_by_host(request: web.Request) -> None:
    """Canonicalise the Host, pick the kind of host, and store the tenant for tenant hosts.

    Raises BadRequest for absolute-form targets, a missing or malformed Host or a
    port other than the listener's, 421 on HTTPS when the Host is not the SNI, and
    NotFound (naming no tenant) for unknown hosts and paths the host does not serve.
    ACME HTTP-01 challenges pass on any host. With settings.redirect_http, plain
    HTTP for known hosts gets a 308 to HTTPS. Sets `keys.CANONICAL_HOST` and, for a
    tenant host, `keys.TENANT`; reads `request.app`'s state.
    """
    path = request.path
    if path in HOST_INDEPENDENT_PATHS:
        return
    raw_host = _single_host(request)
    app = request.app
    settings = app[keys.SETTINGS]
    ssl_object = tls_object(request)
    secure = ssl_object is not None
    # The Host's port must be the one of the listener the request came in on.
    listener_port = settings.https_port if secure else settings.http_port
    host = canonicalise_host(raw_host, listener_port=listener_port)
    request[keys.CANONICAL_HOST] = host
    if secure and server_name_of(ssl_object) != host:
        # RFC 9110 section 15.5.20: the connection's certificate was chosen for another name;
        # serving this Host on it would let one tenant's connection reach another's pages.
        raise MisdirectedRequest("this connection was opened for another host name")
    if path.startswith(ACME_CHALLENGE_PREFIX):
        return
    api_host = settings.api_host
    app_host = settings.app_host
    known = host in (api_host, app_host)
    tenant = None if known else app[keys.HOST_INDEX].lookup(host)
    if (known or tenant is not None) and not secure and settings.redirect_http:
        raise web.HTTPPermanentRedirect(settings.secure_url(host) + request.raw_path)
    if host == api_host:
        if not is_api_path(path):
            raise NotFound("the API lives under /api/")
        return
    if is_api_path(path):
        raise NotFound("there is no API at this address")
    if host == app_host:
        if path == "/":
            raise web.HTTPSeeOther(location=DASHBOARD_PREFIX)
        if not is_dashboard_path(path):
            raise NotFound(f"the settings page lives under {DASHBOARD_PREFIX}")
        return
    if tenant is None:
        raise NotFound("there is no site at this address")
    request[keys.TENANT] = tenant


def _single_host(request: web.Request) -> str:
    """The request's one Host header, once its target is known to be a plain path.

    Raises BadRequest for other request-target forms, a malformed path, and a
    missing or repeated Host header.
    """
    # RFC 9112 3.2.2 lets a server accept absolute-form targets, but then aiohttp's
    # request.host is the target's authority, not the Host header: one request,
    # two hosts. Only proxies need that form, and we are not a proxy. raw_path is the
    # request target as sent, so this also refuses the asterisk form (OPTIONS *).
    if not request.raw_path.startswith("/"):
        raise BadRequest("the request target must be a path, not a full URL")
    problem = request_target_problem(request.raw_path)
    if problem is not None:
        raise BadRequest(problem)
    raw_hosts = request.headers.getall(hdrs.HOST, ())
    if not raw_hosts:
        raise BadRequest("the request has no Host header")
    if len(raw_hosts) > 1:
        raise BadRequest("the request has more than one Host header")
    return raw_hosts[0]


async def host_index_context(app: web.Application) -> AsyncIterator[None]:
    """Load the host index from the pool, follow changes, and stop following on shutdown.

    Goes in `app.cleanup_ctx` after the context that opens `keys.POOL`.
    """
    pool = app[keys.POOL]
    index = HostIndex(base_domain=app[keys.SETTINGS].base_domain)
    await index.start(pool)
    app[keys.HOST_INDEX] = index
    try:
        yield
    finally:
        await index.close()

"""Typed keys for application and request state (no string keys anywhere)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway.ops.requests_in_flight import RequestsInFlight
from gateway.settings import Settings
from gateway.tenants.models import Tenant
from kernel.sealing import Sealer

if TYPE_CHECKING:
    import asyncpg

    from certs.issuer import Issuer
    from gateway.edge.response_headers import ResponseHeaders
    from gateway.tenants.index import HostIndex

SETTINGS = web.AppKey("settings", Settings)
POOL: web.AppKey[asyncpg.Pool[Any]] = web.AppKey("pool")
SEALER = web.AppKey("sealer", Sealer)
# Where the pool connects: background jobs open small pools of their own to it.
DATABASE_URL = web.AppKey("database_url", str)
# The renewal job's own pool (GATEWAY_DB_JOB_POOL_MAX): its steps never wait for, nor make
# pages wait for, a connection of the requests' pool.
RENEWAL_POOL: web.AppKey[asyncpg.Pool[Any]] = web.AppKey("renewal_pool")
HOST_INDEX: web.AppKey[HostIndex] = web.AppKey("host_index")
# The certificate issuer chosen by settings (internal CA or ACME).
ISSUER: web.AppKey[Issuer] = web.AppKey("issuer")

# Requests being served now (kept by the error middleware; background jobs give way).
IN_FLIGHT = web.AppKey("requests_in_flight", RequestsInFlight)

# The fixed headers of every response, built once by create_app.
RESPONSE_HEADERS: web.AppKey[ResponseHeaders] = web.AppKey("response_headers")

# Made by create_app, set at SIGTERM: /readyz answers 503 from then on, before the
# listeners close.
DRAINING = web.AppKey("draining", asyncio.Event)

# Set by the host middleware on every request for a tenant host.
TENANT = web.RequestKey("tenant", Tenant)
# The canonical host of the request (lower case, no port, A-labels).
CANONICAL_HOST = web.RequestKey("canonical_host", str)
# Set by the API authentication middleware: the tenant the bearer key belongs to.
API_TENANT = web.RequestKey("api_tenant", Tenant)
# Set by the settings page for a signed-in request: the tenant of its session.
SETTINGS_TENANT = web.RequestKey("settings_tenant", Tenant)


def request_tenant(request: web.BaseRequest) -> Tenant | None:
    """The tenant a request is for: its host's, its API key's or its settings-page session's."""
    return request.get(TENANT) or request.get(API_TENANT) or request.get(SETTINGS_TENANT)

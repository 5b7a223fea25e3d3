"""Liveness, readiness, and the database outage seen as a 503 instead of a 500.

/healthz answers while the process and its event loop live; /readyz answers
200 only when PostgreSQL responds within a short deadline, the host index
is loaded and the process is not stopping (it turns 503 at SIGTERM, before
the listeners close, so a load balancer sends new connections elsewhere).
Both are served on the public listeners (any host, for load balancers) and
on the ops site.
"""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from gateway.database.pool import DatabaseUnreachable
from gateway.edge import keys
from gateway.edge.errors import ServiceUnavailable

READY_TIMEOUT_SECONDS = 2.0

# What a request meets when PostgreSQL is down, restarting or out of connections:
# the pool failing to connect (refused or timed out: DatabaseUnreachable), a connection
# lost mid-query (class 08, or asyncpg's InterfaceError on a closed connection), an
# administrator or crash shutdown (class 57), and too many connections (class 53).
# These say "try again shortly", not "bug". Any other OSError is a bug: a 500.
# asyncpg 0.30-0.32 raise InternalClientError ("cannot switch to state ...") when the
# server's shutdown message lands while the pool resets a released connection; the pool
# has already discarded that connection, so a retry gets a fresh one.
DATABASE_OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    DatabaseUnreachable,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.InternalClientError,
)

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop turns; nothing else is checked."""
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready when PostgreSQL answers in time, the host index is loaded and no stop has begun."""
    checks: dict[str, str] = {}
    draining = request.config_dict.get(keys.DRAINING)
    checks["accepting"] = "draining" if draining is not None and draining.is_set() else "ok"
    try:
        await asyncio.wait_for(
            request.config_dict[keys.POOL].fetchval("SELECT 1"), READY_TIMEOUT_SECONDS
        )
        checks["database"] = "ok"
    except Exception as error:  # any failure means not ready; the reason is reported
        checks["database"] = f"unreachable: {type(error).__name__}"
    index = request.config_dict.get(keys.HOST_INDEX)
    checks["host_index"] = "ok" if index is not None and index.loaded else "not loaded"
    ready = all(value == "ok" for value in checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


class DatabaseUnavailable(ServiceUnavailable):
    """PostgreSQL could not be reached or dropped the connection; the request changed nothing."""

    def __init__(self) -> None:
        super().__init__("The service is briefly unavailable. Please try again in a few seconds.")


def is_database_outage(error: BaseException) -> bool:
    """Whether `error` is PostgreSQL being unreachable rather than a bug."""
    return isinstance(error, DATABASE_OUTAGE_ERRORS)

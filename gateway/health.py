"""Liveness and readiness: /healthz (the process answers) and /readyz (it can serve)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway import keys

READY_TIMEOUT_SECONDS = 2.0

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop turns; nothing else is checked."""
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready when PostgreSQL answers within a short deadline and the host index is loaded."""
    checks: dict[str, str] = {}
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

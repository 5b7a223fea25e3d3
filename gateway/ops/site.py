"""The ops site: /metrics, /healthz and /readyz on their own port (GATEWAY_OPS_PORT).

Kept off the public listeners so metrics (tenants' domains, request counts) are
never served to the internet; it binds GATEWAY_OPS_HOST, loopback unless ops
open it to their scraper's network. It reads the running gateway app's
pool, host index and metrics, so it starts after that app and stops before it.
"""

from __future__ import annotations

import logging

from aiohttp import web

from gateway.edge import keys
from gateway.network.http_guard import name_the_server
from gateway.ops.health import routes as health_routes
from gateway.ops.metrics import (
    METRICS,
    CertificateCounters,
    GuardCounters,
    HandshakeCounters,
    metrics_handler,
)

logger = logging.getLogger(__name__)

# A scrape or health check still running when the process stops gets this long.
OPS_SHUTDOWN_SECONDS = 0.5


def create_ops_app(app: web.Application) -> web.Application:
    """The ops application for the started gateway `app` (it must already hold its pool)."""
    ops = web.Application()
    ops.on_response_prepare.append(name_the_server)
    ops[keys.SETTINGS] = app[keys.SETTINGS]
    ops[keys.POOL] = app[keys.POOL]
    if keys.HOST_INDEX in app:
        ops[keys.HOST_INDEX] = app[keys.HOST_INDEX]
    if keys.DRAINING in app:
        ops[keys.DRAINING] = app[keys.DRAINING]
    if METRICS in app:
        ops[METRICS] = app[METRICS]
        ops.router.add_get("/metrics", metrics_handler)
    ops.router.add_routes(health_routes)
    return ops


class OpsSite:
    """The ops listener of one process: `await start()`, then `await close()`."""

    def __init__(self, app: web.Application, *, host: str, port: int) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The base URL the ops site answers on (its port is known once started)."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("the ops site is not started")
        host, port = self._runner.addresses[0][:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    async def start(self) -> None:
        """Bind and serve. Raises OSError when the port is taken."""
        runner = web.AppRunner(
            create_ops_app(self._app), access_log=None, shutdown_timeout=OPS_SHUTDOWN_SECONDS
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        logger.info("ops site (metrics, health) on %s", self.url)

    async def close(self) -> None:
        """Stop serving; scrapes in flight get a moment to finish."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


async def start_ops_site(
    app: web.Application,
    *,
    listener: HandshakeCounters | None = None,
    resolver: CertificateCounters | None = None,
    guard: GuardCounters | None = None,
    port_offset: int = 0,
) -> OpsSite:
    """Serve the ops site for the started gateway `app`; the caller closes it.

    `listener`, `resolver` and `guard` are the process's HTTPS listener,
    certificate resolver and HTTP server (`GuardedServer`), whose counters
    /metrics then shows. With several worker
    processes, worker `n` passes `port_offset=n` and serves GATEWAY_OPS_PORT + n,
    so each worker is scraped on its own port.
    """
    settings = app[keys.SETTINGS]
    metrics = app.get(METRICS)
    if metrics is not None:
        if listener is not None:
            metrics.watch_listener(listener)
        if resolver is not None:
            metrics.watch_resolver(resolver)
        if guard is not None:
            metrics.watch_guard(guard)
    site = OpsSite(app, host=settings.ops_host, port=settings.ops_port + port_offset)
    await site.start()
    return site

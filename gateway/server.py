"""Run the gateway's application on its HTTP and HTTPS listeners until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable

from aiohttp import web

from gateway import keys
from gateway.app import create_app
from gateway.http_guard import ConnectionLimits, GuardedRunner
from gateway.middleware import serve_https
from gateway.ops import OpsSite, start_ops_site
from gateway.proxy_protocol import ProxyPolicy, ProxyProtocolListener
from gateway.settings import Settings
from gateway.tls.certificates import CertificateResolver
from gateway.tls.contexts import ContextCache
from gateway.tls.listener import HttpsListener

logger = logging.getLogger(__name__)

WORKER_HEADER = "Gateway-Worker"


def build_runner(app: web.Application, settings: Settings) -> GuardedRunner:
    """The runner serving `app` with the settings' deadlines, limits and keep-alive."""
    limits = ConnectionLimits(
        head_timeout=settings.head_timeout,
        body_timeout=settings.body_timeout,
        max_connections=settings.max_connections,
    )
    return GuardedRunner(
        app,
        limits=limits,
        keepalive_timeout=settings.keepalive_timeout,
        shutdown_timeout=settings.shutdown_timeout,
        max_headers=settings.max_headers,
        max_line_size=settings.max_header_bytes,
        max_field_size=settings.max_header_bytes,
    )


async def serve(
    settings: Settings,
    *,
    ready: Callable[[list[str]], None] | None = None,
    stop: asyncio.Event | None = None,
    app: web.Application | None = None,
    reuse_port: bool = False,
    worker_index: int = 0,
) -> None:
    """Serve the gateway on settings.http_host, ports http_port and https_port, until told to stop.

    Start-up opens the database (embedded or DATABASE_URL) before any port is
    bound, so a listening gateway is a working one. `ready` is called once with
    the base URLs the listeners answer on, HTTP first, then HTTPS. On plain
    HTTP, known hosts are redirected to HTTPS (ACME challenges excepted).

    Connections get the deadlines and limits of `gateway.http_guard`; with
    GATEWAY_PROXY_PROTOCOL on, both listeners read the PROXY header of trusted
    load balancers first. `reuse_port` binds with SO_REUSEPORT, for worker
    processes sharing the ports.

    Graceful stop on SIGINT or SIGTERM (or when `stop` is set): /readyz turns
    503 at once; after GATEWAY_DRAIN_DELAY seconds (for a load balancer's
    health check to notice) both listeners close (new connections are
    refused) and idle keep-alive connections close; requests whose head has
    arrived keep receiving their bodies and get their responses until
    GATEWAY_SHUTDOWN_TIMEOUT seconds after the stop began, when whatever still
    runs is cut (proxied upstream requests included); then the pool and the
    embedded database close and this returns.
    `app` replaces `create_app(settings)`; it must not have started. The ops site
    (/metrics, /healthz, /readyz) listens on GATEWAY_OPS_PORT + `worker_index`.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for number in signals:
        loop.add_signal_handler(number, stop.set)
    app = create_app(settings) if app is None else app
    draining = asyncio.Event()
    app[keys.DRAINING] = draining
    serve_https(app)
    if settings.worker_header:
        app.on_response_prepare.append(_add_worker_header)
    runner = build_runner(app, settings)
    policy = ProxyPolicy(
        mode=settings.proxy_protocol,
        trusted=settings.trusted_proxies,
        timeout=settings.head_timeout,
    )
    site: web.TCPSite | None = None
    http: ProxyProtocolListener | None = None
    https: HttpsListener | None = None
    resolver: CertificateResolver | None = None
    ops: OpsSite | None = None
    try:
        await runner.setup()
        server = runner.guarded_server
        if policy.enabled:
            http = ProxyProtocolListener(
                host=settings.http_host,
                port=settings.http_port,
                policy=policy,
                protocol_for=server.protocol_for,
                max_pending=settings.tls_max_pending_handshakes,
                reuse_port=reuse_port,
            )
            await http.start()
            http_address: object = http.address
        else:
            site = web.TCPSite(
                runner, settings.http_host, settings.http_port, reuse_port=reuse_port or None
            )
            await site.start()
            http_address = runner.addresses[0]
        resolver = CertificateResolver(
            app[keys.POOL],
            app[keys.SEALER],
            ContextCache(settings.tls_context_cache_size),
            app[keys.HOST_INDEX],
            settings,
            lambda: app.get(keys.ISSUER),
        )
        await resolver.listen()
        https = HttpsListener(
            host=settings.http_host,
            port=settings.https_port,
            choose_context=resolver.context_for,
            protocol_factory=server,
            handshake_timeout=settings.tls_handshake_timeout,
            max_pending=settings.tls_max_pending_handshakes,
            reuse_port=reuse_port,
            admit=policy.admit if policy.enabled else None,
            protocol_for=server.protocol_for,
        )
        await https.start()
        ops = await start_ops_site(
            app, listener=https, resolver=resolver, guard=server, port_offset=worker_index
        )
        urls = [_url("http", http_address), _url("https", https.address)]
        logger.info("listening on %s", ", ".join(urls))
        if ready is not None:
            ready(urls)
        await stop.wait()
    finally:
        deadline = loop.time() + settings.shutdown_timeout
        # /readyz fails first, while the listeners still accept: a load balancer checking it
        # moves new connections to other replicas before this one refuses them.
        draining.set()
        delay = min(settings.drain_delay, settings.shutdown_timeout)
        if delay > 0 and ops is not None:
            logger.info("stopping: /readyz is 503; listeners close in %.1f s", delay)
            await asyncio.sleep(delay)
        logger.info("stopping: no new connections; finishing requests in flight")
        # Every listener closes first, so no connection arrives while the others drain.
        closing = [listener.close() for listener in (https, http) if listener is not None]
        if site is not None:
            closing.append(site.stop())
        await asyncio.gather(*closing, return_exceptions=True)
        # The resolver's LISTEN connection goes back to the pool before the pool closes.
        if resolver is not None:
            await resolver.close()
        runner.shorten_shutdown(max(0.0, deadline - loop.time()))
        await runner.cleanup()
        # The ops site goes last: /readyz says "draining" (not "refused") until the end.
        if ops is not None:
            await ops.close()
        for number in signals:
            loop.remove_signal_handler(number)
    logger.info("stopped")


async def _add_worker_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[WORKER_HEADER] = str(os.getpid())


def _url(scheme: str, address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = str(address[0]), int(address[1])
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{port}"
    return str(address)

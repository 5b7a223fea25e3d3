"""Run the gateway's application on its HTTP and HTTPS listeners until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from aiohttp import web

from gateway.app import create_app
from gateway.edge import keys
from gateway.network.http_guard import ConnectionLimits, GuardedRunner
from gateway.network.proxy_protocol import ProxyPolicy, ProxyProtocolListener
from gateway.ops.site import OpsSite, start_ops_site
from gateway.settings import Settings
from gateway.tls.certificates import CertificateResolver
from gateway.tls.contexts import ContextCache
from gateway.tls.listener import HttpsListener

logger = logging.getLogger(__name__)


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
    HTTP, known hosts are redirected to HTTPS (ACME challenges excepted) unless
    GATEWAY_REDIRECT_HTTP is off.

    Connections get the deadlines and limits of `gateway.network.http_guard`; with
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
    `app` replaces `create_app(settings)` (tests pass one built by it with options);
    it must not have started. The ops site (/metrics, /healthz, /readyz) listens on
    GATEWAY_OPS_PORT + `worker_index`.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for number in signals:
        loop.add_signal_handler(number, stop.set)
    app = create_app(settings) if app is None else app
    serving = Serving(app, settings, build_runner(app, settings))
    try:
        urls = await serving.start(reuse_port=reuse_port, worker_index=worker_index)
        logger.info("listening on %s", ", ".join(urls))
        if ready is not None:
            ready(urls)
        await stop.wait()
    finally:
        await serving.stop(deadline=loop.time() + settings.shutdown_timeout)
        for number in signals:
            loop.remove_signal_handler(number)
    logger.info("stopped")


class Serving:
    """The listeners of one process around `app`'s runner: `await start()`, then `await stop()`.

    `stop` closes whatever `start` opened, also after a failed start.
    """

    def __init__(self, app: web.Application, settings: Settings, runner: GuardedRunner) -> None:
        self.app = app
        self.settings = settings
        self.runner = runner
        self.site: web.TCPSite | None = None
        self.http: ProxyProtocolListener | None = None
        self.https: HttpsListener | None = None
        self.resolver: CertificateResolver | None = None
        self.ops: OpsSite | None = None

    async def start(self, *, reuse_port: bool, worker_index: int) -> list[str]:
        """Start the app, then the HTTP, HTTPS and ops listeners; the HTTP and HTTPS base URLs."""
        await self.runner.setup()
        settings = self.settings
        policy = ProxyPolicy(
            mode=settings.proxy_protocol,
            trusted=settings.trusted_proxies,
            timeout=settings.head_timeout,
        )
        http_address = await self._start_http(policy, reuse_port=reuse_port)
        self.resolver = CertificateResolver(
            self.app[keys.POOL],
            self.app[keys.SEALER],
            ContextCache(settings.tls_context_cache_size),
            self.app[keys.HOST_INDEX],
            settings,
            lambda: self.app.get(keys.ISSUER),
        )
        await self.resolver.listen()
        server = self.runner.guarded_server
        self.https = HttpsListener(
            host=settings.http_host,
            port=settings.https_port,
            choose_context=self.resolver.context_for,
            protocol_factory=server,
            handshake_timeout=settings.tls_handshake_timeout,
            max_pending=settings.tls_max_pending_handshakes,
            reuse_port=reuse_port,
            admit=policy.admit if policy.enabled else None,
            protocol_for=server.protocol_for,
        )
        await self.https.start()
        self.ops = await start_ops_site(
            self.app,
            listener=self.https,
            resolver=self.resolver,
            guard=server,
            port_offset=worker_index,
        )
        return [_url("http", http_address), _url("https", self.https.address)]

    async def _start_http(self, policy: ProxyPolicy, *, reuse_port: bool) -> object:
        """Start the plain HTTP listener (reading PROXY headers when `policy` asks); its address."""
        settings = self.settings
        if policy.enabled:
            self.http = ProxyProtocolListener(
                host=settings.http_host,
                port=settings.http_port,
                policy=policy,
                protocol_for=self.runner.guarded_server.protocol_for,
                max_pending=settings.tls_max_pending_handshakes,
                reuse_port=reuse_port,
            )
            await self.http.start()
            return self.http.address
        self.site = web.TCPSite(
            self.runner, settings.http_host, settings.http_port, reuse_port=reuse_port or None
        )
        await self.site.start()
        return self.runner.addresses[0]

    async def stop(self, *, deadline: float) -> None:
        """Drain, close the listeners, finish requests in flight until `deadline` (loop time),
        then close the app (pool, embedded database) and the ops site."""
        loop = asyncio.get_running_loop()
        settings = self.settings
        # /readyz fails first, while the listeners still accept: a load balancer checking it
        # moves new connections to other replicas before this one refuses them.
        self.app[keys.DRAINING].set()
        delay = min(settings.drain_delay, settings.shutdown_timeout)
        if delay > 0 and self.ops is not None:
            logger.info("stopping: /readyz is 503; listeners close in %.1f s", delay)
            await asyncio.sleep(delay)
        logger.info("stopping: no new connections; finishing requests in flight")
        # Every listener closes first, so no connection arrives while the others drain.
        closing = [each.close() for each in (self.https, self.http) if each is not None]
        if self.site is not None:
            closing.append(self.site.stop())
        await asyncio.gather(*closing, return_exceptions=True)
        # The resolver's LISTEN connection goes back to the pool before the pool closes.
        if self.resolver is not None:
            await self.resolver.close()
        self.runner.shorten_shutdown(max(0.0, deadline - loop.time()))
        await self.runner.cleanup()
        # The ops site goes last: /readyz says "draining" (not "refused") until the end.
        if self.ops is not None:
            await self.ops.close()


def _url(scheme: str, address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = str(address[0]), int(address[1])
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{port}"
    return str(address)

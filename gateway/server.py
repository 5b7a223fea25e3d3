"""Run the gateway's application on its HTTP and HTTPS listeners until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from aiohttp import web

from gateway import keys
from gateway.app import create_app
from gateway.middleware import serve_https
from gateway.settings import Settings
from gateway.tls.certificates import CertificateResolver
from gateway.tls.contexts import ContextCache
from gateway.tls.listener import HttpsListener

logger = logging.getLogger(__name__)

# Same idle keep-alive as aiohttp's run_app; a bare AppRunner would keep idle sockets ~1 hour.
KEEPALIVE_TIMEOUT = 75.0
# Requests in flight get this long to finish after a stop signal.
SHUTDOWN_TIMEOUT = 10.0


async def serve(
    settings: Settings,
    *,
    ready: Callable[[list[str]], None] | None = None,
    stop: asyncio.Event | None = None,
    app: web.Application | None = None,
) -> None:
    """Serve the gateway on settings.http_host, ports http_port and https_port, until told to stop.

    Start-up opens the database (embedded or DATABASE_URL) before any port is
    bound, so a listening gateway is a working one. `ready` is called once with
    the base URLs the listeners answer on, HTTP first, then HTTPS. On plain
    HTTP, known hosts are redirected to HTTPS (ACME challenges excepted). The
    server stops on SIGINT or SIGTERM (or when `stop` is set): the HTTPS
    listener stops accepting first, then both stop taking requests, requests
    in flight get up to SHUTDOWN_TIMEOUT seconds, then the pool and the
    embedded database close. `app` replaces `create_app(settings)`; it must
    not have started.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for number in signals:
        loop.add_signal_handler(number, stop.set)
    app = create_app(settings) if app is None else app
    serve_https(app)
    runner = web.AppRunner(
        app, keepalive_timeout=KEEPALIVE_TIMEOUT, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    https: HttpsListener | None = None
    resolver: CertificateResolver | None = None
    try:
        await runner.setup()
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
        resolver = CertificateResolver(
            app[keys.POOL],
            app[keys.SEALER],
            ContextCache(settings.tls_context_cache_size),
            app[keys.HOST_INDEX],
            settings,
            lambda: app.get(keys.ISSUER),
        )
        await resolver.listen()
        server = runner.server
        assert server is not None  # set by runner.setup()
        https = HttpsListener(
            host=settings.http_host,
            port=settings.https_port,
            choose_context=resolver.context_for,
            protocol_factory=server,
            handshake_timeout=settings.tls_handshake_timeout,
            max_pending=settings.tls_max_pending_handshakes,
        )
        await https.start()
        urls = [_url("http", address) for address in runner.addresses]
        urls.append(_url("https", https.address))
        logger.info("listening on %s", ", ".join(urls))
        if ready is not None:
            ready(urls)
        await stop.wait()
        logger.info("stopping: finishing requests in flight")
    finally:
        if https is not None:
            await https.close()
        if resolver is not None:
            await resolver.close()
        await runner.cleanup()
        for number in signals:
            loop.remove_signal_handler(number)
    logger.info("stopped")


def _url(scheme: str, address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = str(address[0]), int(address[1])
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{port}"
    return str(address)

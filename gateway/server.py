"""Run the gateway's application on its HTTP listener until SIGINT or SIGTERM, then drain it."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from aiohttp import web

from gateway.app import create_app
from gateway.settings import Settings

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
) -> None:
    """Serve `create_app(settings)` on settings.http_host:http_port until told to stop.

    Start-up opens the database (embedded or DATABASE_URL) before the port is
    bound, so a listening gateway is a working one. `ready` is called once with
    the base URLs the listener answers on. The server stops on SIGINT or SIGTERM
    (or when `stop` is set): it stops accepting, lets requests in flight finish
    for up to SHUTDOWN_TIMEOUT seconds, then closes the pool and the embedded
    database it started.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for number in signals:
        loop.add_signal_handler(number, stop.set)
    runner = web.AppRunner(
        create_app(settings),
        keepalive_timeout=KEEPALIVE_TIMEOUT,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    try:
        await runner.setup()
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
        urls = [_url(address) for address in runner.addresses]
        logger.info("listening on %s", ", ".join(urls))
        if ready is not None:
            ready(urls)
        await stop.wait()
        logger.info("stopping: finishing requests in flight")
    finally:
        await runner.cleanup()
        for number in signals:
            loop.remove_signal_handler(number)
    logger.info("stopped")


def _url(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = str(address[0]), int(address[1])
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"
    return str(address)

"""The baseline: plain aiohttp on uvloop returning a fixed body, over HTTP or HTTPS (one context).

Run as `python -m bench.baseline --port P [--cert-file F --key-file K] [--body-file B]`.
HTTPS uses one `SSLContext` built by the gateway's own TLS policy (same
versions, ciphers, ALPN, no tickets) with one certificate, so a ratio against
the gateway measures its per-name choice, not a different TLS configuration.
Prints `ready` on standard output once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
from pathlib import Path

import uvloop
from aiohttp import web

from certs.keys import encrypt_private_key_pem, new_key_password
from gateway.tls.policy import server_context


def build_app(body: bytes, content_type: str) -> web.Application:
    async def fixed(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type)

    app = web.Application()
    app.router.add_get("/{tail:.*}", fixed)
    return app


def build_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    password = new_key_password()
    return server_context(
        Path(cert_file).read_text("ascii"),
        encrypt_private_key_pem(Path(key_file).read_bytes(), password),
        password,
    )


async def serve(arguments: argparse.Namespace, body: bytes, context: ssl.SSLContext | None) -> None:
    app = build_app(body, arguments.content_type)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", arguments.port, ssl_context=context, backlog=1024)
    await site.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert-file")
    parser.add_argument("--key-file")
    parser.add_argument("--body-file")
    parser.add_argument("--content-type", default="text/plain")
    arguments = parser.parse_args()
    body = Path(arguments.body_file).read_bytes() if arguments.body_file else b"ok\n"
    context = (
        build_context(arguments.cert_file, arguments.key_file) if arguments.cert_file else None
    )
    uvloop.run(serve(arguments, body, context))


if __name__ == "__main__":
    main()

"""`gateway serve`: run the gateway, in this process or in worker processes sharing the ports."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any

from gateway.cli.command import CommandError, subcommand
from gateway.cli.demo import prepare_demo
from gateway.settings import Settings


def add_serve_command(commands: Any) -> None:
    """Add `serve` to the top-level subparsers `commands`."""
    serve = subcommand(
        commands,
        "serve",
        serve_command,
        "Serve the portal and the tenant API on GATEWAY_HTTP_HOST:GATEWAY_HTTP_PORT "
        "until SIGINT or SIGTERM.",
        """
        gateway serve
        gateway serve --demo
        gateway serve --workers 4
        GATEWAY_HTTP_PORT=9000 gateway serve
        GATEWAY_ACCESS_LOG_SAMPLE=0.01 gateway serve   # 1 in 100 fast 2xx access lines
        """,
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="seed the demo tenants once (if absent) and print the URLs to open and an API key",
    )
    serve.add_argument(
        "--workers",
        type=worker_count_argument,
        default=None,
        metavar="N",
        help="worker processes sharing the ports (default GATEWAY_WORKERS; 0: one per CPU; "
        "1: this process only)",
    )
    # Internal: how the supervising process starts worker number I.
    serve.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)


def worker_count_argument(text: str) -> int:
    """The value of --workers: a number of processes from 0 to 1024."""
    if not text.isdigit() or int(text) > 1024:
        raise argparse.ArgumentTypeError("expected a number of processes from 0 to 1024")
    return int(text)


async def serve_command(arguments: argparse.Namespace, settings: Settings) -> int:
    """Serve until stopped; with --demo, seed the demo first and print its URLs when ready."""
    # Imported here: the other commands need neither the app nor the worker supervisor.
    from gateway.jobs import workers
    from gateway.server import serve

    if arguments.worker is not None:
        await _serve_as_worker(settings, arguments.worker)
        return 0
    count = workers.worker_count(
        settings.workers if arguments.workers is None else arguments.workers
    )
    async with contextlib.AsyncExitStack() as stack:
        lines: list[str] = []
        overrides: dict[str, str] = {}
        if arguments.demo:
            demo = await prepare_demo(settings, stack)
            settings, lines, overrides = demo.settings, demo.lines, demo.overrides
        ready = _announcer(lines)
        if count == 1:
            await serve(settings, ready=ready)
            return 0
        config = [] if arguments.config is None else ["--config", str(arguments.config)]
        try:
            await workers.run_workers(
                settings, count=count, global_arguments=config, ready=ready, overrides=overrides
            )
        except workers.WorkerFailedToStart as error:
            raise CommandError(str(error)) from None
    return 0


async def _serve_as_worker(settings: Settings, index: int) -> None:
    """Serve as worker `index` of `gateway serve --workers N` until the parent goes away.

    The parent already seeded and printed."""
    from gateway.jobs import workers
    from gateway.server import serve

    stop = asyncio.Event()
    watcher = asyncio.create_task(workers.watch_parent(stop, os.getppid()))
    try:
        await serve(
            settings,
            ready=workers.announce_ready,
            stop=stop,
            reuse_port=True,
            worker_index=index,
        )
    finally:
        watcher.cancel()


def _announcer(lines: list[str]) -> Callable[[list[str]], None]:
    """The `ready` callback: prints the listening URLs, then `lines`."""

    def ready(urls: list[str]) -> None:
        print(f"gateway listening on {', '.join(urls)}")
        for line in lines:
            print(line)
        sys.stdout.flush()

    return ready

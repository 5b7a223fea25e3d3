"""Worker processes: N copies of the server sharing the listening ports, supervised by the parent.

Each worker is a fresh `python -m gateway serve --worker I` process on its
own uvloop event loop that binds the HTTP and HTTPS ports itself with
SO_REUSEPORT, so the kernel spreads new connections over the workers' accept
queues (no shared socket, no thundering herd, and a worker that dies takes
only its own queue with it). The parent binds nothing: it locates the
database once (starting the embedded server if there is no DATABASE_URL) and
passes its URL and the key-encryption key to the workers, waits until every
worker reports ready, then supervises:

- a worker that exits on its own is restarted after a backoff (0.5 s doubling
  to 30 s; back to 0.5 s once a worker has run for a minute);
- SIGTERM or SIGINT is forwarded to every worker as SIGTERM; each finishes its
  requests in flight (GATEWAY_SHUTDOWN_TIMEOUT) and exits; the parent exits 0
  when all have, killing any still running well past that deadline;
- a worker that fails before it is ready (a port in use, a bad database)
  stops the others and the parent exits with status 1;
- a worker whose parent is gone (killed with SIGKILL) stops by itself.

Metrics: the parent makes a fresh, empty PROMETHEUS_MULTIPROC_DIR at start
and gives it to every worker, so prometheus_client's multiprocess mode sums
the per-request series of all workers on any worker's /metrics; a worker that
exits is marked dead there (`mark_process_dead`), and the directory is removed
when the parent stops.

Workers report readiness with one line on their standard output, which the
parent reads (other lines are copied through); their logs go to the shared
standard error.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prometheus_client.multiprocess import mark_process_dead

from gateway.database.pool import locate_database, resolve_kek
from gateway.ops.metrics import MULTIPROCESS_DIRECTORY
from gateway.settings import Settings, env_name

logger = logging.getLogger(__name__)

READY_PREFIX = "gateway-worker-ready "
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
STABLE_SECONDS = 60.0
# Beyond the workers' own shutdown deadline, before the parent kills them.
KILL_GRACE_SECONDS = 5.0
START_TIMEOUT_SECONDS = 120.0
PARENT_CHECK_SECONDS = 1.0


def worker_count(requested: int) -> int:
    """`requested` workers; 0 means one per CPU."""
    return requested if requested > 0 else max(1, os.cpu_count() or 1)


def announce_ready(urls: Sequence[str]) -> None:
    """In a worker: tell the parent the worker is serving on `urls`."""
    print(READY_PREFIX + json.dumps(list(urls)), flush=True)


async def watch_parent(stop: asyncio.Event, parent_pid: int) -> None:
    """In a worker: set `stop` once the parent process is gone (the worker is re-parented)."""
    while not stop.is_set():
        if os.getppid() != parent_pid:
            logger.warning("the supervising process %d is gone: stopping", parent_pid)
            stop.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PARENT_CHECK_SECONDS)


class WorkerFailedToStart(Exception):
    """A worker exited before it was ready; its own error is on standard error."""


class _Worker:
    def __init__(self, index: int) -> None:
        self.index = index
        self.process: asyncio.subprocess.Process | None = None
        self.ready: asyncio.Future[list[str]] | None = None
        self.started_at = 0.0
        self.failures = 0
        self.relay: asyncio.Task[None] | None = None


class Supervisor:
    """Run `count` workers with `command` (argv of one worker, its index appended) until stopped."""

    def __init__(
        self,
        *,
        count: int,
        command: Sequence[str],
        environment: Mapping[str, str],
        shutdown_timeout: float,
    ) -> None:
        self._workers = [_Worker(index) for index in range(count)]
        self._command = list(command)
        self._environment = dict(environment)
        self._metrics_directory = self._environment.get(MULTIPROCESS_DIRECTORY)
        self._shutdown_timeout = shutdown_timeout
        self._stopping = False
        self.restarts = 0

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers running now."""
        return [
            worker.process.pid
            for worker in self._workers
            if worker.process is not None and worker.process.returncode is None
        ]

    async def run(
        self, *, stop: asyncio.Event, ready: Callable[[list[str]], None] | None = None
    ) -> None:
        """Start every worker, call `ready` with their URLs, supervise until `stop`, stop them all.

        Raises WorkerFailedToStart when a worker exits before it is ready.
        """
        try:
            for worker in self._workers:
                await self._spawn(worker)
            urls = await self._wait_ready(stop)
            if urls is not None:
                if ready is not None:
                    ready(urls)
                await self._supervise(stop)
        finally:
            self._stopping = True
            await self._stop_all()

    async def _spawn(self, worker: _Worker) -> None:
        loop = asyncio.get_running_loop()
        process = await asyncio.create_subprocess_exec(
            *self._command,
            str(worker.index),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            env=self._environment,
        )
        worker.process = process
        worker.ready = loop.create_future()
        worker.started_at = loop.time()
        worker.relay = asyncio.create_task(self._relay(worker, process, worker.ready))
        logger.info("worker %d started (pid %d)", worker.index, process.pid)

    async def _relay(
        self,
        worker: _Worker,
        process: asyncio.subprocess.Process,
        ready: asyncio.Future[list[str]],
    ) -> None:
        """Copy the worker's output through, catching its ready line."""
        assert process.stdout is not None
        while line := await process.stdout.readline():
            text = line.decode("utf-8", "replace")
            if text.startswith(READY_PREFIX) and not ready.done():
                ready.set_result(json.loads(text[len(READY_PREFIX) :]))
                continue
            sys.stdout.write(text)
            sys.stdout.flush()
        if not ready.done():
            ready.set_exception(WorkerFailedToStart(f"worker {worker.index} exited before ready"))

    async def _wait_ready(self, stop: asyncio.Event) -> list[str] | None:
        """The URLs once all workers are ready; None if stopped first."""
        readies = [worker.ready for worker in self._workers if worker.ready is not None]
        everyone = asyncio.gather(*readies)
        stopped = asyncio.ensure_future(stop.wait())
        waiting: set[asyncio.Future[Any]] = {everyone, stopped}
        try:
            done, _ = await asyncio.wait(
                waiting,
                timeout=START_TIMEOUT_SECONDS,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            stopped.cancel()
        if everyone in done:
            results: list[list[str]] = everyone.result()
            return results[0]
        everyone.cancel()
        with contextlib.suppress(asyncio.CancelledError, WorkerFailedToStart):
            await everyone
        if stopped in done:
            return None
        for worker in self._workers:
            if worker.ready is not None and worker.ready.done() and not worker.ready.cancelled():
                error = worker.ready.exception()
                if error is not None:
                    raise error
        raise WorkerFailedToStart(f"the workers were not ready within {START_TIMEOUT_SECONDS} s")

    async def _supervise(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        stopped = asyncio.ensure_future(stop.wait())
        waits: dict[asyncio.Future[Any], _Worker] = {}
        try:
            while not stop.is_set():
                for worker in self._workers:
                    if worker not in waits.values() and worker.process is not None:
                        waits[asyncio.ensure_future(worker.process.wait())] = worker
                pending: set[asyncio.Future[Any]] = {stopped, *waits}
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if stopped in done:
                    return
                for finished in done:
                    worker = waits.pop(finished)
                    status = finished.result()
                    self._mark_dead(worker)
                    lived = loop.time() - worker.started_at
                    worker.failures = 0 if lived >= STABLE_SECONDS else worker.failures + 1
                    delay = min(
                        MAX_BACKOFF_SECONDS,
                        FIRST_BACKOFF_SECONDS * 2 ** max(worker.failures - 1, 0),
                    )
                    logger.warning(
                        "worker %d exited with status %s after %.1f s: restarting in %.1f s",
                        worker.index,
                        status,
                        lived,
                        delay,
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(stopped), delay)
                    if stop.is_set():
                        return
                    self.restarts += 1
                    await self._spawn(worker)
        finally:
            stopped.cancel()
            for waiting in waits:
                waiting.cancel()

    def _mark_dead(self, worker: _Worker) -> None:
        """Let prometheus_client drop the exited worker's live gauges; its counts stay summed."""
        if self._metrics_directory and worker.process is not None:
            mark_process_dead(worker.process.pid, self._metrics_directory)  # type: ignore[no-untyped-call]

    async def _stop_all(self) -> None:
        running = [
            worker.process
            for worker in self._workers
            if worker.process is not None and worker.process.returncode is None
        ]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        if running:
            waiting = [asyncio.ensure_future(process.wait()) for process in running]
            _, late = await asyncio.wait(
                waiting, timeout=self._shutdown_timeout + KILL_GRACE_SECONDS
            )
            for process in running:
                if process.returncode is None:
                    logger.error("worker pid %d did not stop in time: killing it", process.pid)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            if late:
                await asyncio.wait(late)
        relays = [worker.relay for worker in self._workers if worker.relay is not None]
        await asyncio.gather(*relays, return_exceptions=True)


async def run_workers(
    settings: Settings,
    *,
    count: int,
    global_arguments: Sequence[str] = (),
    ready: Callable[[list[str]], None] | None = None,
    stop: asyncio.Event | None = None,
    overrides: Mapping[str, str] | None = None,
) -> None:
    """Serve with `count` worker processes until SIGTERM or SIGINT (or `stop`); see the module.

    `global_arguments` go before `serve` on each worker's command line (such
    as `--config FILE`). `overrides` are settings (by environment name) the
    parent changed for its workers, such as the demo's local Stripe. Raises
    WorkerFailedToStart when a worker fails at start-up.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for number in signals:
        loop.add_signal_handler(number, stop.set)
    location = await asyncio.to_thread(locate_database, settings)
    # Fresh at every start: counts left by an earlier run must not be summed in.
    metrics_directory = tempfile.mkdtemp(prefix="gateway-metrics-")
    try:
        kek = await asyncio.to_thread(resolve_kek, settings)
        environment = {
            **os.environ,
            env_name("database_url"): location.url,
            env_name("kek"): base64.b64encode(kek).decode(),
            MULTIPROCESS_DIRECTORY: metrics_directory,
            **(overrides or {}),
        }
        command = [sys.executable, "-m", "gateway", *global_arguments, "serve", "--worker"]
        supervisor = Supervisor(
            count=count,
            command=command,
            environment=environment,
            shutdown_timeout=settings.shutdown_timeout,
        )
        logger.info("starting %d workers", count)
        await supervisor.run(stop=stop, ready=ready)
    finally:
        for number in signals:
            loop.remove_signal_handler(number)
        shutil.rmtree(metrics_directory, ignore_errors=True)
        await asyncio.to_thread(location.close)
    logger.info("all workers stopped")

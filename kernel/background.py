"""Background tasks that stop when asked: cancellation that survives Python 3.11's races.

On Python 3.11 `asyncio.wait_for` (and libraries built on it, asyncpg's connect
among them) can return the inner result or raise the inner error when a
cancellation arrives at the same moment, consuming the cancellation. A retry
loop that then catches `Exception` and sleeps would run on after it was told to
stop, and whoever awaits it on shutdown would wait for ever. Retry loops call
`reraise_if_cancelled()` in their `except Exception` branch, and owners stop
their tasks with `stop_tasks()`, which cancels again what is still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

logger = logging.getLogger(__name__)

# How long a cancelled task gets before it is cancelled again.
CANCEL_ROUND_SECONDS = 1.0
# Backoff of the LISTEN connections and of the reloads they trigger. Capped at about two
# seconds (issue 18): a cap of 30 s made a domain or brand change made during a database
# outage appear up to 30 s after the database was back. A reconnect every 2 s per
# replica is no load on a PostgreSQL that is up.
RETRY_INITIAL_SECONDS = 0.5
RETRY_MAX_SECONDS = 2.0
# How often an idle LISTEN connection is asked `SELECT 1`, to find a half-open one.
HEALTH_CHECK_SECONDS = 30.0


def reraise_if_cancelled() -> None:
    """In a retry loop's `except Exception`: raise CancelledError if this task was cancelled.

    A cancellation consumed by an awaited call leaves `Task.cancelling()` above zero.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and wait until every one has ended, cancelling again any that swallowed
    the cancellation. Errors the tasks ended with are logged, never raised."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_ROUND_SECONDS)
    for task in tasks:
        if task.cancelled():
            continue
        error = task.exception()
        if error is not None:
            logger.debug("task %s ended with an error", task.get_name(), exc_info=error)


async def follow_channel(
    pool: asyncpg.Pool[Any],
    *,
    channel: str,
    role: str,
    on_notify: Callable[..., None],
    on_listen: Callable[[], None],
    health_check_seconds: float,
    retry_initial_seconds: float = RETRY_INITIAL_SECONDS,
    retry_max_seconds: float = RETRY_MAX_SECONDS,
) -> None:
    """Keep one pooled connection LISTENing on `channel` until cancelled.

    `on_listen` runs each time listening (re)starts: changes made while no one
    listened were never announced. A lost connection is replaced with backoff
    (doubling from `retry_initial_seconds` up to `retry_max_seconds`); a
    half-open one is found by asking it `SELECT 1` every `health_check_seconds`.
    `role` names the connection in pg_stat_activity and in the logs.
    """
    pause = retry_initial_seconds
    while True:
        try:
            async with pool.acquire() as connection:
                # The pool resets the name when the connection comes back.
                await connection.execute(f"SET application_name = 'gateway {role}'")
                await connection.add_listener(channel, on_notify)
                on_listen()
                pause = retry_initial_seconds
                await _watch(connection, channel, role, on_notify, health_check_seconds)
        except Exception:
            reraise_if_cancelled()
            # Whatever broke (network, server restart, a bug), following must go on.
            logger.exception("%s listener failed; reconnecting in %.1f s", role, pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, retry_max_seconds)


@contextlib.asynccontextmanager
async def following_channel(
    pool: asyncpg.Pool[Any],
    *,
    channel: str,
    role: str,
    on_notify: Callable[..., None],
    on_listen: Callable[[], None],
    health_check_seconds: float = HEALTH_CHECK_SECONDS,
) -> AsyncIterator[None]:
    """`follow_channel` in a background task for the duration of the `async with` block.

    For a job that polls and wants to be woken early: the block runs at once,
    whether or not the database is there; listening starts (and restarts after
    a loss, with the capped backoff) beside it, and stops when the block ends.
    """
    task = asyncio.create_task(
        follow_channel(
            pool,
            channel=channel,
            role=role,
            on_notify=on_notify,
            on_listen=on_listen,
            health_check_seconds=health_check_seconds,
        ),
        name=f"{role} listener",
    )
    try:
        yield
    finally:
        await stop_tasks([task])


async def run_passes(
    one_pass: Callable[[], Awaitable[bool]],
    *,
    wake: asyncio.Event,
    interval: float,
    role: str,
    stopping: Callable[[], bool] = lambda: False,
    next_wait: Callable[[], Awaitable[float]] | None = None,
) -> None:
    """A job's loop: pass after pass until cancelled or `stopping()`.

    `one_pass` answers whether it used its whole batch: then the next pass runs at
    once; else the loop waits for `wake` (a NOTIFY) or `interval` seconds, or less
    when `next_wait` (asked after each pass) says work falls due sooner. A failing
    pass is logged and tried again after `interval`: the loop outlives a database outage.
    """
    while not stopping():
        wake.clear()
        try:
            busy = await one_pass()
            wait = 0.0 if busy else await _bounded_wait(next_wait, interval)
        except Exception:
            reraise_if_cancelled()
            logger.exception("%s pass failed; trying again shortly", role)
            wait = interval
        if stopping():
            # stop() may have come before this pass cleared the wake-up: no waiting.
            break
        if wait <= 0:
            continue  # more may be due right now
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), wait)


async def _bounded_wait(next_wait: Callable[[], Awaitable[float]] | None, interval: float) -> float:
    if next_wait is None:
        return interval
    return max(0.0, min(interval, await next_wait()))


async def run_passes_on_notify(
    pool: asyncpg.Pool[Any],
    one_pass: Callable[[], Awaitable[bool]],
    *,
    channel: str,
    role: str,
    wake: asyncio.Event,
    interval: float,
    stopping: Callable[[], bool] = lambda: False,
    next_wait: Callable[[], Awaitable[float]] | None = None,
) -> None:
    """`run_passes`, woken early by each NOTIFY on `channel` (`following_channel`).

    Listening comes back after a database outage, and the passes go on polling
    meanwhile; whatever was announced while no one listened gets a pass at once.
    """

    def notified(*_: object) -> None:
        wake.set()

    async with following_channel(
        pool, channel=channel, role=role, on_notify=notified, on_listen=wake.set
    ):
        await run_passes(
            one_pass,
            wake=wake,
            interval=interval,
            role=role,
            stopping=stopping,
            next_wait=next_wait,
        )


async def _watch(
    connection: PoolConnectionProxy[Any],
    channel: str,
    role: str,
    on_notify: Callable[..., None],
    health_check_seconds: float,
) -> None:
    lost = asyncio.Event()
    connection.add_termination_listener(lambda _connection: lost.set())
    try:
        while not lost.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(lost.wait(), health_check_seconds)
            if not lost.is_set():
                # A half-open TCP connection never reports itself lost: ask it something.
                await connection.execute("SELECT 1", timeout=health_check_seconds)
        logger.warning("%s listener connection was closed", role)
    finally:
        # A lost connection is already detached from its proxy; only a live one can UNLISTEN.
        if not lost.is_set():
            with contextlib.suppress(asyncpg.InterfaceError, asyncpg.PostgresError, OSError):
                await connection.remove_listener(channel, on_notify)

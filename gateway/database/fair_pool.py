"""asyncpg's pool with connections handed out first come, first served.

asyncpg queues waiting acquirers in an `asyncio.Queue`: when a connection comes back,
the first waiter is woken, but a coroutine that asks before the waiter runs takes the
connection, and the waiter goes to the back of the line again. Under load (more
requests in flight than connections, a busy event loop) some requests lost that race
over and over: the portal overview at 32 connections answered half its requests in
2 ms and one in a hundred after 2 to 4 s (bench/notes.md). `FairPool` puts a FIFO
`asyncio.Semaphore` of the pool's size in front of asyncpg's queue, so whoever asked
first is served first and the queue behind it never has a waiter. Only asyncpg's
public `acquire` and `release` are wrapped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

import asyncpg


class FairPool(asyncpg.Pool):
    """An asyncpg pool whose waiting acquirers are served in the order they asked."""

    def __init__(self, *args: Any, max_size: int, **kwargs: Any) -> None:
        super().__init__(*args, max_size=max_size, **kwargs)
        self._turns = asyncio.Semaphore(max_size)
        self._lent: set[int] = set()  # ids of the connections given out under a turn

    def acquire(self, *, timeout: float | None = None) -> _FairAcquire:  # type: ignore[override]
        return _FairAcquire(self, timeout)

    async def _take(self, timeout: float | None) -> Any:  # noqa: ASYNC109 (asyncpg's own)
        await self._turns.acquire()
        try:
            connection = await super().acquire(timeout=timeout)
        except BaseException:
            self._turns.release()
            raise
        self._lent.add(id(connection))
        return connection

    async def release(
        self,
        connection: Any,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (asyncpg's signature)
    ) -> None:
        lent = id(connection) in self._lent
        self._lent.discard(id(connection))
        try:
            await super().release(connection, timeout=timeout)
        finally:
            if lent:  # a second release of the same connection gives back no second turn
                self._turns.release()


class _FairAcquire:
    """`pool.acquire()`: awaited for a connection, or `async with` to release it after."""

    def __init__(self, pool: FairPool, timeout: float | None) -> None:
        self._pool = pool
        self._timeout = timeout
        self._connection: Any = None

    def __await__(self) -> Generator[Any, None, Any]:
        return self._pool._take(self._timeout).__await__()

    async def __aenter__(self) -> Any:
        self._connection = await self._pool._take(self._timeout)
        return self._connection

    async def __aexit__(self, *exc_info: object) -> None:
        connection, self._connection = self._connection, None
        await self._pool.release(connection)


async def create_fair_pool(url: str, *, min_size: int, max_size: int, **options: Any) -> FairPool:
    """`asyncpg.create_pool` with the same defaults, returning a FairPool."""
    pool = FairPool(
        url,
        min_size=min_size,
        max_size=max_size,
        max_queries=50000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        record_class=asyncpg.Record,
        **{"connection_class": asyncpg.Connection, **options},
    )
    await pool
    return pool

"""Reads asked for while the database is busy go to it together, as one statement.

A busy process asks for the same small rows many times a second (the portal reads the
customer and its data version on every page view). `BatchedReads` gathers the keys asked
for in one event-loop turn and sends them in one statement; while that statement is in
flight, the keys asked for meanwhile wait and leave together as soon as it returns. At
rest a read leaves on the next loop turn, as it would alone; under load one round trip
answers dozens of requests, and the batch grows with the load (group commit, for reads).

Freshness is that of a read of one's own: a key joins only a batch that has not been
sent yet, so every read starts after it was asked for and sees every write committed
before that. A key asked for twice in one batch is read once; both askers get the value.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# One statement of a few hundred keys stays well under a millisecond of database time.
MAX_KEYS_PER_BATCH = 256


class BatchedReads(Generic[K, V]):
    """`await reads.get(key)`: the value `load` found for `key`, or None where it found none.

    `load(keys)` reads every key in one statement and returns what it found by key. It
    runs in a task of its own: a caller that gives up (a client gone) does not cancel the
    read the others wait for. An error of `load` is raised to every caller of its batch.
    """

    def __init__(
        self,
        load: Callable[[Sequence[K]], Awaitable[Mapping[K, V]]],
        *,
        max_keys: int = MAX_KEYS_PER_BATCH,
    ) -> None:
        self._load = load
        self._max_keys = max_keys
        self._waiting: dict[K, list[asyncio.Future[V | None]]] = {}
        self._sender: asyncio.Task[None] | None = None
        self.batches = 0  # statements sent, for tests and the bench

    async def get(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V | None] = loop.create_future()
        self._waiting.setdefault(key, []).append(future)
        if self._sender is None:
            # Started now, the sender first runs on the next loop turn: every request
            # read from the sockets in this turn has asked by then.
            # In a context of its own: the batch is no one request's (its log lines
            # must not carry the first asker's request id).
            self._sender = loop.create_task(
                self._send_while_waiting(), context=contextvars.Context()
            )
        return await future

    async def _send_while_waiting(self) -> None:
        try:
            while self._waiting:
                await self._send(self._take_batch())
        finally:
            self._sender = None
            # Only a cancelled sender (the app stopping) leaves keys behind.
            waiting, self._waiting = self._waiting, {}
            for futures in waiting.values():
                for future in futures:
                    future.cancel()

    def _take_batch(self) -> dict[K, list[asyncio.Future[V | None]]]:
        if len(self._waiting) <= self._max_keys:
            batch, self._waiting = self._waiting, {}
            return batch
        keys = list(self._waiting)[: self._max_keys]
        return {key: self._waiting.pop(key) for key in keys}

    async def _send(self, batch: dict[K, list[asyncio.Future[V | None]]]) -> None:
        self.batches += 1
        try:
            found = await self._load(list(batch))
        except Exception as error:  # every caller of the batch learns of it
            for futures in batch.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(error)
            return
        except BaseException:  # the sender itself was cancelled (the app stops)
            for futures in batch.values():
                for future in futures:
                    future.cancel()
            raise
        for key, futures in batch.items():
            value = found.get(key)
            for future in futures:
                if not future.done():
                    future.set_result(value)

"""Batched reads: one statement for many askers, and never a value read before it was asked."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from kernel.batched_reads import BatchedReads


class Table:
    """A stand-in for a table: a dict, and a record of every statement sent to it."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {"a": 1, "b": 2, "c": 3}
        self.statements: list[list[str]] = []
        self.in_flight = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def load(self, keys: Sequence[str]) -> Mapping[str, int]:
        self.statements.append(list(keys))
        # The values are those at the moment the statement ran, as in a database.
        found = {key: self.rows[key] for key in keys if key in self.rows}
        self.in_flight.set()
        await self.release.wait()
        return found


async def test_reads_asked_together_share_one_statement() -> None:
    table = Table()
    reads = BatchedReads(table.load)
    values = await asyncio.gather(*(reads.get(key) for key in ("a", "b", "a", "c", "zz")))
    assert values == [1, 2, 1, 3, None]
    assert table.statements == [["a", "b", "c", "zz"]]


async def test_a_read_asked_while_a_statement_runs_sees_later_writes() -> None:
    table = Table()
    reads = BatchedReads(table.load)
    table.release.clear()
    first = asyncio.ensure_future(reads.get("a"))
    await table.in_flight.wait()
    table.rows["a"] = 10  # committed after the first statement was sent
    second = asyncio.ensure_future(reads.get("a"))
    await asyncio.sleep(0)
    table.release.set()
    assert await first == 1
    assert await second == 10  # not answered from the statement already on its way
    assert table.statements == [["a"], ["a"]]


async def test_reads_asked_during_one_statement_leave_together_after_it() -> None:
    table = Table()
    reads = BatchedReads(table.load)
    table.release.clear()
    first = asyncio.ensure_future(reads.get("a"))
    await table.in_flight.wait()
    later = [asyncio.ensure_future(reads.get(key)) for key in ("b", "c", "b")]
    await asyncio.sleep(0)
    table.release.set()
    assert [await first, *[await read for read in later]] == [1, 2, 3, 2]
    assert table.statements == [["a"], ["b", "c"]]


async def test_an_error_reaches_every_asker_of_its_batch_and_the_next_batch_runs() -> None:
    calls = 0

    async def load(keys: Sequence[str]) -> Mapping[str, int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database went away")
        return dict.fromkeys(keys, 7)

    reads = BatchedReads(load)
    results = await asyncio.gather(reads.get("a"), reads.get("b"), return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)
    assert await reads.get("a") == 7


async def test_an_asker_that_gives_up_does_not_cancel_the_others() -> None:
    table = Table()
    reads = BatchedReads(table.load)
    table.release.clear()
    leaving = asyncio.ensure_future(reads.get("a"))
    staying = asyncio.ensure_future(reads.get("a"))
    await table.in_flight.wait()
    leaving.cancel()
    table.release.set()
    assert await staying == 1
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_a_batch_holds_at_most_max_keys() -> None:
    table = Table()
    table.rows = {str(number): number for number in range(10)}
    reads = BatchedReads(table.load, max_keys=4)
    values = await asyncio.gather(*(reads.get(str(number)) for number in range(10)))
    assert values == list(range(10))
    assert [len(keys) for keys in table.statements] == [4, 4, 2]

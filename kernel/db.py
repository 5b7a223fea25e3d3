"""The database executor every layer takes, and one way to run statements in a transaction.

A function that reads or writes takes a `Db`: an asyncpg pool, a connection, or a
connection borrowed from a pool. Inside `transaction()` it is a connection in a
transaction, so several calls share it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
Db: TypeAlias = "Pool | Connection"


@asynccontextmanager
async def transaction(db: Db) -> AsyncIterator[Connection]:
    """A connection inside a transaction (a savepoint if `db` is already in one)."""
    if isinstance(db, asyncpg.Connection | PoolConnectionProxy):
        async with db.transaction():
            yield db
    else:
        async with db.acquire() as connection, connection.transaction():
            yield connection


__all__ = ["Connection", "Db", "Pool", "transaction"]

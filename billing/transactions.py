"""One helper: run several statements in one transaction, given a pool or a connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

Db = Any  # an asyncpg Pool, Connection or pooled connection


@asynccontextmanager
async def transaction(db: Db) -> AsyncIterator[Any]:
    """A connection inside a transaction (a savepoint if `db` is already in one)."""
    if hasattr(db, "acquire"):
        async with db.acquire() as connection, connection.transaction():
            yield connection
    else:
        async with db.transaction():
            yield db

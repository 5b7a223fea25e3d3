"""The pool gives every acquirer a clean session, and plain queries pay no reset round trip."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from gateway.database.pool import changes_session, create_pool


@pytest.fixture
async def one_connection_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool of exactly one connection, so each acquire gets the previous one back."""
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        yield pool
    finally:
        await pool.close()


async def last_statement_of(database_url: str, pid: int) -> str:
    """What the backend `pid` last ran, as the server saw it."""
    observer = await asyncpg.connect(database_url)
    try:
        text: str = await observer.fetchval(
            "SELECT query FROM pg_stat_activity WHERE pid = $1", pid
        )
        return text
    finally:
        await observer.close()


async def test_a_connection_that_changed_its_session_comes_back_clean(
    one_connection_pool: asyncpg.Pool, database_url: str
) -> None:
    async with one_connection_pool.acquire() as connection:
        pid = await connection.fetchval("SELECT pg_backend_pid()")
        default_timeout = await connection.fetchval("SHOW statement_timeout")
        await connection.execute("SET statement_timeout = '1234ms'")
        async with connection.transaction():
            # A session-level SET inside a committed transaction outlives the transaction.
            await connection.execute("/* why */ SET application_name = 'dirty'")
        # As a listener's connection is after a lost callback: registered on the server.
        await connection.execute("LISTEN gateway_test_channel")
        await connection.execute("SELECT pg_advisory_lock($1)", 424242)

    async with one_connection_pool.acquire() as connection:
        assert await connection.fetchval("SELECT pg_backend_pid()") == pid
        assert await connection.fetchval("SHOW statement_timeout") == default_timeout
        assert await connection.fetchval("SHOW application_name") == ""
        assert await connection.fetchval("SELECT count(*) FROM pg_listening_channels()") == 0
        held = await connection.fetchval(
            "SELECT count(*) FROM pg_locks WHERE pid = $1 AND locktype = 'advisory'", pid
        )
        assert held == 0


async def test_a_connection_that_only_queried_skips_the_reset_round_trip(
    one_connection_pool: asyncpg.Pool, database_url: str
) -> None:
    async with one_connection_pool.acquire() as connection:
        pid = await connection.fetchval("SELECT pg_backend_pid()")
        await connection.fetch("SELECT id FROM tenants WHERE id = $1", 1)
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            await connection.fetchval("SELECT count(*) FROM tenants")

    # The transaction's own COMMIT was the last statement: no reset followed it.
    assert await last_statement_of(database_url, pid) == "COMMIT;"

    async with one_connection_pool.acquire() as connection:
        await connection.execute("SET work_mem = '8MB'")
    # The dirty connection was reset on release; the next plain use skips it again.
    assert "RESET ALL" in await last_statement_of(database_url, pid)
    await one_connection_pool.fetchval("SELECT 1 + 1")
    assert await last_statement_of(database_url, pid) == "SELECT 1 + 1"


async def test_a_failed_transaction_is_rolled_back_before_the_next_acquirer(
    one_connection_pool: asyncpg.Pool,
) -> None:
    connection = await one_connection_pool.acquire()
    await connection.execute("BEGIN")
    with pytest.raises(asyncpg.DivisionByZeroError):
        await connection.fetchval("SELECT 1 / 0")
    await one_connection_pool.release(connection)

    assert await one_connection_pool.fetchval("SELECT 2") == 2


@pytest.mark.parametrize(
    ("query", "changes"),
    [
        ("SELECT name FROM tenants WHERE id = $1", False),
        ("UPDATE subscriptions SET status = 'canceled' WHERE tenant_id = $1", False),
        ("set search_path = public", True),
        ("-- keep the name\nSET application_name = 'x'", True),
        ("SELECT 1; RESET ALL", True),
        ('LISTEN "gateway_hosts"', True),
        ("SELECT pg_try_advisory_lock($1)", True),
        ("SELECT set_config('app.tenant', $1, false)", True),
        ("DO $$ BEGIN PERFORM 1; END $$", True),
    ],
)
def test_statements_that_leave_session_state_are_recognised(query: str, changes: bool) -> None:
    assert changes_session(query) is changes


async def most_overtaken(pool: asyncpg.Pool, *, workers: int = 16, rounds: int = 40) -> int:
    """Workers that each ask for a connection, query and give it back, `rounds` times,
    with a little other work on the event loop between (as requests have).

    Returns the most acquisitions that went to others while one request waited: FIFO
    order bounds it by the number of workers, whatever the timing.
    """
    served = 0
    worst = 0

    async def other_work() -> None:
        for _ in range(3):
            await asyncio.sleep(0)

    async def worker() -> None:
        nonlocal served, worst
        for _ in range(rounds):
            await other_work()
            asked = served
            async with pool.acquire() as connection:
                worst = max(worst, served - asked)
                await connection.fetchval("SELECT 1")
                served += 1
            await other_work()

    await asyncio.gather(*(worker() for _ in range(workers)))
    assert served == workers * rounds
    return worst


async def test_waiting_requests_get_connections_in_the_order_they_asked(database_url: str) -> None:
    # asyncpg's own queue lets a newcomer take a connection from a woken waiter, which
    # then waits again at the back: a few portal requests waited seconds under load
    # (asyncpg's pool here: 100 to 150 others served before one waiter).
    pool = await create_pool(database_url, min_size=2, max_size=2)
    try:
        assert await most_overtaken(pool) <= 16
    finally:
        await pool.close()

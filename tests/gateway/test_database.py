"""The pool gives every acquirer a clean session, and plain queries pay no reset round trip."""

from __future__ import annotations

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

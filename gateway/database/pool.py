"""The PostgreSQL connection pool, the embedded server fallback, and the KEK file.

`locate_database` (blocking) returns the URL to use: DATABASE_URL, or an
embedded server started in the data directory. `create_pool` opens an asyncpg
pool whose connections decode json/jsonb to Python values, and applies the
migrations before anything else uses it.

Waiting requests get connections in the order they asked (gateway/database/fair_pool.py).
A released connection goes back to the pool as clean as a new one, but only
the connections that changed their session (SET, LISTEN, advisory locks,
cursors, DO blocks...) pay the reset round trip: asyncpg's default reset costs
every pooled query a second round trip (bench/notes.md).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from gateway.database.embedded import EmbeddedPostgres
from gateway.database.fair_pool import create_fair_pool
from gateway.database.migrate import migrate
from gateway.settings import Settings, SettingsError, env_name


@dataclass
class DatabaseLocation:
    """Where the database is; `embedded` is set when this process started a server."""

    url: str
    embedded: EmbeddedPostgres | None = None

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def locate_database(settings: Settings) -> DatabaseLocation:
    """DATABASE_URL if set, else an embedded server in the data directory. Blocks."""
    if settings.database_url is not None:
        return DatabaseLocation(settings.database_url)
    embedded = EmbeddedPostgres(settings.data_dir)
    return DatabaseLocation(embedded.start(), embedded)


def resolve_kek(settings: Settings) -> bytes:
    """The key-encryption key: GATEWAY_KEK, or (embedded mode only) one kept in the data dir."""
    if settings.kek is not None:
        return settings.kek
    if settings.database_url is not None:
        raise SettingsError(env_name("kek"), "32 random bytes in base64 when DATABASE_URL is set")
    path = Path(settings.data_dir) / "kek"
    if path.exists():
        return base64.b64decode(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    kek = os.urandom(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(base64.b64encode(kek).decode() + "\n")
    return kek


# Statements and functions whose effect outlives the statement (and the transaction): they
# are what asyncpg's reset query undoes (pg_advisory_unlock_all, CLOSE ALL, UNLISTEN *,
# RESET ALL). DO and CALL run arbitrary code, so they count too. Matching too much only
# costs a reset; a statement starting a line after a comment is still seen (comments go first).
_SESSION_CHANGING = re.compile(
    r"(?:^|;)\s*(?:SET|RESET|LISTEN|DECLARE|DISCARD|DO|CALL|LOAD)\b"
    r"|\b(?:set_config|\w*advisory\w*)\s*\(",
    re.IGNORECASE,
)
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
# The Connection methods that send SQL text; each notes whether the text changes the session.
_SQL_METHODS = ("execute", "executemany", "fetch", "fetchrow", "fetchval", "fetchmany", "prepare")


@functools.lru_cache(maxsize=4096)
def changes_session(query: str) -> bool:
    """Whether running `query` may leave state on the session that a reset must undo."""
    return _SESSION_CHANGING.search(_COMMENTS.sub(" ", query)) is not None


class SessionTrackingConnection(asyncpg.Connection):
    """A connection that remembers whether its session changed since its last reset."""

    __slots__ = ("session_changed",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session_changed = False


def _noting(name: str) -> Callable[..., Any]:
    original = getattr(asyncpg.Connection, name)

    @functools.wraps(original)
    def method(self: SessionTrackingConnection, query: str, *args: Any, **kwargs: Any) -> Any:
        if not self.session_changed and changes_session(query):
            self.session_changed = True
        return original(self, query, *args, **kwargs)

    return method


# Assigned rather than written out: each keeps asyncpg's own (overloaded) signature.
for _name in (*_SQL_METHODS, "cursor"):
    setattr(SessionTrackingConnection, _name, _noting(_name))


async def reset_changed_session(connection: asyncpg.Connection) -> None:
    """The pool's reset: asyncpg's full reset query, for connections whose session changed.

    Before this runs, the pool has already rolled back an open transaction (which
    undoes SET LOCAL and transaction-level locks) and dropped listener callbacks.
    """
    if getattr(connection, "session_changed", True):
        await connection.execute(connection.get_reset_query())
        if isinstance(connection, SessionTrackingConnection):
            connection.session_changed = False


async def _init_connection(connection: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await connection.set_type_codec(
            kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


class DatabaseUnreachable(Exception):
    """The pool could not open a connection to PostgreSQL (refused, reset, timed out)."""


async def connect_to_database(*args: Any, **kwargs: Any) -> asyncpg.Connection:
    """asyncpg's connect for the pool, its socket errors told apart from any other OSError.

    A refused or timed-out connection is a database outage (a 503 at the edge); an
    OSError elsewhere in a handler is a bug like any other (a 500).
    """
    try:
        return await asyncpg.connect(*args, **kwargs)
    except OSError as error:  # TimeoutError and ConnectionRefusedError are OSErrors
        raise DatabaseUnreachable(str(error) or type(error).__name__) from error


async def create_pool(
    url: str, *, min_size: int = 1, max_size: int = 10, command_timeout: float = 10.0
) -> asyncpg.Pool[Any]:
    """Migrate the database at `url`, then return a pool of connections to it."""
    connection = await asyncpg.connect(url)
    try:
        await migrate(connection)
    finally:
        await connection.close()
    return await open_pool(
        url, min_size=min_size, max_size=max_size, command_timeout=command_timeout
    )


async def open_pool(
    url: str, *, min_size: int, max_size: int, command_timeout: float
) -> asyncpg.Pool[Any]:
    """A pool of connections to the already migrated database at `url`."""
    return await create_fair_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        command_timeout=command_timeout,
        init=_init_connection,
        connect=connect_to_database,
        connection_class=SessionTrackingConnection,
        reset=reset_changed_session,
    )

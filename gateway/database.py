"""The PostgreSQL connection pool, the embedded server fallback, and the KEK file.

`locate_database` (blocking) returns the URL to use: DATABASE_URL, or an
embedded server started in the data directory. `create_pool` opens an asyncpg
pool whose connections decode json/jsonb to Python values, and applies the
migrations before anything else uses it.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from gateway.embedded_postgres import EmbeddedPostgres
from gateway.migrate import migrate
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


async def _init_connection(connection: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await connection.set_type_codec(
            kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def create_pool(
    url: str, *, min_size: int = 1, max_size: int = 10, command_timeout: float = 10.0
) -> asyncpg.Pool[Any]:
    """Migrate the database at `url`, then return a pool of connections to it."""
    connection = await asyncpg.connect(url)
    try:
        await migrate(connection)
    finally:
        await connection.close()
    return await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        command_timeout=command_timeout,
        init=_init_connection,
    )

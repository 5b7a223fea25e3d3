"""Apply the numbered SQL migrations, once each, safely from several replicas at once.

Each migration runs in its own transaction. A session-level advisory lock
serialises concurrent runs (two replicas starting together), and the
`schema_migrations` table makes a second run a no-op.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

# pg_advisory_lock key: the first 8 bytes of sha256("gateway:migrations") as a signed bigint.
MIGRATION_LOCK = int.from_bytes(
    hashlib.sha256(b"gateway:migrations").digest()[:8], "big", signed=True
)
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    """A migration file is malformed, or the database holds a migration this code does not know."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """The migrations shipped in gateway/migrations, in version order."""
    found: list[Migration] = []
    for entry in resources.files("gateway.database.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration numbers in {versions}")
    return found


async def migrate(connection: asyncpg.Connection) -> list[int]:
    """Apply pending migrations on `connection`; return the versions applied by this call."""
    applied_now: list[int] = []
    await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await connection.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        rows = await connection.fetch("SELECT version, checksum FROM schema_migrations")
        done = {row["version"]: row["checksum"] for row in rows}
        known = load_migrations()
        unknown = set(done) - {m.version for m in known}
        if unknown:
            raise MigrationError(
                f"the database has migrations {sorted(unknown)} that this version does not ship; "
                "run a newer gateway"
            )
        for migration in known:
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} changed after it "
                        "was applied; add a new migration instead"
                    )
                continue
            async with connection.transaction():
                await connection.execute(migration.sql)
                await connection.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            applied_now.append(migration.version)
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    return applied_now

"""`gateway migrate`: apply the pending database migrations."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import asyncpg

from gateway.cli.command import connect, subcommand
from gateway.database.migrate import load_migrations, migrate
from gateway.database.pool import locate_database
from gateway.settings import Settings


def add_database_commands(commands: Any) -> None:
    """Add `migrate` to the top-level subparsers `commands`."""
    subcommand(
        commands,
        "migrate",
        migrate_command,
        "Apply the pending database migrations (safe while other replicas run).",
        """
        gateway migrate
        DATABASE_URL=postgresql://user:pw@db:5432/gateway GATEWAY_KEK=... gateway migrate
        """,
    )


async def migrate_command(arguments: argparse.Namespace, settings: Settings) -> int:
    location = await asyncio.to_thread(locate_database, settings)
    try:
        connection = await connect(location, lambda: asyncpg.connect(location.url))
        try:
            applied = await migrate(connection)
        finally:
            await connection.close()
    finally:
        await asyncio.to_thread(location.close)
    names = {migration.version: migration.name for migration in load_migrations()}
    if not applied:
        print("database is up to date")
    for version in applied:
        print(f"applied {version:04d}_{names.get(version, '')}")
    return 0

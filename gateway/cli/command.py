"""What every `gateway` command shares: its signature, its error, the subcommand parser,
the database it opens and the tables it prints."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import textwrap
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any, TextIO
from urllib.parse import urlsplit

import asyncpg

from gateway.database.pool import DatabaseLocation, create_pool, locate_database
from gateway.settings import Settings
from gateway.tenants.models import Tenant
from kernel.text import escape_controls

PROG = "gateway"

# A command's handler: the parsed arguments and the settings in, the exit status out.
Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


class CommandError(Exception):
    """A failure the user can act on; its message is printed as one line."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs as written; option help aligned a little further right."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def subcommand(
    group: Any, name: str, handler: Command | None, summary: str, examples: str
) -> argparse.ArgumentParser:
    """Add command `name` to the subparsers `group`, running `handler`, with its examples."""
    parser: argparse.ArgumentParser = group.add_parser(
        name,
        help=summary,
        description=summary,
        epilog="examples:\n" + textwrap.indent(textwrap.dedent(examples).strip(), "  "),
        formatter_class=HelpFormatter,
    )
    if handler is not None:
        parser.set_defaults(command=handler)
    return parser


@contextlib.asynccontextmanager
async def open_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool[Any]]:
    """A migrated pool on the configured database; stops an embedded server started for it."""
    location = await asyncio.to_thread(locate_database, settings)
    try:
        pool = await connect(location, lambda: create_pool(location.url, min_size=1, max_size=4))
        try:
            yield pool
        finally:
            await pool.close()
    finally:
        await asyncio.to_thread(location.close)


async def connect(location: DatabaseLocation, opener: Callable[[], Any]) -> Any:
    """What `opener` opens on `location`; CommandError naming the server if it is unreachable."""
    try:
        return await opener()
    except (OSError, TimeoutError) as error:
        parts = urlsplit(location.url)
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
        raise CommandError(f"cannot connect to PostgreSQL at {where}: {error}") from None


def tenant_url(settings: Settings, tenant: Tenant) -> str:
    """The base URL of a tenant's default host."""
    return settings.public_url(f"{tenant.slug}.{settings.base_domain}") + "/"


def when(moment: Any) -> str:
    """A moment as the commands print it (minutes, UTC), or "-" for none."""
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def print_table(rows: Sequence[Sequence[str]], out: TextIO, *, indent: str = "") -> None:
    """`rows` as left-aligned columns (the first row is the header, if any)."""
    if not rows:
        return
    # Stored names may hold escape sequences from before they were refused: shown, not run.
    rows = [[escape_controls(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        print(indent + "  ".join(cells).rstrip(), file=out)

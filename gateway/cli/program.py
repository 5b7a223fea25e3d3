"""The `gateway` program: its parser, built from each command group, and `main`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from billing.errors import BillingError
from certs.errors import CertsError
from gateway.cli.api_keys import add_api_key_commands
from gateway.cli.certificates import add_certificate_commands
from gateway.cli.command import PROG, Command, CommandError, HelpFormatter
from gateway.cli.database import add_database_commands
from gateway.cli.demo import add_demo_command
from gateway.cli.domains import add_domain_commands
from gateway.cli.serve import add_serve_command
from gateway.cli.tenants import add_tenant_commands
from gateway.database.embedded import EmbeddedPostgresError
from gateway.database.migrate import MigrationError
from gateway.ops.logging_setup import configure_logging
from gateway.settings import SettingsError, describe_settings, load_settings
from gateway.tenants.errors import TenantError

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); return the exit status."""
    parser = build_parser()
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as exit_request:  # --help, or a usage error already printed
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_USAGE
    command: Command | None = getattr(arguments, "command", None)
    if command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        settings = load_settings(config_file=arguments.config)
    except SettingsError as error:
        return _fail(str(error), EXIT_USAGE)
    configure_logging(
        settings.log_level if arguments.command_name == "serve" else "WARNING",
        log_format=settings.log_format,
    )
    if arguments.command_name == "serve":
        _install_uvloop()
    try:
        return asyncio.run(command(arguments, settings))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except SettingsError as error:
        return _fail(str(error), EXIT_USAGE)
    except (CommandError, TenantError, EmbeddedPostgresError, MigrationError) as error:
        return _fail(str(error))
    except asyncpg.PostgresError as error:
        return _fail(f"database error: {error}")
    except (BillingError, CertsError) as error:
        return _fail(str(error))
    except OSError as error:  # port in use, unreadable data directory, unreachable database
        return _fail(str(error))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand, with descriptions and examples."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Multi-tenant billing edge gateway: branded customer portals and an API per tenant.\n"
            "Without DATABASE_URL it starts an embedded PostgreSQL in the data directory."
        ),
        epilog=_settings_epilog(),
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--config", type=Path, default=None, metavar="FILE", help="TOML settings file"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command_name")
    # In the order `gateway --help` lists them.
    add_serve_command(commands)
    add_database_commands(commands)
    add_tenant_commands(commands)
    add_api_key_commands(commands)
    add_domain_commands(commands)
    add_certificate_commands(commands)
    add_demo_command(commands)
    return parser


def _settings_epilog() -> str:
    rows = describe_settings()
    width = max(len(name) for name, _, _ in rows)
    lines = ["settings (environment variables; GATEWAY_CONFIG names an optional TOML file):"]
    for name, default, doc in rows:
        shown = f" [default: {default}]" if default else ""
        text = textwrap.fill(
            doc + shown,
            width=96,
            initial_indent="  " + name.ljust(width + 2),
            subsequent_indent=" " * (width + 4),
        )
        lines.append(text)
    return "\n".join(lines)


def _fail(message: str, status: int = EXIT_FAILURE) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return status


def _install_uvloop() -> None:
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

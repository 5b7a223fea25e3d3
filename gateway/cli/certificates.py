"""`gateway cert list|renew`: certificates from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from certs.renewal import renewal_time
from gateway.cli.command import CommandError, open_pool, print_table, subcommand, when
from gateway.cli.domains import lifecycle_services
from gateway.settings import Settings
from gateway.tenants import domains, lifecycle


def add_certificate_commands(commands: Any) -> None:
    """Add `cert` and its subcommands to the top-level subparsers `commands`."""
    cert = subcommand(
        commands,
        "cert",
        None,
        "List certificates and renew one now.",
        """
        gateway cert list
        gateway cert renew billing.alpeak.com
        """,
    )
    cert_commands = cert.add_subparsers(title="commands", metavar="COMMAND", required=True)
    subcommand(
        cert_commands,
        "list",
        cert_list,
        "List the newest certificate of every domain: names, issuer, serial, expiry, renewal.",
        "gateway cert list",
    )
    renew = subcommand(
        cert_commands,
        "renew",
        cert_renew,
        "Renew an active domain's certificate now, whatever its expiry (the CA's budgets "
        "still apply).",
        "gateway cert renew billing.alpeak.com",
    )
    renew.add_argument("name", metavar="NAME", help="the domain")


async def cert_list(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        rows = await pool.fetch(
            """
            SELECT DISTINCT ON (coalesce(c.domain_id, array_to_string(c.names, ' ')))
                   c.names, c.issuer, c.serial, c.not_before, c.not_after, t.slug
            FROM certificates c LEFT JOIN tenants t ON t.id = c.tenant_id
            ORDER BY coalesce(c.domain_id, array_to_string(c.names, ' ')),
                     c.not_after DESC, c.created_at DESC
            """
        )
    if not rows:
        print("no certificates yet")
        return 0
    table = [("NAMES", "TENANT", "ISSUER", "SERIAL", "VALID UNTIL", "RENEWS FROM")]
    for row in sorted(rows, key=lambda r: r["not_after"]):
        renews = renewal_time(
            not_before=row["not_before"], not_after=row["not_after"], serial=row["serial"]
        )
        table.append(
            (
                ",".join(row["names"]),
                row["slug"] or "-",
                row["issuer"],
                row["serial"],
                when(row["not_after"]),
                when(renews),
            )
        )
    print_table(table, sys.stdout)
    return 0


async def cert_renew(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        domain = await domains.find_domain(pool, arguments.name)
        if domain.status != lifecycle.ACTIVE:
            raise CommandError(
                f"{domain.name} is {domain.status}, not active: run `gateway domain check"
                f" {domain.name}` to see why"
            )
        before = await lifecycle.latest_certificate(pool, domain)
        services = await lifecycle_services(settings, pool)
        domain = await lifecycle.renew_now(services, domain)
        after = await lifecycle.latest_certificate(pool, domain)
    if after is None or (before is not None and after.serial == before.serial):
        why = domain.failure_reason or "another renewal is running"
        raise CommandError(f"{domain.name} was not renewed: {why}")
    print(
        f"renewed {domain.name}: serial {after.serial} from {after.issuer},"
        f" valid until {when(after.not_after)}"
    )
    return 0

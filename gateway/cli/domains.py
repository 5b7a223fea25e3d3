"""`gateway domain add|check|list|remove`: tenants' custom domains from the command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from typing import Any

import asyncpg

from gateway.cli.command import open_pool, print_table, subcommand, when
from gateway.database.pool import resolve_kek
from gateway.issuers import build_issuer
from gateway.settings import Settings
from gateway.tenants import domains, lifecycle, registry
from gateway.tenants.domains import Domain
from kernel.sealing import Sealer


def add_domain_commands(commands: Any) -> None:
    """Add `domain` and its subcommands to the top-level subparsers `commands`."""
    domain = subcommand(
        commands,
        "domain",
        None,
        "Add, check, list and remove tenants' custom domains.",
        """
        gateway domain add alpeak billing.alpeak.com
        gateway domain check billing.alpeak.com
        gateway domain list alpeak
        gateway domain remove alpeak billing.alpeak.com
        """,
    )
    domain_commands = domain.add_subparsers(title="commands", metavar="COMMAND", required=True)
    add = subcommand(
        domain_commands,
        "add",
        domain_add,
        "Claim a custom domain for a tenant; it is served once its CNAME points at "
        "cname.<base domain> and its certificate is issued (the running gateway does both).",
        "gateway domain add alpeak billing.alpeak.com",
    )
    add.add_argument("slug", metavar="SLUG", help="the tenant's slug")
    add.add_argument("name", metavar="NAME", help="the domain, e.g. billing.alpeak.com")
    check = subcommand(
        domain_commands,
        "check",
        domain_check,
        "Check a domain's DNS now and print the diagnosis; a domain that points at us gets "
        "its certificate at once.",
        "gateway domain check billing.alpeak.com",
    )
    check.add_argument("name", metavar="NAME", help="the domain")
    listing = subcommand(
        domain_commands,
        "list",
        domain_list,
        "List custom domains (all tenants', or one tenant's) with status and certificate expiry.",
        """
        gateway domain list
        gateway domain list alpeak
        """,
    )
    listing.add_argument("slug", metavar="SLUG", nargs="?", help="only this tenant's domains")
    remove = subcommand(
        domain_commands,
        "remove",
        domain_remove,
        "Remove a tenant's custom domain and its certificates; it is no longer served.",
        "gateway domain remove alpeak billing.alpeak.com",
    )
    remove.add_argument("slug", metavar="SLUG", help="the tenant's slug")
    remove.add_argument("name", metavar="NAME", help="the domain")


async def lifecycle_services(
    settings: Settings, pool: asyncpg.Pool[Any]
) -> lifecycle.LifecycleServices:
    """The domain lifecycle's services on `pool`, with the issuer the settings name."""
    sealer = Sealer(await asyncio.to_thread(resolve_kek, settings))
    issuer = await build_issuer(settings, pool, sealer)
    return lifecycle.LifecycleServices.build(
        pool=pool, sealer=sealer, settings=settings, issuer=issuer
    )


def _print_domain(domain: Domain, certificate: lifecycle.CertificateInfo | None) -> None:
    print(f"domain:        {domain.name}")
    print(f"status:        {domain.status}")
    if domain.proven_at is None:
        print(f"ownership:     not proven; the claim expires {when(domain.claim_expires_at)}")
        print(f"proof:         {domain.proof_record_name} TXT {domain.proof_token}")
    if domain.failure_reason:
        print(f"reason:        {domain.failure_reason}")
    diagnosis = domain.diagnosis if isinstance(domain.diagnosis, dict) else {}
    resolves = [*diagnosis.get("cname_chain", []), *diagnosis.get("ipv4", [])]
    resolves += diagnosis.get("ipv6", [])
    if diagnosis:
        print(f"resolves to:   {', '.join(resolves) or 'nothing'}")
    for problem in diagnosis.get("problems", []):
        print(f"problem:       {problem['message']}")
    if diagnosis and not diagnosis.get("verified"):
        for record in diagnosis.get("records_to_create", []):
            print(f"create:        {record['name']} {record['type']} {record['target']}")
    if certificate is not None:
        print(
            f"certificate:   serial {certificate.serial} from {certificate.issuer},"
            f" valid until {when(certificate.not_after)}"
        )
    print(f"next check:    {when(domain.next_check_at)}")


async def domain_add(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        tenant = await registry.get_tenant_by_slug(pool, arguments.slug)
        domain = await domains.add_domain(
            pool,
            tenant_id=tenant.id,
            name=arguments.name,
            base_domain=settings.base_domain,
            claim_lifetime=timedelta(days=settings.domain_claim_days),
        )
    print(f"added {domain.name} to tenant {tenant.slug} (status {domain.status})")
    print(f"next: create the DNS record  {domain.name} CNAME {settings.cname_target}")
    print(f"and the ownership proof      {domain.proof_record_name} TXT {domain.proof_token}")
    print(f"unproven claims expire at    {when(domain.claim_expires_at)}")
    print(f"then: gateway domain check {domain.name}")
    return 0


async def domain_check(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        domain = await domains.find_domain(pool, arguments.name)
        services = await lifecycle_services(settings, pool)
        domain = await lifecycle.check_now(services, domain)
        certificate = await lifecycle.latest_certificate(pool, domain)
    _print_domain(domain, certificate)
    return 0


async def domain_list(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        tenants = (
            [await registry.get_tenant_by_slug(pool, arguments.slug)]
            if arguments.slug
            else await registry.list_tenants(pool)
        )
        rows: list[tuple[str, ...]] = []
        for tenant in tenants:
            found = await domains.list_domains(pool, tenant_id=tenant.id)
            certificates = await lifecycle.certificates_of(
                pool, tenant_id=tenant.id, domain_ids=[d.id for d in found]
            )
            for domain in found:
                certificate = certificates.get(domain.id)
                rows.append(
                    (
                        domain.name,
                        tenant.slug,
                        domain.status,
                        when(certificate.not_after if certificate else None),
                        when(domain.next_check_at),
                        domain.failure_reason or "",
                    )
                )
    if not rows:
        print("no custom domains yet: add one with `gateway domain add SLUG NAME`")
        return 0
    header = ("NAME", "TENANT", "STATUS", "CERTIFICATE UNTIL", "NEXT CHECK", "REASON")
    print_table([header, *rows], sys.stdout)
    return 0


async def domain_remove(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        tenant = await registry.get_tenant_by_slug(pool, arguments.slug)
        await domains.delete_domain(pool, tenant_id=tenant.id, name=arguments.name)
    print(f"removed {arguments.name.strip().lower()} from tenant {tenant.slug}")
    return 0

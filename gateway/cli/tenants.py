"""`gateway tenant create|list|show`: tenants from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from gateway.cli.command import open_pool, print_table, subcommand, tenant_url
from gateway.settings import Settings
from gateway.tenants import api_keys, domains, registry
from gateway.tenants.api_keys import ApiKey
from gateway.tenants.domains import Domain
from gateway.tenants.models import Tenant
from kernel.text import escape_controls


def add_tenant_commands(commands: Any) -> None:
    """Add `tenant` and its subcommands to the top-level subparsers `commands`."""
    tenant = subcommand(
        commands,
        "tenant",
        None,
        "Create, list and show tenants.",
        """
        gateway tenant create --slug alpeak --name Alpeak --brand-color '#0e7c66'
        gateway tenant list
        gateway tenant show alpeak
        """,
    )
    tenant_commands = tenant.add_subparsers(title="commands", metavar="COMMAND", required=True)
    create = subcommand(
        tenant_commands,
        "create",
        tenant_create,
        "Create a tenant, served at <slug>.<base domain>.",
        "gateway tenant create --slug alpeak --name Alpeak --brand-color '#0e7c66'",
    )
    create.add_argument(
        "--slug", required=True, help="lower-case letters, digits and hyphens; the host name label"
    )
    create.add_argument("--name", required=True, help="name shown to the tenant's customers")
    create.add_argument(
        "--brand-color", default=None, metavar="#RRGGBB", help="brand colour (default #4f46e5)"
    )
    create.add_argument(
        "--currency", default="EUR", metavar="CODE", help="default ISO 4217 currency (EUR)"
    )
    subcommand(
        tenant_commands,
        "list",
        tenant_list,
        "List tenants with their URLs.",
        "gateway tenant list",
    )
    show = subcommand(
        tenant_commands,
        "show",
        tenant_show,
        "Show a tenant's settings, domains and API keys (ids and prefixes, never secrets).",
        "gateway tenant show alpeak",
    )
    show.add_argument("slug", metavar="SLUG", help="the tenant's slug")


async def tenant_create(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        tenant = await registry.create_tenant(
            pool,
            slug=arguments.slug,
            name=arguments.name,
            brand_color=arguments.brand_color,
            default_currency=arguments.currency,
        )
    name = escape_controls(tenant.name)
    print(f"created tenant {tenant.slug} ({name}) at {tenant_url(settings, tenant)}")
    return 0


async def tenant_list(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        tenants = await registry.list_tenants(pool)
    if not tenants:
        print("no tenants yet: create one with `gateway tenant create` or `gateway demo`")
        return 0
    rows = [("SLUG", "NAME", "COLOUR", "URL")] + [
        (t.slug, t.name, t.brand_color, tenant_url(settings, t)) for t in tenants
    ]
    print_table(rows, sys.stdout)
    return 0


async def tenant_show(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        tenant = await registry.get_tenant_by_slug(pool, arguments.slug)
        tenant_domains = await domains.list_domains(pool, tenant_id=tenant.id)
        keys = await api_keys.list_api_keys(pool, tenant_id=tenant.id)
    out = sys.stdout
    _print_settings(settings, tenant, out)
    _print_domains_and_keys(tenant_domains, keys, out)
    return 0


def _print_settings(settings: Settings, tenant: Tenant, out: TextIO) -> None:
    wallet, portal = tenant.wallet, tenant.portal
    print(f"slug:              {tenant.slug}", file=out)
    print(f"name:              {escape_controls(tenant.name)}", file=out)
    print(f"url:               {tenant_url(settings, tenant)}", file=out)
    print(f"brand colour:      {tenant.brand_color}", file=out)
    print(f"icon:              {tenant.icon_type or 'none'}", file=out)
    print(f"default currency:  {tenant.default_currency}", file=out)
    print(
        f"wallet top-ups:    {'enabled' if wallet.topups_enabled else 'disabled'} "
        f"(per payment {wallet.topup_min}-{wallet.topup_max}, balance at most "
        f"{wallet.max_balance}; minor units)",
        file=out,
    )
    print(
        f"portal:            links by {portal.link_mode} (signed links last "
        f"{portal.link_ttl_seconds} s); billing info editing "
        f"{'on' if portal.billing_edit_enabled else 'off'}; "
        f"{'no ' if not portal.allow_no_payment_method else ''}access without a payment method; "
        f"cancel at period end {'on' if portal.subscription_cancel_enabled else 'off'}",
        file=out,
    )
    print(f"webhook url:       {escape_controls(tenant.webhook_url or 'none')}", file=out)


def _print_domains_and_keys(tenant_domains: list[Domain], keys: list[ApiKey], out: TextIO) -> None:
    print("domains:", file=out)
    if not tenant_domains:
        print("  none", file=out)
    print_table(
        [(d.name, d.status, d.failure_reason or "") for d in tenant_domains], out, indent="  "
    )
    print("API keys:", file=out)
    if not keys:
        print("  none", file=out)
    print_table(
        [
            (
                key.id,
                key.key_prefix + "...",
                key.name or "-",
                f"created {key.created_at:%Y-%m-%d %H:%M}",
                "revoked" if key.revoked_at else "active",
            )
            for key in keys
        ],
        out,
        indent="  ",
    )

"""`gateway apikey create|revoke`: tenants' API keys from the command line."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli.command import open_pool, subcommand
from gateway.settings import Settings
from gateway.tenants import api_keys, registry


def add_api_key_commands(commands: Any) -> None:
    """Add `apikey` and its subcommands to the top-level subparsers `commands`."""
    apikey = subcommand(
        commands,
        "apikey",
        None,
        "Create and revoke tenant API keys.",
        """
        gateway apikey create alpeak --name billing-sync
        gateway apikey revoke key_4Hq8...
        """,
    )
    apikey_commands = apikey.add_subparsers(title="commands", metavar="COMMAND", required=True)
    key_create = subcommand(
        apikey_commands,
        "create",
        apikey_create,
        "Create an API key for a tenant; the key is printed once and cannot be shown again.",
        "gateway apikey create alpeak --name billing-sync",
    )
    key_create.add_argument("slug", metavar="SLUG", help="the tenant's slug")
    key_create.add_argument("--name", default="", help="label to recognise the key by")
    key_revoke = subcommand(
        apikey_commands,
        "revoke",
        apikey_revoke,
        "Revoke an API key; requests with it are refused from now on.",
        "gateway apikey revoke key_4Hq8...",
    )
    key_revoke.add_argument("key_id", metavar="KEY_ID", help="the key's id (key_...)")


async def apikey_create(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        tenant = await registry.get_tenant_by_slug(pool, arguments.slug)
        key, secret = await api_keys.create_api_key(pool, tenant_id=tenant.id, name=arguments.name)
    print(f"API key {key.id} for tenant {tenant.slug}:")
    print(secret)
    print("This key is shown only once: store it now (send it as 'Authorization: Bearer <key>').")
    return 0


async def apikey_revoke(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        key = await api_keys.revoke_api_key(pool, key_id=arguments.key_id)
        tenant = await registry.get_tenant(pool, key.tenant_id)
    print(f"revoked API key {key.id} ({key.key_prefix}...) of tenant {tenant.slug}")
    return 0

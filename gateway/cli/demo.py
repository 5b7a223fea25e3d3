"""`gateway demo`, and what `gateway serve --demo` prepares before it serves.

Both seed the demo tenants once and print the URLs to open. `serve --demo`
also keeps the demo API key in the data directory, makes a demo checkout
session and, unless a Stripe of the operator's own is configured, serves
localstripe in this process so payments work offline; unless an SMTP server is
configured, it also runs a local one that keeps the customers' mail in an mbox
file in the data directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg

from gateway.cli.command import connect, open_pool, subcommand
from gateway.database.pool import create_pool, locate_database, resolve_kek
from gateway.settings import Settings, env_name
from gateway.tenants import api_keys
from kernel.sealing import Sealer

if TYPE_CHECKING:  # imported when used: the other commands need neither
    from gateway.demo.payments import LocalStripe
    from gateway.demo.seed import DemoInfo


def add_demo_command(commands: Any) -> None:
    """Add `demo` to the top-level subparsers `commands`."""
    subcommand(
        commands,
        "demo",
        demo_command,
        "Seed the demo tenants alpeak and bergfeld with customers, subscriptions, invoices and "
        "wallets (once: running it again changes nothing), then print the URLs to open and a "
        "fresh API key.",
        "gateway demo",
    )


async def demo_command(arguments: argparse.Namespace, settings: Settings) -> int:
    from gateway.demo.access import demo_lines
    from gateway.demo.checkout import check_demo_settings
    from gateway.demo.seed import seed_demo

    check_demo_settings(settings)  # before anything is created
    async with open_pool(settings) as pool:
        info = await seed_demo(pool)
        _, secret = await api_keys.create_api_key(pool, tenant_id=info.tenant.id, name="demo")
        root = await _write_root(settings, pool)
    if info.created:
        print(f"seeded the demo tenants {', '.join(_demo_slugs(info))}")
    else:
        print(f"the demo tenant {info.tenant.slug} exists already; it was not seeded again")
    for line in with_settings_page(
        settings, demo_lines(settings, info, api_key=secret, root_path=root)
    ):
        print(line)
    return 0


@dataclass(frozen=True)
class ServedDemo:
    """What `serve --demo` serves with: settings (pointed at localstripe when it runs here),
    the lines printed after the listening line, and the settings worker processes inherit."""

    settings: Settings
    lines: list[str]
    overrides: dict[str, str] = field(default_factory=dict)


async def prepare_demo(settings: Settings, stack: contextlib.AsyncExitStack) -> ServedDemo:
    """Seed the demo (once), start localstripe if payments need it, and say what to print.

    Whatever must outlive serving (an embedded PostgreSQL started here, which the
    app then reuses, and localstripe) is closed by `stack`.
    """
    from gateway.demo.access import demo_lines
    from gateway.demo.checkout import check_demo_settings
    from gateway.demo.shop import start_demo_shop, upstreams_value

    check_demo_settings(settings)  # before anything is created
    location = await asyncio.to_thread(locate_database, settings)
    stack.push_async_callback(asyncio.to_thread, location.close)
    pool = await connect(location, lambda: create_pool(location.url, min_size=1, max_size=2))
    try:
        seeded = await _seed(settings, pool)
    finally:
        await pool.close()
    overrides: dict[str, str] = {}
    if seeded.local_stripe is not None:
        # Offline payments: this process serves localstripe; the app points at it.
        stack.push_async_callback(seeded.local_stripe.close)
        settings = seeded.local_stripe.settings_for(settings)
        overrides = {
            env_name("stripe_api_base"): settings.stripe_api_base,
            env_name("stripe_js_url"): settings.stripe_js_url,
        }
    mail_line = None
    if settings.smtp_host is None:
        # The customers' mail goes to a local SMTP server writing an mbox file.
        from gateway.demo.mailbox import start_demo_mailbox

        demo_mailbox = await start_demo_mailbox(Path(settings.data_dir))
        if demo_mailbox is not None:
            stack.push_async_callback(demo_mailbox.close)
            settings = demo_mailbox.settings_for(settings)
            overrides |= {
                env_name("smtp_host"): "127.0.0.1",
                env_name("smtp_port"): str(demo_mailbox.port),
                env_name("smtp_security"): "none",
            }
            mail_line = (
                f"Customer mail (SMTP on 127.0.0.1:{demo_mailbox.port}) is kept in "
                f"{demo_mailbox.path} (an mbox file: open it with a mail client, or read it)"
            )
    # Where the demo checkout returns: the demo merchant's pages, proxied on tenant hosts.
    shop = await start_demo_shop()
    stack.push_async_callback(shop.close)
    settings = shop.settings_for(settings)
    overrides[env_name("upstreams")] = upstreams_value(settings)
    lines = with_settings_page(
        settings, demo_lines(settings, seeded.info, api_key=seeded.api_key, root_path=seeded.root)
    )
    api_line = next(i for i, line in enumerate(lines) if line.startswith("API base URL"))
    lines.insert(api_line, seeded.checkout_line)
    lines.insert(api_line + 1, seeded.renewal_line)
    if mail_line is not None:
        lines.insert(api_line + 2, mail_line)
    return ServedDemo(settings, lines, overrides)


@dataclass(frozen=True)
class _Seeded:
    info: DemoInfo
    api_key: str
    root: Path | None
    local_stripe: LocalStripe | None
    checkout_line: str
    renewal_line: str


async def _seed(settings: Settings, pool: asyncpg.Pool[Any]) -> _Seeded:
    from gateway.demo.access import ensure_demo_api_key
    from gateway.demo.checkout import demo_checkout
    from gateway.demo.renewal import renewal_line, seed_renewal_demo
    from gateway.demo.seed import seed_demo

    info = await seed_demo(pool)
    key = await ensure_demo_api_key(
        pool, tenant=info.tenant, key_file=Path(settings.data_dir) / "demo-api-key"
    )
    root = await _write_root(settings, pool)
    local_stripe = await _start_demo_payments(settings, pool, info)
    checkout = await demo_checkout(pool, settings, info)
    customer = next(c for c in info.customers if c.tenant_slug == info.tenant.slug)
    renews_at = await seed_renewal_demo(pool, tenant=info.tenant, customer=customer)
    renewal = renewal_line(settings, customer, renews_at)
    return _Seeded(info, key, root, local_stripe, checkout.line, renewal)


async def _start_demo_payments(
    settings: Settings, pool: asyncpg.Pool[Any], info: DemoInfo
) -> LocalStripe | None:
    """localstripe for the demo (payments work offline), unless a real Stripe is configured."""
    from gateway.demo.payments import connect_demo_payments, start_local_stripe

    if settings.stripe_api_base != Settings().stripe_api_base:
        return None  # the operator pointed the gateway at a Stripe of their own
    local = await start_local_stripe(Path(settings.data_dir))
    if local is not None:
        sealer = Sealer(await asyncio.to_thread(resolve_kek, settings))
        await connect_demo_payments(pool, sealer, local, tenant_slugs=_demo_slugs(info))
    return local


def with_settings_page(settings: Settings, lines: list[str]) -> list[str]:
    """The demo lines with the settings page's URL just before the demo API key it takes."""
    from gateway.edge.app_host import PREFIX

    url = settings.public_url(settings.app_host) + PREFIX
    key_line = next(
        (i for i, line in enumerate(lines) if line.startswith("Demo API key")), len(lines)
    )
    return [
        *lines[:key_line],
        f"Settings page (sign in with the demo API key): {url}",
        *lines[key_line:],
    ]


async def _write_root(settings: Settings, pool: asyncpg.Pool[Any]) -> Path | None:
    """With the internal issuer: its root written to the data directory, for clients to trust."""
    if settings.issuer != "internal":
        return None
    from gateway.demo.access import write_internal_root

    sealer = Sealer(await asyncio.to_thread(resolve_kek, settings))
    return await write_internal_root(
        pool, sealer, Path(settings.data_dir), permitted_names=settings.internal_ca_permitted_names
    )


def _demo_slugs(info: DemoInfo) -> list[str]:
    return [tenant.slug for tenant in (info.tenant, info.other_tenant) if tenant is not None]

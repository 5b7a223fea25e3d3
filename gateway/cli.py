"""The `gateway` command: serve, migrate, manage tenants, API keys, domains and certificates."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import asyncpg

from billing.errors import BillingError
from certs.errors import CertsError
from certs.renewal import renewal_time
from gateway.database import DatabaseLocation, create_pool, locate_database, resolve_kek
from gateway.embedded_postgres import EmbeddedPostgresError
from gateway.issuers import build_issuer
from gateway.logging_setup import configure_logging
from gateway.migrate import MigrationError, load_migrations, migrate
from gateway.settings import Settings, SettingsError, describe_settings, env_name, load_settings
from gateway.tenants import api_keys, domains, lifecycle, registry
from gateway.tenants.domains import Domain
from gateway.tenants.errors import TenantError
from gateway.tenants.models import Tenant
from kernel.sealing import Sealer
from kernel.text import escape_controls

PROG = "gateway"
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


class CommandError(Exception):
    """A failure the user can act on; its message is printed as one line."""


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


def _fail(message: str, status: int = EXIT_FAILURE) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return status


def _install_uvloop() -> None:
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


# --- the parser -------------------------------------------------------------------------------


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


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


def _subcommand(
    group: Any, name: str, handler: Command | None, summary: str, examples: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(
        name,
        help=summary,
        description=summary,
        epilog="examples:\n" + textwrap.indent(textwrap.dedent(examples).strip(), "  "),
        formatter_class=_Formatter,
    )
    if handler is not None:
        parser.set_defaults(command=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand, with descriptions and examples."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Multi-tenant billing edge gateway: branded customer portals and an API per tenant.\n"
            "Without DATABASE_URL it starts an embedded PostgreSQL in the data directory."
        ),
        epilog=_settings_epilog(),
        formatter_class=_Formatter,
    )
    parser.add_argument(
        "--config", type=Path, default=None, metavar="FILE", help="TOML settings file"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command_name")

    serve = _subcommand(
        commands,
        "serve",
        _serve,
        "Serve the portal and the tenant API on GATEWAY_HTTP_HOST:GATEWAY_HTTP_PORT "
        "until SIGINT or SIGTERM.",
        """
        gateway serve
        gateway serve --demo
        gateway serve --workers 4
        GATEWAY_HTTP_PORT=9000 gateway serve
        """,
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="seed the demo tenants once (if absent) and print the URLs to open and an API key",
    )
    serve.add_argument(
        "--workers",
        type=_worker_count_argument,
        default=None,
        metavar="N",
        help="worker processes sharing the ports (default GATEWAY_WORKERS; 0: one per CPU; "
        "1: this process only)",
    )
    # Internal: how the supervising process starts worker number I.
    serve.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)

    _subcommand(
        commands,
        "migrate",
        _migrate,
        "Apply the pending database migrations (safe while other replicas run).",
        """
        gateway migrate
        DATABASE_URL=postgresql://user:pw@db:5432/gateway GATEWAY_KEK=... gateway migrate
        """,
    )

    tenant = _subcommand(
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
    create = _subcommand(
        tenant_commands,
        "create",
        _tenant_create,
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
    _subcommand(
        tenant_commands,
        "list",
        _tenant_list,
        "List tenants with their URLs.",
        "gateway tenant list",
    )
    show = _subcommand(
        tenant_commands,
        "show",
        _tenant_show,
        "Show a tenant's settings, domains and API keys (ids and prefixes, never secrets).",
        "gateway tenant show alpeak",
    )
    show.add_argument("slug", metavar="SLUG", help="the tenant's slug")

    apikey = _subcommand(
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
    key_create = _subcommand(
        apikey_commands,
        "create",
        _apikey_create,
        "Create an API key for a tenant; the key is printed once and cannot be shown again.",
        "gateway apikey create alpeak --name billing-sync",
    )
    key_create.add_argument("slug", metavar="SLUG", help="the tenant's slug")
    key_create.add_argument("--name", default="", help="label to recognise the key by")
    key_revoke = _subcommand(
        apikey_commands,
        "revoke",
        _apikey_revoke,
        "Revoke an API key; requests with it are refused from now on.",
        "gateway apikey revoke key_4Hq8...",
    )
    key_revoke.add_argument("key_id", metavar="KEY_ID", help="the key's id (key_...)")

    _add_domain_commands(commands)
    _add_cert_commands(commands)

    _subcommand(
        commands,
        "demo",
        _demo,
        "Seed the demo tenants alpeak and bergfeld with customers, subscriptions, invoices and "
        "wallets (once: running it again changes nothing), then print the URLs to open and a "
        "fresh API key.",
        "gateway demo",
    )
    return parser


def _add_domain_commands(commands: Any) -> None:
    domain = _subcommand(
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
    add = _subcommand(
        domain_commands,
        "add",
        _domain_add,
        "Claim a custom domain for a tenant; it is served once its CNAME points at "
        "cname.<base domain> and its certificate is issued (the running gateway does both).",
        "gateway domain add alpeak billing.alpeak.com",
    )
    add.add_argument("slug", metavar="SLUG", help="the tenant's slug")
    add.add_argument("name", metavar="NAME", help="the domain, e.g. billing.alpeak.com")
    check = _subcommand(
        domain_commands,
        "check",
        _domain_check,
        "Check a domain's DNS now and print the diagnosis; a domain that points at us gets "
        "its certificate at once.",
        "gateway domain check billing.alpeak.com",
    )
    check.add_argument("name", metavar="NAME", help="the domain")
    listing = _subcommand(
        domain_commands,
        "list",
        _domain_list,
        "List custom domains (all tenants', or one tenant's) with status and certificate expiry.",
        """
        gateway domain list
        gateway domain list alpeak
        """,
    )
    listing.add_argument("slug", metavar="SLUG", nargs="?", help="only this tenant's domains")
    remove = _subcommand(
        domain_commands,
        "remove",
        _domain_remove,
        "Remove a tenant's custom domain and its certificates; it is no longer served.",
        "gateway domain remove alpeak billing.alpeak.com",
    )
    remove.add_argument("slug", metavar="SLUG", help="the tenant's slug")
    remove.add_argument("name", metavar="NAME", help="the domain")


def _add_cert_commands(commands: Any) -> None:
    cert = _subcommand(
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
    _subcommand(
        cert_commands,
        "list",
        _cert_list,
        "List the newest certificate of every domain: names, issuer, serial, expiry, renewal.",
        "gateway cert list",
    )
    renew = _subcommand(
        cert_commands,
        "renew",
        _cert_renew,
        "Renew an active domain's certificate now, whatever its expiry (the CA's budgets "
        "still apply).",
        "gateway cert renew billing.alpeak.com",
    )
    renew.add_argument("name", metavar="NAME", help="the domain")


# --- database access --------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def open_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool[Any]]:
    """A migrated pool on the configured database; stops an embedded server started for it."""
    location = await asyncio.to_thread(locate_database, settings)
    try:
        pool = await _connect(location, lambda: create_pool(location.url, min_size=1, max_size=4))
        try:
            yield pool
        finally:
            await pool.close()
    finally:
        await asyncio.to_thread(location.close)


async def _connect(location: DatabaseLocation, opener: Callable[[], Any]) -> Any:
    try:
        return await opener()
    except (OSError, TimeoutError) as error:
        parts = urlsplit(location.url)
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
        raise CommandError(f"cannot connect to PostgreSQL at {where}: {error}") from None


def _tenant_url(settings: Settings, tenant: Tenant) -> str:
    return settings.public_url(f"{tenant.slug}.{settings.base_domain}") + "/"


# --- commands ---------------------------------------------------------------------------------


def _worker_count_argument(text: str) -> int:
    if not text.isdigit() or int(text) > 1024:
        raise argparse.ArgumentTypeError("expected a number of processes from 0 to 1024")
    return int(text)


async def _serve(arguments: argparse.Namespace, settings: Settings) -> int:
    from gateway import workers
    from gateway.server import serve

    if arguments.worker is not None:
        # A worker of `gateway serve --workers N`: the parent already seeded and printed.
        stop = asyncio.Event()
        watcher = asyncio.create_task(workers.watch_parent(stop, os.getppid()))
        try:
            await serve(
                settings,
                ready=workers.announce_ready,
                stop=stop,
                reuse_port=True,
                worker_index=arguments.worker,
            )
        finally:
            watcher.cancel()
        return 0
    count = workers.worker_count(
        settings.workers if arguments.workers is None else arguments.workers
    )
    lines: list[str] = []

    def ready(urls: list[str]) -> None:
        print(f"gateway listening on {', '.join(urls)}")
        for line in lines:
            print(line)
        sys.stdout.flush()

    overrides: dict[str, str] = {}
    async with contextlib.AsyncExitStack() as stack:
        if arguments.demo:
            from gateway.demo import (
                check_demo_settings,
                demo_checkout,
                demo_lines,
                ensure_demo_api_key,
                seed_demo,
            )

            check_demo_settings(settings)  # before anything is created

            # An embedded server started here keeps running while the app reuses it, and
            # stops when serving ends.
            location = await asyncio.to_thread(locate_database, settings)
            stack.push_async_callback(asyncio.to_thread, location.close)
            pool = await _connect(
                location, lambda: create_pool(location.url, min_size=1, max_size=2)
            )
            try:
                info = await seed_demo(pool)
                key = await ensure_demo_api_key(
                    pool, tenant=info.tenant, key_file=Path(settings.data_dir) / "demo-api-key"
                )
                root = await _write_root(settings, pool)
                local_stripe = await _start_demo_payments(settings, pool, info)
                checkout = await demo_checkout(pool, settings, info)
            finally:
                await pool.close()
            if local_stripe is not None:
                # Offline payments: this process serves localstripe; the app points at it.
                stack.push_async_callback(local_stripe.close)
                settings = local_stripe.settings_for(settings)
                overrides = {
                    env_name("stripe_api_base"): settings.stripe_api_base,
                    env_name("stripe_js_url"): settings.stripe_js_url,
                }
            lines = with_settings_page(
                settings, demo_lines(settings, info, api_key=key, root_path=root)
            )
            api_line = next(i for i, line in enumerate(lines) if line.startswith("API base URL"))
            lines.insert(api_line, checkout.line)
        if count == 1:
            await serve(settings, ready=ready)
            return 0
        config = [] if arguments.config is None else ["--config", str(arguments.config)]
        try:
            await workers.run_workers(
                settings, count=count, global_arguments=config, ready=ready, overrides=overrides
            )
        except workers.WorkerFailedToStart as error:
            raise CommandError(str(error)) from None
    return 0


async def _start_demo_payments(settings: Settings, pool: Any, info: Any) -> Any:
    """localstripe for the demo (payments work offline), unless a real Stripe is configured."""
    from gateway.demo_payments import connect_demo_payments, start_local_stripe

    if settings.stripe_api_base != Settings().stripe_api_base:
        return None  # the operator pointed the gateway at a Stripe of their own
    local = await start_local_stripe(Path(settings.data_dir))
    if local is not None:
        sealer = Sealer(await asyncio.to_thread(resolve_kek, settings))
        await connect_demo_payments(pool, sealer, local, tenant_slugs=_demo_slugs(info))
    return local


async def _migrate(arguments: argparse.Namespace, settings: Settings) -> int:
    location = await asyncio.to_thread(locate_database, settings)
    try:
        connection = await _connect(location, lambda: asyncpg.connect(location.url))
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


async def _tenant_create(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        tenant = await registry.create_tenant(
            pool,
            slug=arguments.slug,
            name=arguments.name,
            brand_color=arguments.brand_color,
            default_currency=arguments.currency,
        )
    name = escape_controls(tenant.name)
    print(f"created tenant {tenant.slug} ({name}) at {_tenant_url(settings, tenant)}")
    return 0


async def _tenant_list(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        tenants = await registry.list_tenants(pool)
    if not tenants:
        print("no tenants yet: create one with `gateway tenant create` or `gateway demo`")
        return 0
    rows = [("SLUG", "NAME", "COLOUR", "URL")] + [
        (t.slug, t.name, t.brand_color, _tenant_url(settings, t)) for t in tenants
    ]
    _print_table(rows, sys.stdout)
    return 0


async def _tenant_show(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        tenant = await registry.get_tenant_by_slug(pool, arguments.slug)
        tenant_domains = await domains.list_domains(pool, tenant_id=tenant.id)
        keys = await api_keys.list_api_keys(pool, tenant_id=tenant.id)
    wallet, portal = tenant.wallet, tenant.portal
    out = sys.stdout
    print(f"slug:              {tenant.slug}", file=out)
    print(f"name:              {escape_controls(tenant.name)}", file=out)
    print(f"url:               {_tenant_url(settings, tenant)}", file=out)
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
        f"{'no ' if not portal.allow_no_payment_method else ''}access without a payment method",
        file=out,
    )
    print(f"webhook url:       {escape_controls(tenant.webhook_url or 'none')}", file=out)
    print("domains:", file=out)
    if not tenant_domains:
        print("  none", file=out)
    _print_table(
        [(d.name, d.status, d.failure_reason or "") for d in tenant_domains], out, indent="  "
    )
    print("API keys:", file=out)
    if not keys:
        print("  none", file=out)
    _print_table(
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
    return 0


async def _apikey_create(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        tenant = await registry.get_tenant_by_slug(pool, arguments.slug)
        key, secret = await api_keys.create_api_key(pool, tenant_id=tenant.id, name=arguments.name)
    print(f"API key {key.id} for tenant {tenant.slug}:")
    print(secret)
    print("This key is shown only once: store it now (send it as 'Authorization: Bearer <key>').")
    return 0


async def _apikey_revoke(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        key = await api_keys.revoke_api_key(pool, key_id=arguments.key_id)
        tenant = await registry.get_tenant(pool, key.tenant_id)
    print(f"revoked API key {key.id} ({key.key_prefix}...) of tenant {tenant.slug}")
    return 0


async def _demo(arguments: argparse.Namespace, settings: Settings) -> int:
    from gateway.demo import check_demo_settings, demo_lines, seed_demo

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


def with_settings_page(settings: Settings, lines: list[str]) -> list[str]:
    """The demo lines with the settings page's URL just before the demo API key it takes."""
    from gateway.dashboard.paths import PREFIX

    url = settings.public_url(settings.app_host) + PREFIX
    key_line = next(
        (i for i, line in enumerate(lines) if line.startswith("Demo API key")), len(lines)
    )
    return [
        *lines[:key_line],
        f"Settings page (sign in with the demo API key): {url}",
        *lines[key_line:],
    ]


async def _lifecycle_services(
    settings: Settings, pool: asyncpg.Pool[Any]
) -> lifecycle.LifecycleServices:
    sealer = Sealer(await asyncio.to_thread(resolve_kek, settings))
    issuer = await build_issuer(settings, pool, sealer)
    return lifecycle.LifecycleServices.build(
        pool=pool, sealer=sealer, settings=settings, issuer=issuer
    )


def _when(moment: Any) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def _print_domain(domain: Domain, certificate: lifecycle.CertificateInfo | None) -> None:
    print(f"domain:        {domain.name}")
    print(f"status:        {domain.status}")
    if domain.proven_at is None:
        print(f"ownership:     not proven; the claim expires {_when(domain.claim_expires_at)}")
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
            f" valid until {_when(certificate.not_after)}"
        )
    print(f"next check:    {_when(domain.next_check_at)}")


async def _domain_add(arguments: argparse.Namespace, settings: Settings) -> int:
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
    print(f"unproven claims expire at    {_when(domain.claim_expires_at)}")
    print(f"then: gateway domain check {domain.name}")
    return 0


async def _domain_check(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        domain = await domains.find_domain(pool, arguments.name)
        services = await _lifecycle_services(settings, pool)
        domain = await lifecycle.check_now(services, domain)
        certificate = await lifecycle.latest_certificate(pool, domain)
    _print_domain(domain, certificate)
    return 0


async def _domain_list(arguments: argparse.Namespace, settings: Settings) -> int:
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
                        _when(certificate.not_after if certificate else None),
                        _when(domain.next_check_at),
                        domain.failure_reason or "",
                    )
                )
    if not rows:
        print("no custom domains yet: add one with `gateway domain add SLUG NAME`")
        return 0
    header = ("NAME", "TENANT", "STATUS", "CERTIFICATE UNTIL", "NEXT CHECK", "REASON")
    _print_table([header, *rows], sys.stdout)
    return 0


async def _domain_remove(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        tenant = await registry.get_tenant_by_slug(pool, arguments.slug)
        await domains.delete_domain(pool, tenant_id=tenant.id, name=arguments.name)
    print(f"removed {arguments.name.strip().lower()} from tenant {tenant.slug}")
    return 0


async def _cert_list(arguments: argparse.Namespace, settings: Settings) -> int:
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
                _when(row["not_after"]),
                _when(renews),
            )
        )
    _print_table(table, sys.stdout)
    return 0


async def _cert_renew(arguments: argparse.Namespace, settings: Settings) -> int:
    async with open_pool(settings) as pool:
        domain = await domains.find_domain(pool, arguments.name)
        if domain.status != lifecycle.ACTIVE:
            raise CommandError(
                f"{domain.name} is {domain.status}, not active: run `gateway domain check"
                f" {domain.name}` to see why"
            )
        before = await lifecycle.latest_certificate(pool, domain)
        services = await _lifecycle_services(settings, pool)
        domain = await lifecycle.renew_now(services, domain)
        after = await lifecycle.latest_certificate(pool, domain)
    if after is None or (before is not None and after.serial == before.serial):
        why = domain.failure_reason or "another renewal is running"
        raise CommandError(f"{domain.name} was not renewed: {why}")
    print(
        f"renewed {domain.name}: serial {after.serial} from {after.issuer},"
        f" valid until {_when(after.not_after)}"
    )
    return 0


async def _write_root(settings: Settings, pool: asyncpg.Pool[Any]) -> Path | None:
    """With the internal issuer: its root written to the data directory, for clients to trust."""
    if settings.issuer != "internal":
        return None
    from gateway.demo import write_internal_root

    sealer = Sealer(await asyncio.to_thread(resolve_kek, settings))
    return await write_internal_root(
        pool, sealer, Path(settings.data_dir), permitted_names=settings.internal_ca_permitted_names
    )


def _demo_slugs(info: Any) -> list[str]:
    return [tenant.slug for tenant in (info.tenant, info.other_tenant) if tenant is not None]


def _print_table(rows: Sequence[Sequence[str]], out: TextIO, *, indent: str = "") -> None:
    if not rows:
        return
    # Stored names may hold escape sequences from before they were refused: shown, not run.
    rows = [[escape_controls(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        print(indent + "  ".join(cells).rstrip(), file=out)

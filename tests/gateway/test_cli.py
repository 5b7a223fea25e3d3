"""The `gateway` command line, run as an operator runs it: a subprocess against a real database."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from gateway.cli import main
from gateway.database.embedded import RELOCATED_ROOT, EmbeddedPostgres, free_port
from gateway.demo.access import ensure_demo_api_key
from gateway.demo.seed import seed_demo
from gateway.tenants.api_keys import authenticate, list_api_keys, revoke_api_key
from gateway.tenants.errors import InvalidApiKey
from tests.gateway.gateway_process import inherited_environment


@dataclass(frozen=True)
class Result:
    status: int
    out: str
    err: str


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a CLI run on this test's database."""
    environment = inherited_environment()
    environment.update(
        DATABASE_URL=database_url,
        GATEWAY_KEK=base64.b64encode(os.urandom(32)).decode(),
        GATEWAY_DATA_DIR=str(tmp_path / "data"),
    )
    return environment


async def gateway(environment: dict[str, str], *arguments: str) -> Result:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        *arguments,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


async def test_a_created_tenant_is_listed_with_its_url(cli_env: dict[str, str]) -> None:
    created = await gateway(
        cli_env, "tenant", "create", "--slug", "alpeak", "--name", "Alpeak", "--brand-color",
        "#0E7C66",
    )  # fmt: skip
    listed = await gateway(cli_env, "tenant", "list")

    assert created.status == 0, created.err
    assert "alpeak" in created.out
    assert listed.status == 0, listed.err
    row = next(line for line in listed.out.splitlines() if line.startswith("alpeak"))
    assert "Alpeak" in row
    assert "#0e7c66" in row
    assert "http://alpeak.localhost:8080/" in row


async def test_a_duplicate_slug_fails_with_one_line_naming_the_slug(
    cli_env: dict[str, str],
) -> None:
    await gateway(cli_env, "tenant", "create", "--slug", "alpeak", "--name", "Alpeak")
    again = await gateway(cli_env, "tenant", "create", "--slug", "alpeak", "--name", "Other")

    assert again.status != 0
    assert again.err.strip().count("\n") == 0
    assert "alpeak" in again.err
    assert "Traceback" not in again.err


async def test_invalid_tenant_input_names_the_field(cli_env: dict[str, str]) -> None:
    result = await gateway(
        cli_env, "tenant", "create", "--slug", "Bad Slug", "--name", "X", "--brand-color", "red"
    )

    assert result.status == 1
    assert "slug:" in result.err
    assert "brand_color" in result.err
    assert "Traceback" not in result.err


async def test_a_created_api_key_authenticates_until_it_is_revoked(
    cli_env: dict[str, str], database_url: str
) -> None:
    await gateway(cli_env, "tenant", "create", "--slug", "alpeak", "--name", "Alpeak")

    created = await gateway(cli_env, "apikey", "create", "alpeak", "--name", "sync")
    assert created.status == 0, created.err
    secret = next(line for line in created.out.splitlines() if line.startswith("gwk_"))
    key_id = next(word for word in created.out.split() if word.startswith("key_"))
    assert "only once" in created.out

    connection = await asyncpg.connect(database_url)
    try:
        tenant = await authenticate(connection, secret)
        shown = await gateway(cli_env, "tenant", "show", "alpeak")
        revoked = await gateway(cli_env, "apikey", "revoke", key_id)
        with pytest.raises(InvalidApiKey):
            await authenticate(connection, secret)
    finally:
        await connection.close()

    assert tenant.slug == "alpeak"
    assert revoked.status == 0, revoked.err
    assert shown.status == 0, shown.err
    assert key_id in shown.out
    assert secret[:10] in shown.out
    assert secret not in shown.out


async def test_unknown_tenant_or_key_fails_with_one_clear_line(cli_env: dict[str, str]) -> None:
    show = await gateway(cli_env, "tenant", "show", "nobody")
    revoke = await gateway(cli_env, "apikey", "revoke", "key_000000000000000000000000")

    assert (show.status, show.err.strip()) == (1, "gateway: no tenant 'nobody'")
    assert revoke.status == 1
    assert revoke.err.strip() == "gateway: no API key key_000000000000000000000000"


async def test_migrate_on_a_current_database_says_it_is_up_to_date(
    cli_env: dict[str, str],
) -> None:
    result = await gateway(cli_env, "migrate")

    assert result.status == 0, result.err
    assert result.out.strip() == "database is up to date"


async def test_a_bad_setting_exits_2_naming_the_key(cli_env: dict[str, str]) -> None:
    result = await gateway({**cli_env, "GATEWAY_HTTP_PORT": "eighty"}, "tenant", "list")

    assert result.status == 2
    assert "GATEWAY_HTTP_PORT" in result.err
    assert "Traceback" not in result.err


async def test_an_unreachable_database_fails_with_one_line_and_no_password(
    cli_env: dict[str, str],
) -> None:
    url = f"postgresql://gateway:hunter2@127.0.0.1:{free_port()}/gateway"
    result = await gateway({**cli_env, "DATABASE_URL": url}, "tenant", "list")

    assert result.status == 1
    assert result.err.startswith("gateway: cannot connect to PostgreSQL at 127.0.0.1:")
    assert result.err.strip().count("\n") == 0
    assert "hunter2" not in result.err


async def test_top_level_help_lists_commands_and_settings(cli_env: dict[str, str]) -> None:
    result = await gateway(cli_env, "--help")

    assert result.status == 0
    for word in ("serve", "migrate", "tenant", "apikey", "demo"):
        assert word in result.out
    for setting in ("DATABASE_URL", "GATEWAY_HTTP_PORT", "GATEWAY_BASE_DOMAIN", "GATEWAY_KEK"):
        assert setting in result.out


@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        (["serve"], ["--demo", "examples:"]),
        (["migrate"], ["migrations", "examples:"]),
        (["tenant"], ["create", "list", "show"]),
        (["tenant", "create"], ["--slug", "--name", "--brand-color", "--currency"]),
        (["tenant", "list"], ["examples:"]),
        (["tenant", "show"], ["SLUG", "never secrets"]),
        (["apikey"], ["create", "revoke"]),
        (["apikey", "create"], ["SLUG", "--name", "once"]),
        (["apikey", "revoke"], ["KEY_ID"]),
        (["demo"], ["alpeak", "examples:"]),
    ],
)
def test_each_command_help_exits_0_and_mentions_its_options(
    command: list[str], mentions: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    status = main([*command, "--help"])

    out = capsys.readouterr().out
    assert status == 0
    for word in mentions:
        assert word in out


def test_no_command_prints_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: gateway" in capsys.readouterr().err


async def test_demo_seeds_once_and_each_run_prints_portal_urls_and_a_working_key(
    cli_env: dict[str, str], database_url: str
) -> None:
    first = await gateway(cli_env, "demo")
    second = await gateway(cli_env, "demo")

    assert first.status == 0, first.err
    assert second.status == 0, second.err
    assert "seeded" in first.out
    assert "exists already" in second.out

    def portal_urls(out: str) -> list[str]:
        return [line.rsplit(" ", 1)[-1] for line in out.splitlines() if "/portal/cus_" in line]

    urls = portal_urls(first.out)
    assert urls == portal_urls(second.out)
    assert sum(url.startswith("http://alpeak.localhost:8080/portal/cus_") for url in urls) >= 2
    assert "API base URL: http://api.localhost:8080/api/v1" in first.out

    connection = await asyncpg.connect(database_url)
    try:
        counts = await connection.fetchrow(
            """SELECT (SELECT count(*) FROM tenants) AS tenants,
                      (SELECT count(*) FROM customers) AS customers,
                      (SELECT count(*) FROM invoices) AS invoices,
                      (SELECT count(*) FROM wallet_ledger) AS ledger"""
        )
        alpeak = await connection.fetchrow(
            """SELECT t.id, t.icon_type, t.wallet_topups_enabled,
                      count(DISTINCT c.country) AS countries,
                      count(DISTINCT c.language) AS languages
               FROM tenants t JOIN customers c ON c.tenant_id = t.id
               WHERE t.slug = 'alpeak' GROUP BY t.id"""
        )
        assert counts is not None
        assert alpeak is not None
        per_customer = await connection.fetch(
            """SELECT c.id,
                 (SELECT count(*) FROM payment_methods p
                   WHERE p.tenant_id = c.tenant_id AND p.customer_id = c.id AND p.is_default)
                   AS cards,
                 (SELECT count(*) FROM subscription_items i JOIN subscriptions s
                   ON s.tenant_id = i.tenant_id AND s.id = i.subscription_id
                   WHERE s.tenant_id = c.tenant_id AND s.customer_id = c.id) AS items,
                 (SELECT array_agg(DISTINCT status) FROM invoices v
                   WHERE v.tenant_id = c.tenant_id AND v.customer_id = c.id) AS statuses,
                 (SELECT sum(balance) FROM wallets w
                   WHERE w.tenant_id = c.tenant_id AND w.customer_id = c.id) AS balance
               FROM customers c WHERE c.tenant_id = $1""",
            alpeak["id"],
        )
        keys = [line.rsplit(" ", 1)[-1] for line in (first.out + second.out).splitlines()]
        owners = [
            (await authenticate(connection, key)).slug for key in keys if key.startswith("gwk_")
        ]
    finally:
        await connection.close()

    assert dict(counts) == {"tenants": 2, "customers": 4, "invoices": 12, "ledger": 4}
    assert alpeak["icon_type"] == "image/png"
    assert alpeak["wallet_topups_enabled"]
    assert alpeak["countries"] >= 2
    assert alpeak["languages"] >= 2
    for customer in per_customer:
        assert customer["cards"] == 1
        assert customer["items"] == 2
        assert sorted(customer["statuses"]) == ["open", "paid"]
        assert customer["balance"] > 0
    assert owners == ["alpeak", "alpeak"]


async def test_serve_demo_prints_urls_that_answer_then_stops_cleanly_on_sigterm(
    cli_env: dict[str, str],
) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "serve",
        "--demo",
        # As `make run` does: the printed http:// URLs answer without trusting the local CA.
        env={
            **cli_env,
            "GATEWAY_HTTP_PORT": str(port),
            "GATEWAY_REDIRECT_HTTP": "false",
            "GATEWAY_HTTPS_PORT": str(free_port()),
            "GATEWAY_OPS_PORT": str(free_port()),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    printed: list[str] = []
    try:
        async with asyncio.timeout(120):
            while not printed or not printed[-1].startswith("Try:"):
                line = (await process.stdout.readline()).decode()
                assert line, "the server exited early: " + (await process.stderr.read()).decode()
                printed.append(line.strip())
        portal = next(line for line in printed if "/portal/cus_" in line).rsplit(" ", 1)[-1]
        key = next(line for line in printed if line.startswith("Demo API key")).rsplit(" ", 1)[-1]
        async with aiohttp.ClientSession() as session:
            path = portal.split(f":{port}", 1)[1]
            async with session.get(
                f"http://127.0.0.1:{port}{path}", headers={"Host": f"alpeak.localhost:{port}"}
            ) as response:
                page_status, page = response.status, await response.text()
            checkout = next(line for line in printed if line.startswith("Demo checkout"))
            checkout_path = checkout.rsplit(" ", 1)[-1].split(f":{port}", 1)[1]
            async with session.get(
                f"http://127.0.0.1:{port}{checkout_path}",
                headers={"Host": f"alpeak.localhost:{port}"},
            ) as response:
                checkout_status, checkout_page = response.status, await response.text()
            # Where the demo checkout returns: the demo merchant's page, proxied by the gateway.
            async with session.get(
                f"http://127.0.0.1:{port}/demo-shop/thanks?session=cs_x",
                headers={"Host": f"alpeak.localhost:{port}"},
            ) as response:
                shop_status, shop_page = response.status, await response.text()
            async with session.get(
                f"http://127.0.0.1:{port}/api/v1/settings",
                headers={"Host": f"api.localhost:{port}", "Authorization": f"Bearer {key}"},
            ) as response:
                api_status, settings = response.status, await response.json()
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            status = await process.wait()
        errors = (await process.stderr.read()).decode()

    assert printed[0].startswith(f"gateway listening on http://127.0.0.1:{port}, https://")
    assert portal.startswith(f"http://alpeak.localhost:{port}/portal/cus_")
    assert page_status == 200
    assert "Atelier Lumière SARL" in page
    assert checkout_status == 200
    assert "Alpeak Team" in checkout_page
    assert (shop_status, "Thank you for your order." in shop_page) == (200, True)
    assert api_status == 200
    assert settings["name"] == "Alpeak"
    assert status == 0
    assert "Traceback" not in errors
    # The demo's checkout is its own 14-day trial session, and says so.
    assert checkout.startswith("Demo checkout (14-day trial): http://alpeak.localhost:")
    # The customers' mail goes to the demo's own SMTP server, kept in an mbox file.
    mail = next(line for line in printed if line.startswith("Customer mail (SMTP on 127.0.0.1:"))
    assert "demo-mail.mbox" in mail
    # Library INFO lines (the Stripe client logs each call to localstripe) stay quiet.
    assert '"logger": "stripe' not in errors
    assert "Request to Stripe api" not in errors


async def test_the_demo_api_key_stays_the_same_across_restarts_until_revoked(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    info = await seed_demo(pool)
    key_file = tmp_path / "demo-api-key"

    first = await ensure_demo_api_key(pool, tenant=info.tenant, key_file=key_file)
    again = await ensure_demo_api_key(pool, tenant=info.tenant, key_file=key_file)
    [record] = await list_api_keys(pool, tenant_id=info.tenant.id)
    await revoke_api_key(pool, key_id=record.id)
    replaced = await ensure_demo_api_key(pool, tenant=info.tenant, key_file=key_file)

    assert again == first
    assert replaced != first
    assert (await authenticate(pool, replaced)).slug == "alpeak"
    assert key_file.read_text().strip() == replaced
    assert key_file.stat().st_mode & 0o077 == 0


async def test_control_characters_are_refused_in_names_and_escaped_in_listings(
    cli_env: dict[str, str], database_url: str
) -> None:
    refused = await gateway(
        cli_env, "tenant", "create", "--slug", "evil", "--name", "Evil\x1b[2J\x1b]0;owned\x07"
    )
    assert refused.status == 1
    assert "name: must not contain control characters" in refused.err
    assert "\x1b" not in refused.err
    # A name stored before the rule existed is shown escaped, never run by the terminal.
    await gateway(cli_env, "tenant", "create", "--slug", "alpeak", "--name", "Alpeak")
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "UPDATE tenants SET name = $1 WHERE slug = 'alpeak'", "Alpeak\x1b[2J\x1b[31m"
        )
    finally:
        await connection.close()
    listed = await gateway(cli_env, "tenant", "list")
    shown = await gateway(cli_env, "tenant", "show", "alpeak")
    for output in (listed.out, shown.out):
        assert "\x1b" not in output
        assert "Alpeak\\u001b[2J\\u001b[31m" in output


async def test_without_database_url_it_works_as_root_in_a_directory_postgres_cannot_enter(
    tmp_path: Path,
) -> None:
    # `make run` in a checkout under /root or a `mktemp -d` directory: pytest's tmp_path
    # sits in such a directory (mode 0700), which the postgres user cannot enter.
    environment = inherited_environment()
    data_dir = tmp_path / "project" / ".data"
    environment["GATEWAY_DATA_DIR"] = str(data_dir)
    home = EmbeddedPostgres(data_dir).home
    try:
        first = await gateway(environment, "migrate")
        second = await gateway(environment, "migrate")
        created = await gateway(environment, "tenant", "create", "--slug", "kept", "--name", "K")
    finally:
        if home != data_dir.resolve():
            shutil.rmtree(home, ignore_errors=True)

    assert first.status == 0, first.err
    assert "applied 0001_schema" in first.out
    assert second.status == 0, second.err
    assert "database is up to date" in second.out
    assert created.status == 0, created.err
    if os.geteuid() == 0:
        assert home.parent == RELOCATED_ROOT
        assert not (data_dir / "pg").exists()

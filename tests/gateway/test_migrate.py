"""Migrations: applied once, safe when replicas start together, and refused when edited."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from gateway.database.migrate import MigrationError, load_migrations, migrate
from gateway.tenants.models import TENANT_COLUMNS
from tests.conftest import with_database

_counter = itertools.count()


@pytest.fixture
async def empty_database_url(postgres_url: str) -> AsyncIterator[str]:
    """URL of a brand-new database with no tables at all."""
    name = f"gateway_migrate_{os.getpid()}_{next(_counter)}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield with_database(postgres_url, name)
    finally:
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def schema_dump(connection: asyncpg.Connection) -> list[tuple[object, ...]]:
    """Every column and constraint of the public schema, in a stable order."""
    columns = await connection.fetch(
        """SELECT table_name, column_name, data_type, is_nullable, column_default
           FROM information_schema.columns WHERE table_schema = 'public'
           ORDER BY table_name, column_name"""
    )
    constraints = await connection.fetch(
        """SELECT conrelid::regclass::text AS table_name, conname, pg_get_constraintdef(oid)
           FROM pg_constraint WHERE connamespace = 'public'::regnamespace
           ORDER BY 1, 2"""
    )
    return [tuple(row) for row in columns] + [tuple(row) for row in constraints]


async def test_migrating_twice_applies_nothing_the_second_time_and_changes_no_schema(
    empty_database_url: str,
) -> None:
    connection = await asyncpg.connect(empty_database_url)
    try:
        first = await migrate(connection)
        before = await schema_dump(connection)
        second = await migrate(connection)
        after = await schema_dump(connection)
    finally:
        await connection.close()

    assert first == [migration.version for migration in load_migrations()]
    assert second == []
    assert before == after
    assert any(row[0] == "tenants" for row in before)


async def test_two_replicas_migrating_an_empty_database_at_once_both_succeed_once(
    empty_database_url: str,
) -> None:
    one = await asyncpg.connect(empty_database_url)
    two = await asyncpg.connect(empty_database_url)
    try:
        applied_one, applied_two = await asyncio.gather(migrate(one), migrate(two))
        recorded = await one.fetch("SELECT version FROM schema_migrations ORDER BY version")
    finally:
        await one.close()
        await two.close()

    everything = [migration.version for migration in load_migrations()]
    # Exactly one of them did the work; the other found it done.
    assert sorted([applied_one, applied_two]) == [[], everything]
    assert [row["version"] for row in recorded] == everything


async def test_an_edited_migration_is_refused_with_a_message_naming_it(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1"
        )
        with pytest.raises(MigrationError) as raised:
            await migrate(connection)
        tables = await connection.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'tenants'"
        )
    finally:
        await connection.close()

    assert "0001_schema changed after it was applied" in str(raised.value)
    assert "add a new migration" in str(raised.value)
    assert tables == 1


async def test_a_database_from_a_newer_version_is_refused(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')"
        )
        with pytest.raises(MigrationError, match="run a newer gateway"):
            await migrate(connection)
    finally:
        await connection.close()


async def test_domains_served_before_ownership_proof_keep_being_served(
    empty_database_url: str,
) -> None:
    connection = await asyncpg.connect(empty_database_url)
    try:
        for migration in [m for m in load_migrations() if m.version < 5]:
            await connection.execute(migration.sql)
        tenant_id = await connection.fetchval(
            "INSERT INTO tenants (slug, name, brand_color) VALUES ('alpeak', 'Alpeak', '#0e7c66')"
            " RETURNING id"
        )
        for name, status in (("billing.alpeak.com", "active"), ("pay.alpeak.com", "pending_dns")):
            await connection.execute(
                "INSERT INTO domains (id, tenant_id, name, status) VALUES ($1, $2, $3, $4)",
                "dom_" + "A" * 21 + name[0],
                tenant_id,
                name,
                status,
            )
        (proof,) = [m for m in load_migrations() if m.version == 5]
        await connection.execute(proof.sql)
        rows = {
            row["name"]: row
            for row in await connection.fetch(
                "SELECT name, status, proof_token, proven_at, claim_expires_at,"
                " claim_expires_at - now() AS left FROM domains"
            )
        }
    finally:
        await connection.close()

    served, pending = rows["billing.alpeak.com"], rows["pay.alpeak.com"]
    assert served["status"] == "active"
    assert served["proven_at"] is not None
    assert served["claim_expires_at"] is None
    assert pending["proven_at"] is None
    assert pending["left"] > timedelta(days=6)
    assert len({served["proof_token"], pending["proof_token"]}) == 2


async def test_invoice_numbering_continues_where_each_tenant_stood(
    empty_database_url: str,
) -> None:
    connection = await asyncpg.connect(empty_database_url)
    try:
        for migration in [m for m in load_migrations() if m.version < 6]:
            await connection.execute(migration.sql)
        await connection.execute(
            "INSERT INTO tenants (slug, name, brand_color, next_invoice_number)"
            " VALUES ('alpeak', 'Alpeak', '#0e7c66', 42)"
        )
        (numbering,) = [m for m in load_migrations() if m.version == 6]
        await connection.execute(numbering.sql)
        await connection.execute(
            "INSERT INTO tenants (slug, name, brand_color)"
            " VALUES ('bergfeld', 'Bergfeld', '#123456')"
        )
        rows = await connection.fetch(
            "SELECT slug, prefix, next_number FROM invoice_numbering"
            " JOIN tenants ON tenants.id = tenant_id ORDER BY slug"
        )
    finally:
        await connection.close()

    assert [tuple(row) for row in rows] == [("alpeak", "ALPEAK", 42), ("bergfeld", "BERGFELD", 1)]


async def test_every_tenant_setting_a_replica_keeps_wakes_the_replicas_when_changed(
    database_url: str,
) -> None:
    """Replicas keep `Tenant` rows in memory and reload them on NOTIFY gateway_hosts.

    A column the model reads but the trigger does not watch would change in the database
    and stay stale in every replica until some unrelated reload.
    """
    connection = await asyncpg.connect(database_url)
    try:
        watched = await connection.fetchval(
            """SELECT array_agg(a.attname::text) FROM pg_trigger t
               JOIN pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = ANY(t.tgattr)
               WHERE t.tgname = 'tenants_hosts_changed'"""
        )
    finally:
        await connection.close()
    kept = {column.strip() for column in TENANT_COLUMNS.split(",")}
    # Never changed after insert, or changed only together with a watched column.
    kept -= {"id", "created_at", "updated_at", "icon_type"}
    assert sorted(kept - set(watched)) == []

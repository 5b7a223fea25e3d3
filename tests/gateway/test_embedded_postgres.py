"""The embedded PostgreSQL: a cluster that keeps its data across restarts and is reused."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from gateway.database.embedded import EmbeddedPostgres, EmbeddedPostgresError

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster_directory() -> Iterator[Path]:
    # As root the server runs as the postgres user, which must be able to reach the cluster.
    directory = Path(tempfile.mkdtemp(prefix="gateway-embedded-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        leftover = EmbeddedPostgres(directory)
        if (leftover.cluster / "postmaster.pid").exists():
            # Adopt and stop a server a failed test left running.
            leftover._started_here = True
            leftover.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _query(url: str, sql: str) -> object:
    return asyncio.run(_fetch(url, sql))


async def _fetch(url: str, sql: str) -> object:
    connection = await asyncpg.connect(url)
    try:
        *setup, last = sql.split(";")
        for statement in setup:
            await connection.execute(statement)
        return await connection.fetchval(last)
    finally:
        await connection.close()


def test_a_new_cluster_keeps_its_data_across_a_stop_and_a_start(
    cluster_directory: Path,
) -> None:
    server = EmbeddedPostgres(cluster_directory)
    url = server.start()
    _query(url, "CREATE TABLE kept (value text); INSERT INTO kept VALUES ('still here')")
    server.stop()

    restarted = EmbeddedPostgres(cluster_directory)
    url_again = restarted.start()
    try:
        value = _query(url_again, "SELECT value FROM kept")
    finally:
        restarted.stop()

    assert value == "still here"
    assert (cluster_directory / "pg-password").stat().st_mode & 0o077 == 0
    assert not (cluster_directory / "pg" / "postmaster.pid").exists()


def test_a_second_instance_on_the_same_directory_reuses_the_running_server(
    cluster_directory: Path,
) -> None:
    first = EmbeddedPostgres(cluster_directory)
    url = first.start()
    try:
        started = _query(url, "SELECT pg_postmaster_start_time()::text")
        second = EmbeddedPostgres(cluster_directory)
        second_url = second.start()
        # The second one did not start it, so stopping it leaves the server running.
        second.stop()
        started_after = _query(second_url, "SELECT pg_postmaster_start_time()::text")
    finally:
        first.stop()

    assert second_url == url
    assert started_after == started
    assert not (cluster_directory / "pg" / "postmaster.pid").exists()


@pytest.fixture
def private_directory() -> Iterator[Path]:
    """A directory only its owner may enter, like `mktemp -d` or anything under /root."""
    directory = Path(tempfile.mkdtemp(prefix="gateway-private-"))
    directory.chmod(0o700)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_a_data_directory_the_server_user_cannot_reach_still_gets_a_working_cluster(
    private_directory: Path,
) -> None:
    data_dir = private_directory / "project" / ".data"
    relocated_root = private_directory.with_name(private_directory.name + "-relocated") / "var"
    relocated_root.parent.mkdir(mode=0o755)
    server = EmbeddedPostgres(data_dir, relocated_root=relocated_root)
    try:
        url = server.start()
        _query(url, "CREATE TABLE kept (value text); INSERT INTO kept VALUES ('still here')")
        server.stop()
        restarted = EmbeddedPostgres(data_dir, relocated_root=relocated_root)
        url_again = restarted.start()
        try:
            value = _query(url_again, "SELECT value FROM kept")
        finally:
            restarted.stop()

        assert value == "still here"
        assert restarted.cluster == server.cluster
        if os.geteuid() == 0:
            # As root the server runs as the postgres user, which cannot enter the private
            # directory: the cluster lives under the relocated root, named after the data dir.
            assert server.home.parent == relocated_root.resolve()
            marker = server.home / "data-directory"
            assert marker.read_text().strip() == str(data_dir.resolve())
            assert not (data_dir / "pg").exists()
            assert (server.home / "pg-password").stat().st_mode & 0o077 == 0
        else:
            assert server.cluster == data_dir.resolve() / "pg"
    finally:
        server.stop()
        shutil.rmtree(relocated_root.parent, ignore_errors=True)


def test_an_unreachable_relocated_root_is_an_error_that_says_what_to_do(
    private_directory: Path,
) -> None:
    if os.geteuid() != 0:
        # Not root: the server runs as this user, which reaches its own directory.
        server = EmbeddedPostgres(private_directory / "data")
        assert server.home == (private_directory / "data").resolve()
        return
    blocked = private_directory / "blocked-root"
    blocked.mkdir(mode=0o700)
    server = EmbeddedPostgres(private_directory / "data", relocated_root=blocked / "pg")

    with pytest.raises(EmbeddedPostgresError) as raised:
        server.start()

    message = str(raised.value)
    assert "cannot reach" in message
    assert "DATABASE_URL" in message

"""Fixtures that start the real components: one PostgreSQL server per test session.

Each test that asks for `database_url` gets its own database, cloned from a
migrated template, so tests never see each other's rows. TEST_DATABASE_URL
points the suite at an existing server instead (its user must be allowed to
create databases). A missing PostgreSQL is an error, never a skip.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from gateway.app import create_app
from gateway.database.embedded import EmbeddedPostgres
from gateway.database.migrate import migrate
from gateway.database.pool import create_pool
from gateway.edge import keys
from gateway.settings import Settings
from gateway.tenants.api_keys import create_api_key
from gateway.tenants.models import Tenant
from gateway.tenants.registry import create_tenant

T = TypeVar("T")
TEMPLATE = "gateway_test_template"
_counter = itertools.count()


def run_blocking(coroutine_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a private loop in a thread (safe inside any loop)."""
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine_factory()))
        except BaseException as error:  # re-raised in the caller's thread
            failure.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a running PostgreSQL server (embedded, started for this session)."""
    existing = os.environ.get("TEST_DATABASE_URL")
    if existing:
        yield existing
        return
    directory = Path(tempfile.mkdtemp(prefix="gateway-test-pg-"))
    server = EmbeddedPostgres(directory)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def end_unfinished_sign_ins(database: str) -> None:
    """End this machine's PostgreSQL backends for `database` still waiting for a client to
    finish authenticating.

    A test whose event loop closes while a connection is being opened leaves that socket
    open; its backend then waits for the password exchange and does not absorb the barrier
    DROP DATABASE waits for. PostgreSQL ends it after authentication_timeout (a minute),
    but under faketime (`make test-clock`) that timer never fires and the drop would wait
    for ever. Only backends named in their process title, on a server on this machine.
    """
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().split()
        except OSError:
            continue
        if title[:1] == ["postgres:"] and database in title and title[-1:] == ["authentication"]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGTERM)


@pytest.fixture(scope="session")
def template_database(postgres_url: str) -> str:
    """Name of a database with every migration applied, to clone per test."""

    async def build() -> None:
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
            await admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
        finally:
            await admin.close()
        connection = await asyncpg.connect(with_database(postgres_url, TEMPLATE))
        try:
            await migrate(connection)
        finally:
            await connection.close()

    run_blocking(build)
    return TEMPLATE


@pytest.fixture
def database_url(postgres_url: str, template_database: str) -> Iterator[str]:
    """URL of a fresh, migrated database of this test's own."""
    name = f"gateway_test_{os.getpid()}_{next(_counter)}"

    async def create() -> None:
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        finally:
            await admin.close()

    async def drop() -> None:
        end_unfinished_sign_ins(name)
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    run_blocking(create)
    try:
        yield with_database(postgres_url, name)
    finally:
        run_blocking(drop)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """An asyncpg pool on this test's database (json/jsonb decoded)."""
    created = await create_pool(database_url, min_size=1, max_size=5)
    try:
        yield created
    finally:
        await created.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for an app on this test's database; tests replace fields as they need.

    Plain HTTP is not redirected to HTTPS (as with `make run`): the test clients speak
    plain HTTP to the production app; the redirect's own tests turn it on.
    """
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        kek=base64.b64decode(base64.b64encode(os.urandom(32))),
        http_port=8080,
        redirect_http=False,
    )


@dataclass(frozen=True)
class ApiTenant:
    """A tenant with a live API key, and the headers that reach the API as that tenant."""

    tenant: Tenant
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Host": "api.localhost:8080", "Authorization": f"Bearer {self.key}"}


@pytest.fixture
async def gateway_client(aiohttp_client: Any, settings: Settings) -> Any:
    """A test client for the whole gateway; API responses are checked against their schemas."""
    app = create_app(settings, domain_worker=False, outbox_delivery=False)
    return await aiohttp_client(app)


@pytest.fixture
def make_tenant(pool: asyncpg.Pool) -> Callable[..., Coroutine[Any, Any, ApiTenant]]:
    """Create a tenant (slug, name, brand colour) with an API key."""

    async def make(
        slug: str, *, name: str | None = None, brand_color: str = "#4f46e5"
    ) -> ApiTenant:
        tenant = await create_tenant(
            pool, slug=slug, name=name or slug.title(), brand_color=brand_color
        )
        _, key = await create_api_key(pool, tenant_id=tenant.id)
        return ApiTenant(tenant, key)

    return make


async def eventually(
    probe: Callable[[], Coroutine[Any, Any, T]],
    accept: Callable[[T], bool],
    *,
    within: float = 10.0,
) -> T:
    """Call `probe` until `accept` likes its result (caches refresh asynchronously)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await probe()
        if accept(result) or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.05)


async def index_serves(
    app: Any, host: str, accept: Callable[[Tenant], bool] = lambda tenant: True
) -> Tenant:
    """Wait until `app`'s host index serves `host` as `accept` wants, and return that tenant.

    The index reloads on NOTIFY, a moment after a tenant or its settings change: a test that
    changes them and then visits the tenant's host must wait for it, as a second replica would.
    """
    index = app[keys.HOST_INDEX]

    async def lookup() -> Tenant | None:
        return index.lookup(host)  # type: ignore[no-any-return]

    found = await eventually(lookup, lambda tenant: tenant is not None and accept(tenant))
    assert found is not None, f"the host index never served {host}"
    assert accept(found), f"the host index never served {host} as wanted"
    return found

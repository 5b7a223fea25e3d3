"""Two gateway processes on one database: a change made through one is served by the other.

Ops run several replicas behind a TCP load balancer; a tenant's API call lands
on one of them and its customers' next page may come from any other. Each
test starts two real `gateway serve` processes (A and B) on their own ports
and the same PostgreSQL, changes a brand or adds a custom domain through A's
API, and polls B until B serves the change. The bound asserted is generous
(a loaded 2-core machine); the measured delay is printed (`-s`) and recorded
as a test property. A separate test shows what makes it fast: B's cache
follows PostgreSQL's NOTIFY, not the requests it serves.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import ssl
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest

from certs.internal_ca import InternalCA
from gateway.settings import Settings
from kernel.sealing import Sealer
from tests.conftest import ApiTenant, eventually
from tests.fixtures.pebble import ChallTestSrv, challtestsrv
from tests.gateway.gateway_process import (
    START_TIMEOUT,
    GatewayProcess,
    gateway_environment,
    gateway_process,
)
from tests.gateway.https_gateway import Answer, http_get, https_get, trusting

__all__ = ["challtestsrv"]

pytestmark = pytest.mark.slow

# What the issue asks is one second; the assertion allows for a loaded machine.
ARRIVES_WITHIN = 10.0
POLL_SECONDS = 0.02
SETTLE_SECONDS = 2.0
OLD_COLOR = "#0f766e"
NEW_COLOR = "#9d174d"
# The custom domains the replicas serve over HTTPS live here: the internal CA must permit it.
CUSTOM_DOMAINS = "alpeak.test"


Replica = GatewayProcess


@dataclass(frozen=True)
class Replicas:
    a: Replica
    b: Replica
    tenant: ApiTenant
    root_pem: str


@pytest.fixture
async def replicas(
    database_url: str,
    pool: asyncpg.Pool,
    tmp_path: Path,
    challtestsrv: ChallTestSrv,
    make_tenant: Callable[..., Coroutine[Any, Any, ApiTenant]],
) -> AsyncIterator[Replicas]:
    """Replicas A and B of one gateway, and a tenant (with an API key) they both serve."""
    kek = os.urandom(32)
    tenant = await make_tenant("alpeak", name="Alpeak Outdoor", brand_color=OLD_COLOR)
    # The internal CA exists before either replica starts, as it would in production.
    permitted = Settings(internal_ca_names=(CUSTOM_DOMAINS,)).internal_ca_permitted_names
    authority = await InternalCA.load_or_create(pool, Sealer(kek), permitted_names=permitted)
    encoded = base64.b64encode(kek).decode()
    settings = {
        "dns_resolver": f"127.0.0.1:{challtestsrv.dns_port}",
        "internal_ca_names": CUSTOM_DOMAINS,
    }
    first = gateway_environment(database_url, encoded, tmp_path / "a", **settings)
    second = gateway_environment(database_url, encoded, tmp_path / "b", **settings)
    async with gateway_process(*first) as a, gateway_process(*second) as b:
        await until(lambda: listening(pool, count=2), within=START_TIMEOUT)
        # Every listener reloads once just after LISTEN (changes made before it were never
        # announced); let that reload pass, so what a test sees next comes from a notification.
        await asyncio.sleep(SETTLE_SECONDS)
        yield Replicas(a, b, tenant, authority.root_pem)


async def listener_backends(pool: asyncpg.Pool) -> set[int]:
    """PostgreSQL backend pids of the replicas' host index listeners (LISTEN gateway_hosts)."""
    rows = await pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = 'gateway host index'"
        " AND query IN ('LISTEN \"gateway_hosts\"', 'SELECT 1')"
    )
    return {row["pid"] for row in rows}


async def listening(pool: asyncpg.Pool, *, count: int) -> bool:
    return len(await listener_backends(pool)) == count


class Api:
    """The tenant API of one replica: plain HTTP on 127.0.0.1, Host api.localhost."""

    def __init__(self, session: aiohttp.ClientSession, port: int, key: str) -> None:
        self.session = session
        self.base = f"http://127.0.0.1:{port}/api/v1"
        self.headers = {"Host": f"api.localhost:{port}", "Authorization": f"Bearer {key}"}

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, expect: int = 200
    ) -> dict[str, Any]:
        async with self.session.request(
            method, self.base + path, json=body, headers=self.headers
        ) as response:
            text = await response.text()
            assert response.status == expect, f"{method} {path}: {response.status} {text}"
            result: dict[str, Any] = await response.json()
            return result


@contextlib.asynccontextmanager
async def api_of(replica: Replica, tenant: ApiTenant) -> AsyncIterator[Api]:
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        yield Api(session, replica.http_port, tenant.key)


async def portal_path(api: Api) -> str:
    """The path of a new customer's portal (the link mode that needs no signature)."""
    customer = await api.call(
        "POST", "/customers", {"name": "Ada Lovelace", "email": "ada@alpeak.test"}, 201
    )
    link = await api.call("GET", f"/customers/{customer['id']}/portal")
    return urlsplit(str(link["url"])).path


async def brand_on(replica: Replica, path: str) -> str:
    """The brand colour of the tenant's portal page as `replica` serves it now."""
    answer = await http_get(replica.http_port, path, f"alpeak.localhost:{replica.http_port}")
    assert answer.status == 200, answer.body[:500]
    return color_of(answer)


def color_of(answer: Answer) -> str:
    marker = "--brand: "
    start = answer.body.index(marker) + len(marker)
    return answer.body[start : start + 7]


async def until(
    probe: Callable[[], Coroutine[Any, Any, bool]], *, within: float = ARRIVES_WITHIN
) -> float:
    """Seconds until `probe` is true, polling every POLL_SECONDS; fails after `within`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not await probe():
        elapsed = loop.time() - started
        assert elapsed < within, f"the other replica still did not serve it after {elapsed:.1f} s"
        await asyncio.sleep(POLL_SECONDS)
    return loop.time() - started


async def test_a_brand_colour_changed_through_one_replica_is_served_by_the_other_at_once(
    replicas: Replicas, pool: asyncpg.Pool, record_property: Callable[[str, object], None]
) -> None:
    a, b = replicas.a, replicas.b
    listeners_before = await listener_backends(pool)
    async with api_of(a, replicas.tenant) as api:
        path = await portal_path(api)
        before = await brand_on(b, path)

        changed = await api.call("PATCH", "/settings", {"brand_color": NEW_COLOR})
        delay = await until(lambda: has_color(b, path, NEW_COLOR))
        # A's own pages follow the same notification (its cache is no different from B's).
        delay_on_a = await until(lambda: has_color(a, path, NEW_COLOR))

    listeners_after = await listener_backends(pool)
    print(f"\nbrand colour changed through A, served by B after {delay * 1000:.0f} ms")
    record_property("replica_brand_delay_seconds", round(delay, 3))
    # The same LISTEN connections throughout: no reconnect (and its reload) brought the change.
    assert listeners_after == listeners_before
    assert len(listeners_before) == 2
    assert before == OLD_COLOR
    assert changed["brand_color"] == NEW_COLOR
    assert delay_on_a < ARRIVES_WITHIN
    assert delay < ARRIVES_WITHIN


async def has_color(replica: Replica, path: str, color: str) -> bool:
    return await brand_on(replica, path) == color


async def test_the_other_replica_refreshes_on_the_database_notification_and_not_on_requests(
    replicas: Replicas, pool: asyncpg.Pool
) -> None:
    a, b = replicas.a, replicas.b
    # Silence the change's announcement: nothing tells the replicas the brand changed.
    await pool.execute("ALTER TABLE tenants DISABLE TRIGGER tenants_hosts_changed")
    async with api_of(a, replicas.tenant) as api:
        path = await portal_path(api)
        await api.call("PATCH", "/settings", {"brand_color": NEW_COLOR})
        # However many requests B serves, it keeps its cached brand: requests never reload.
        served_meanwhile = [await brand_on(b, path) for _ in range(20)]

        # The announcement alone (no data change at all) brings B up to date.
        await pool.execute("SELECT pg_notify('gateway_hosts', 'tenants')")
        delay = await until(lambda: has_color(b, path, NEW_COLOR))
    await pool.execute("ALTER TABLE tenants ENABLE TRIGGER tenants_hosts_changed")

    print(f"\nB reloaded {delay * 1000:.0f} ms after the notification")
    assert set(served_meanwhile) == {OLD_COLOR}
    assert delay < ARRIVES_WITHIN


async def refuses_name(replica: Replica, client: ssl.SSLContext, name: str) -> bool:
    try:
        await https_get(replica.https_port, client, name, "/healthz", host=name)
    except ssl.SSLError as error:
        return "UNRECOGNIZED_NAME" in str(error)
    return False


async def test_a_custom_domain_activated_through_one_replica_is_served_by_the_other_at_once(
    replicas: Replicas,
    challtestsrv: ChallTestSrv,
    record_property: Callable[[str, object], None],
) -> None:
    a, b = replicas.a, replicas.b
    name = f"billing-{secrets.token_hex(4)}.{CUSTOM_DOMAINS}"
    client = trusting(replicas.root_pem)
    try:
        async with api_of(a, replicas.tenant) as api:
            path = await portal_path(api)
            added = await api.call("POST", "/domains", {"name": name}, 201)
            refused_before = await refuses_name(b, client, name)

            challtestsrv.set_cname(name, added["cname_target"])
            proof = added["ownership"]
            challtestsrv.set_txt(proof["record_name"], proof["value"])
            # A's check verifies and issues (a replica's domain worker may get there first).
            active = await eventually(
                lambda: api.call("POST", f"/domains/{name}/check"),
                lambda domain: domain["status"] in ("active", "failed"),
                within=60,
            )

            async def served_by_b() -> bool:
                try:
                    answer, _ = await https_get(b.https_port, client, name, path, host=name)
                except ssl.SSLError:
                    return False
                return answer.status == 200 and color_of(answer) == OLD_COLOR

            delay = await until(served_by_b)
    finally:
        challtestsrv.clear_cname(name)

    print(f"\ncustom domain activated through A, served by B after {delay * 1000:.0f} ms")
    record_property("replica_domain_delay_seconds", round(delay, 3))
    assert added["status"] == "pending_dns"
    assert refused_before
    assert active["status"] == "active", active
    assert delay < ARRIVES_WITHIN

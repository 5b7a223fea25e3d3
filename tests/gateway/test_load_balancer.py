"""Two gateway replicas behind HAProxy (TCP, PROXY protocol v2, round-robin), as in production.

HAProxy runs deploy/haproxy.cfg, the configuration the README shows. The
client connects from 127.0.0.2 (any 127/8 address is loopback), so the
address the replicas log can only be the client's if the PROXY header was
read: HAProxy itself connects from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from certs.internal_ca import InternalCA
from gateway.settings import Settings
from kernel.sealing import Sealer
from tests.conftest import ApiTenant, eventually
from tests.fixtures.haproxy import CONFIG, Backend, Balancer, haproxy
from tests.fixtures.pebble import ChallTestSrv, challtestsrv
from tests.gateway.gateway_process import GatewayProcess, gateway_environment, gateway_process
from tests.gateway.https_gateway import Answer, https_get, read_answer, request_bytes, trusting
from tests.gateway.test_replicas import Api, color_of, portal_path

__all__ = ["challtestsrv"]

pytestmark = pytest.mark.slow

CLIENT_ADDRESS = "127.0.0.2"
# Longer than HAProxy's check interval (500 ms) times its fall count (1), with room to spare.
DRAIN_DELAY = "2"
# The request loop's bounds: it stops by itself whatever happens.
LOOP_MAX_REQUESTS = 2000
LOOP_AFTER_EXIT = 20
LOOP_PAUSE = 0.02
# The custom domain served over HTTPS lives here: the internal CA must permit it.
CUSTOM_DOMAINS = "alpeak.test"
STOP_WITHIN = 60.0
README = CONFIG.parents[1] / "README.md"


@dataclass(frozen=True)
class Cluster:
    a: GatewayProcess
    b: GatewayProcess
    balancer: Balancer
    tenant: ApiTenant
    root_pem: str
    logs: tuple[Path, Path]


@pytest.fixture
async def cluster(
    database_url: str,
    pool: asyncpg.Pool,
    tmp_path: Path,
    challtestsrv: ChallTestSrv,
    make_tenant: Callable[..., Coroutine[Any, Any, ApiTenant]],
) -> AsyncIterator[Cluster]:
    """Replicas A and B on one PostgreSQL behind HAProxy, and a tenant they both serve."""
    kek = os.urandom(32)
    tenant = await make_tenant("alpeak", name="Alpeak Outdoor")
    permitted = Settings(internal_ca_names=(CUSTOM_DOMAINS,)).internal_ca_permitted_names
    authority = await InternalCA.load_or_create(pool, Sealer(kek), permitted_names=permitted)
    settings = {
        "internal_ca_names": CUSTOM_DOMAINS,
        "dns_resolver": f"127.0.0.1:{challtestsrv.dns_port}",
        "proxy_protocol": "v2",
        "trusted_proxies": "127.0.0.1",
        "drain_delay": DRAIN_DELAY,
        "shutdown_timeout": "10",
        "worker_header": "true",
        "log_format": "json",
    }
    encoded = base64.b64encode(kek).decode()
    first = gateway_environment(database_url, encoded, tmp_path / "a", **settings)
    second = gateway_environment(database_url, encoded, tmp_path / "b", **settings)
    logs = (tmp_path / "a.log", tmp_path / "b.log")
    async with contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(gateway_process(*first, stderr=logs[0]))
        b = await stack.enter_async_context(gateway_process(*second, stderr=logs[1]))
        backends = [Backend(r.http_port, r.https_port, r.ops_port) for r in (a, b)]
        balancer = await stack.enter_async_context(haproxy(backends, log=tmp_path / "lb.log"))
        yield Cluster(a, b, balancer, tenant, authority.root_pem, logs)


async def get_through(port: int, path: str, host: str) -> Answer:
    """One request on a new connection from CLIENT_ADDRESS to the balancer's HTTP port."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, local_addr=(CLIENT_ADDRESS, 0)), 30
    )
    try:
        writer.write(request_bytes(path, host, close=True))
        await writer.drain()
        return await read_answer(reader)
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def direct_api(replica: GatewayProcess, tenant: ApiTenant) -> AsyncIterator[Api]:
    """The tenant API of one replica, reached directly (not through the balancer).

    From CLIENT_ADDRESS: the replicas expect a PROXY header from 127.0.0.1, the balancer.
    """
    connector = aiohttp.TCPConnector(local_addr=(CLIENT_ADDRESS, 0))
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        yield Api(session, replica.http_port, tenant.key)


def access_lines(log: Path) -> list[dict[str, Any]]:
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if record.get("logger") == "gateway.access":
                lines.append(record)
    return lines


def test_the_readme_shows_the_haproxy_configuration_the_tests_run() -> None:
    assert CONFIG.read_text().strip() in README.read_text()


async def test_a_custom_domain_added_through_one_replica_is_served_by_both_through_the_balancer(
    cluster: Cluster, challtestsrv: ChallTestSrv
) -> None:
    name = f"billing-{secrets.token_hex(4)}.{CUSTOM_DOMAINS}"
    client = trusting(cluster.root_pem)
    try:
        async with direct_api(cluster.a, cluster.tenant) as api:
            path = await portal_path(api)
            added = await api.call("POST", "/domains", {"name": name}, 201)
            challtestsrv.set_cname(name, added["cname_target"])
            proof = added["ownership"]  # the TXT record that proves the claim is this tenant's
            challtestsrv.set_txt(proof["record_name"], proof["value"])
            active = await eventually(
                lambda: api.call("POST", f"/domains/{name}/check"),
                lambda domain: domain["status"] in ("active", "failed"),
                within=60,
            )
        assert active["status"] == "active", active

        async def served() -> list[tuple[int, str, str]]:
            answers = []
            for _ in range(4):  # round-robin: consecutive connections alternate replicas
                try:
                    answer, _ = await https_get(
                        cluster.balancer.https_port, client, name, path, host=name
                    )
                except OSError:  # an ssl.SSLError while B has not heard of the name yet
                    answers.append((0, "", ""))
                    continue
                answers.append(
                    (answer.status, answer.headers.get("gateway-worker", ""), color_of(answer))
                )
            return answers

        answers = await eventually(
            served, lambda found: all(status == 200 for status, _, _ in found), within=30
        )
    finally:
        challtestsrv.clear_cname(name)
        challtestsrv.clear_txt(f"_gateway-verify.{name}")
    assert [status for status, _, _ in answers] == [200] * 4
    assert {worker for _, worker, _ in answers} == {
        str(cluster.a.process.pid),
        str(cluster.b.process.pid),
    }
    assert {color for _, _, color in answers} == {cluster.tenant.tenant.brand_color}


async def test_the_replicas_log_the_real_client_address_not_the_balancers(
    cluster: Cluster,
) -> None:
    port = cluster.balancer.http_port
    answers = [await get_through(port, "/healthz", "localhost") for _ in range(4)]
    workers = {answer.headers["gateway-worker"] for answer in answers}

    def logged_remotes() -> set[str]:
        return {
            line["remote"]
            for log in cluster.logs
            for line in access_lines(log)
            if line.get("path") == "/healthz"
        }

    remotes = await eventually(
        lambda: asyncio.sleep(0, logged_remotes()), lambda found: bool(found), within=10
    )
    assert [answer.status for answer in answers] == [200] * 4
    assert len(workers) == 2
    assert remotes == {CLIENT_ADDRESS}


async def test_stopping_one_replica_under_load_loses_no_request(
    cluster: Cluster, record_property: Callable[[str, object], None]
) -> None:
    port = cluster.balancer.http_port
    a = cluster.a
    outcomes: list[int | str] = []
    served_by: list[str] = []
    stopped: asyncio.Future[float] | None = None
    after_exit = 0
    for number in range(LOOP_MAX_REQUESTS):
        try:
            answer = await get_through(port, "/healthz", "localhost")
            outcomes.append(answer.status)
            served_by.append(answer.headers.get("gateway-worker", ""))
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as error:
            outcomes.append(f"{type(error).__name__}: {error}")
        if number == 20:
            stopped = asyncio.ensure_future(a.stop())  # SIGTERM mid-loop
        if stopped is not None and stopped.done():
            after_exit += 1
            if after_exit >= LOOP_AFTER_EXIT:
                break
        await asyncio.sleep(LOOP_PAUSE)
    assert stopped is not None
    exited_after = await asyncio.wait_for(stopped, STOP_WITHIN)
    failures = [outcome for outcome in outcomes if outcome != 200]
    by_a = served_by.count(str(a.process.pid))
    print(f"\n{len(outcomes)} requests, {len(failures)} lost; A exited after {exited_after:.1f} s")
    record_property("balancer_requests", len(outcomes))
    assert failures == []
    assert after_exit >= LOOP_AFTER_EXIT
    assert a.process.returncode == 0
    # A served before its stop and B carried on alone after it.
    assert by_a > 0
    assert served_by[-LOOP_AFTER_EXIT:] == [str(cluster.b.process.pid)] * LOOP_AFTER_EXIT

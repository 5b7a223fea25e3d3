"""The container image: built from the Dockerfile with podman and run as production runs it.

The container gets the options of the production section of the README (every
capability dropped but NET_BIND_SERVICE, read-only root filesystem, memory-only
/tmp and data directory) and a database of its own on the session's PostgreSQL,
which it migrates itself. It shares the host's network so it reaches that
PostgreSQL on 127.0.0.1; its listeners take free ports instead of 80/443/9090 so
nothing else on the machine is disturbed, the public ones still below 1024 so
binding them needs the capability the image grants.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from tests.conftest import run_blocking, with_database
from tests.fixtures.podman import Podman, gateway_image, inspect

pytestmark = pytest.mark.slow

START_TIMEOUT = 90.0  # seconds: migrations and first start on a loaded 2-core machine
NET_BIND_SERVICE = 1 << 10  # capability number 10 (linux/capability.h)


@dataclass(frozen=True)
class RunningGateway:
    podman: Podman
    name: str
    http_port: int
    https_port: int
    ops_port: int

    def exec(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return self.podman.call("exec", self.name, *argv, timeout=120)

    def logs(self) -> str:
        result = self.podman.call("logs", self.name)
        return result.stdout + result.stderr


@pytest.fixture(scope="module")
def image() -> tuple[Podman, str]:
    """The app image built from this working tree (the base image is cached between runs)."""
    return gateway_image()


def _free_ports(count: int, *, below: int | None = None) -> list[int]:
    """Ports nothing listens on at 127.0.0.1; from 600-1023 when `below` is 1024."""
    candidates = random.sample(range(600, 1024), 200) if below else [0] * count * 4
    found: list[int] = []
    for candidate in candidates:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port = probe.getsockname()[1]
        if port not in found:
            found.append(port)
        if len(found) == count:
            return found
    raise AssertionError("no free ports")


def _fresh_database(postgres_url: str, name: str) -> str:
    async def create() -> None:
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()

    run_blocking(create)
    return with_database(postgres_url, name)


def _drop_database(postgres_url: str, name: str) -> None:
    async def drop() -> None:
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    run_blocking(drop)


def _get(port: int, path: str, *, host: str = "127.0.0.1") -> tuple[int, bytes, str]:
    """GET on 127.0.0.1:`port` with this Host header: status, body, Location (not followed)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("Location", "")
    finally:
        connection.close()


def _wait_ready(gateway: RunningGateway) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT
    last: object = None
    while time.monotonic() < deadline:
        try:
            status, body, _ = _get(gateway.ops_port, "/readyz")
            last = (status, body)
            if status == 200:
                return json.loads(body)  # type: ignore[no-any-return]
        except OSError as error:
            last = error
        state = inspect(gateway.podman, gateway.name)["State"]
        assert state["Running"], f"the container stopped: {state}\n{gateway.logs()}"  # type: ignore[index]
        time.sleep(0.5)
    raise AssertionError(f"not ready within {START_TIMEOUT} s: {last}\n{gateway.logs()}")


@pytest.fixture
def start_gateway(image: tuple[Podman, str], postgres_url: str) -> Iterator[Any]:
    """Start the image as production runs it; the containers and databases go at the end."""
    podman, reference = image
    started: list[str] = []
    databases: list[str] = []

    def start() -> RunningGateway:
        name = f"gateway-test-{os.getpid()}-{len(started)}-{random.randrange(1 << 30):x}"
        database = name.replace("-", "_")
        url = _fresh_database(postgres_url, database)
        databases.append(database)
        http_port, https_port = _free_ports(2, below=1024)
        [ops_port] = _free_ports(1)
        environment = {
            "DATABASE_URL": url,
            "GATEWAY_KEK": base64.b64encode(os.urandom(32)).decode(),
            "GATEWAY_HTTP_HOST": "127.0.0.1",
            "GATEWAY_HTTP_PORT": str(http_port),
            "GATEWAY_HTTPS_PORT": str(https_port),
            "GATEWAY_OPS_HOST": "127.0.0.1",
            "GATEWAY_OPS_PORT": str(ops_port),
            "GATEWAY_WORKERS": "1",
        }
        options = [f"--env={key}={value}" for key, value in environment.items()]
        podman.run(
            "run",
            "--detach",
            f"--name={name}",
            "--network=host",
            "--cap-drop=ALL",
            "--cap-add=NET_BIND_SERVICE",
            "--read-only",
            "--tmpfs=/tmp",
            "--tmpfs=/var/lib/gateway",
            *options,
            reference,
        )
        started.append(name)
        gateway = RunningGateway(podman, name, http_port, https_port, ops_port)
        _wait_ready(gateway)
        return gateway

    yield start
    for name in started:
        podman.call("rm", "--force", "--time=5", name)
    for database in databases:
        _drop_database(postgres_url, database)


def test_the_container_migrates_its_database_and_becomes_ready(start_gateway: Any) -> None:
    gateway = start_gateway()

    status, body, _ = _get(gateway.ops_port, "/readyz")

    assert status == 200
    assert json.loads(body)["checks"] == {"accepting": "ok", "database": "ok", "host_index": "ok"}


def test_a_tenant_created_with_podman_exec_is_served(start_gateway: Any) -> None:
    gateway = start_gateway()

    created = gateway.exec("gateway", "tenant", "create", "--slug", "alpine", "--name", "Alpine")

    assert created.returncode == 0, created.stderr
    assert "created tenant alpine (Alpine)" in created.stdout
    listed = gateway.exec("gateway", "tenant", "list")
    assert "alpine" in listed.stdout
    # The running server learns of it through NOTIFY: once its host index serves the name,
    # plain HTTP is redirected to the tenant's HTTPS site instead of refused.
    unknown = _get(gateway.http_port, "/portal", host="nobody.localhost")
    assert unknown[0] == 404
    deadline = time.monotonic() + 30
    served = _get(gateway.http_port, "/portal", host="alpine.localhost")
    while served[0] == 404 and time.monotonic() < deadline:
        time.sleep(0.2)
        served = _get(gateway.http_port, "/portal", host="alpine.localhost")
    status, _, location = served
    assert status == 308, gateway.logs()
    assert location == f"https://alpine.localhost:{gateway.https_port}/portal"


def test_the_healthcheck_passes(start_gateway: Any) -> None:
    gateway = start_gateway()
    configured = inspect(gateway.podman, gateway.name)["Config"]["Healthcheck"]  # type: ignore[index]
    assert configured["Test"][:3] == ["CMD", "python", "-c"]

    result = gateway.podman.call("healthcheck", "run", gateway.name)

    assert result.returncode == 0, result.stdout + result.stderr
    state = inspect(gateway.podman, gateway.name)["State"]
    assert state["Health"]["Status"] == "healthy"  # type: ignore[index]


def test_the_gateway_runs_unprivileged_with_only_net_bind_service_on_a_read_only_root(
    start_gateway: Any,
) -> None:
    gateway = start_gateway()

    status = gateway.exec("cat", "/proc/1/status").stdout
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    command = gateway.exec("cat", "/proc/1/cmdline").stdout.replace("\0", " ")
    write = gateway.exec("touch", "/opt/venv/written")

    assert "gateway serve" in command
    assert fields["Uid"].split() == ["10001"] * 4
    assert gateway.exec("id", "-un").stdout.strip() == "gateway"
    assert int(fields["CapBnd"], 16) == NET_BIND_SERVICE
    assert int(fields["CapEff"], 16) == NET_BIND_SERVICE
    # It holds the capability because it is bound below 1024 already (it is ready).
    assert gateway.http_port < 1024
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr
    assert inspect(gateway.podman, gateway.name)["HostConfig"]["ReadonlyRootfs"] is True  # type: ignore[index]


def test_sigterm_stops_the_container_with_exit_status_0(start_gateway: Any) -> None:
    gateway = start_gateway()

    gateway.podman.run("kill", "--signal=TERM", gateway.name)
    waited = gateway.podman.run("wait", gateway.name, timeout=60)

    assert waited.stdout.strip() == "0", gateway.logs()
    assert inspect(gateway.podman, gateway.name)["State"]["Running"] is False  # type: ignore[index]

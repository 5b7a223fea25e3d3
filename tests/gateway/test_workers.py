"""`gateway serve --workers 2`: workers share the ports, a crashed one returns, SIGTERM ends all,
and either worker's /metrics counts the requests of both."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import eventually
from tests.fixtures.pebble import free_port, free_port_block
from tests.gateway.gateway_process import inherited_environment
from tests.gateway.https_gateway import http_get
from tests.gateway.ops_gateway import parse_metrics, sample

START_TIMEOUT = 120.0


def parent_of(pid: int) -> int:
    """The parent process id of `pid`, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def serving_pids(port: int, requests: int = 40) -> set[int]:
    """The worker pids that answered `requests` fresh connections."""
    pids: set[int] = set()
    for _ in range(requests):
        answer = await http_get(port, "/healthz", "localhost")
        assert answer.status == 200
        pids.add(int(answer.headers["gateway-worker"]))
    return pids


Workers = tuple[asyncio.subprocess.Process, int, int]


@pytest.fixture
async def two_workers(database_url: str, tmp_path: Path) -> AsyncIterator[Workers]:
    """`gateway serve --workers 2` on free ports: its process, HTTP port and first ops port.

    Its temporary files (the metrics directory) go under `tmp_path / "tmp"`.
    """
    port = free_port()
    ops_port = free_port_block(2)
    environment = inherited_environment()
    (tmp_path / "tmp").mkdir()
    environment.update(
        TMPDIR=str(tmp_path / "tmp"),
        DATABASE_URL=database_url,
        GATEWAY_KEK=base64.b64encode(os.urandom(32)).decode(),
        GATEWAY_DATA_DIR=str(tmp_path / "data"),
        GATEWAY_HTTP_PORT=str(port),
        GATEWAY_HTTPS_PORT=str(free_port()),
        # Each worker serves its ops site on GATEWAY_OPS_PORT + its index.
        GATEWAY_OPS_PORT=str(ops_port),
        GATEWAY_WORKER_HEADER="true",
        GATEWAY_SHUTDOWN_TIMEOUT="5",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "serve",
        "--workers",
        "2",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(START_TIMEOUT):
            line = (await process.stdout.readline()).decode()
        assert line.startswith(f"gateway listening on http://127.0.0.1:{port}, https://"), line
        yield process, port, ops_port
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(60):
                await process.wait()


async def test_two_workers_both_answer_on_the_shared_port_and_sigterm_stops_them_all(
    two_workers: Workers, tmp_path: Path
) -> None:
    process, port, _ = two_workers
    pids = await serving_pids(port)
    parents = {parent_of(pid) for pid in pids}
    metrics_directories = list((tmp_path / "tmp").glob("gateway-metrics-*"))

    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(60):
        status = await process.wait()
    assert len(pids) == 2
    assert parents == {process.pid}
    assert status == 0
    assert not any(alive(pid) for pid in pids)
    # The workers' shared metrics directory lived while they ran and is gone with them.
    assert len(metrics_directories) == 1
    assert not metrics_directories[0].exists()


async def test_a_crashed_worker_is_replaced_and_the_port_keeps_answering(
    two_workers: Workers,
) -> None:
    process, port, _ = two_workers
    before = await serving_pids(port)
    crashed = min(before)
    os.kill(crashed, signal.SIGKILL)

    async def answering() -> set[int]:
        try:
            return await serving_pids(port)
        except ConnectionResetError:  # waiting in the killed worker's accept queue
            return set()

    after = await eventually(
        answering,
        lambda pids: len(pids) == 2 and crashed not in pids,
        within=60,
    )
    assert len(after) == 2
    assert crashed not in after
    assert {parent_of(pid) for pid in after} == {process.pid}


async def test_either_workers_metrics_count_the_requests_both_workers_served(
    two_workers: Workers,
) -> None:
    _, port, ops_port = two_workers
    pids = await serving_pids(port, requests=40)
    assert len(pids) == 2
    counts = []
    async with aiohttp.ClientSession() as session:
        for worker_ops_port in (ops_port, ops_port + 1):
            async with session.get(f"http://127.0.0.1:{worker_ops_port}/metrics") as response:
                assert response.status == 200
                samples = parse_metrics(await response.text())
            counts.append(
                sample(samples, "gateway_http_requests_total", route="/healthz", status="2xx")
            )
    # Each worker answered only its share; both report the sum.
    assert counts == [40, 40]

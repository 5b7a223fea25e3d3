"""The portal rows of `make bench` that need more than wrk: the overview after a change.

`miss_cpu_ms` measures what a customer's first view after a write costs the worker:
before each request the customer's portal data version is bumped in PostgreSQL (what
the triggers do on every write the portal shows), so every page is rendered again;
the figure is the worker's CPU time (/proc, user + system) over the requests served,
on one keep-alive connection. The bump is sent by this process, so its cost is
PostgreSQL's and ours, not the worker's.

`python -m bench.portal_rows` runs only the portal rows (overview vs the small page at
32 connections, its p99, and the cache-miss CPU) against a freshly seeded database:
short and indicative, for a shared machine. BENCH_SECONDS and BENCH_RUNS apply.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bench.processes import Server, cpu_seconds, start_gateway  # noqa: E402
from bench.report import Row, render_table  # noqa: E402
from bench.seed import PortalSeed  # noqa: E402
from kernel.sealing import Sealer  # noqa: E402

MISS_REQUESTS = int(os.environ.get("BENCH_MISS_REQUESTS", "500"))
# The worker's clock ticks are 10 ms: 500 pages at ~1.5 ms is ~75 ticks, 1.3% a tick.
WARM_REQUESTS = 50


async def _miss_pages(
    database_url: str, server: Server, host: str, path: str, tenant_id: int, customer_id: str
) -> float:
    """Worker CPU ms per page over MISS_REQUESTS views, each after a version bump."""
    connection = await asyncpg.connect(database_url)
    http_port = server.ports["http"]
    client = http.client.HTTPConnection("127.0.0.1", http_port, timeout=60)
    headers = {"Host": f"{host}:{http_port}"}
    tags: set[str] = set()

    async def view_after_a_change() -> None:
        await connection.execute("SELECT bump_portal_version($1, $2)", tenant_id, customer_id)
        response = await asyncio.to_thread(_get, client, path, headers)
        tags.add(response)

    try:
        for _ in range(WARM_REQUESTS):
            await view_after_a_change()
        pids = server.worker_pids()
        before = cpu_seconds(pids)
        for _ in range(MISS_REQUESTS):
            await view_after_a_change()
        used = cpu_seconds(pids) - before
    finally:
        client.close()
        await connection.close()
    # Each version names its own page: every view was a render, none a cache hit.
    if len(tags) != WARM_REQUESTS + MISS_REQUESTS:
        raise RuntimeError(f"{len(tags)} distinct pages for {WARM_REQUESTS + MISS_REQUESTS} views")
    return used / MISS_REQUESTS * 1000


def _get(client: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> str:
    client.request("GET", path, headers=headers)
    response = client.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}")
    return response.headers.get("ETag", "")


def record_miss_cpu(
    values: dict[str, float], database_url: str, server: Server, portal: PortalSeed, runs: int
) -> list[float]:
    """Worker CPU ms per overview rendered after a change, once per run; the median kept."""
    path = f"/portal/{portal.customer_id}"
    figures = [
        asyncio.run(
            _miss_pages(
                database_url, server, portal.tenant_host, path, portal.tenant_id, portal.customer_id
            )
        )
        for _ in range(runs)
    ]
    values["portal_miss_cpu_ms"] = statistics.median(figures)
    return figures


def overview_rows(values: dict[str, float]) -> list[Row]:
    """The portal overview's rows with issue 17's goals."""
    return [
        Row.compared(
            "portal overview (2 subs, 3 cards, 24 invoices, 1 wallet), 32 connections (req/s)",
            values["portal_rps"],
            values["small_page_rps"],
            at_least=0.50,
            ratio=values["ratio_portal"],
        ),
        Row.bounded("portal overview p99 at 32 connections (ms)", values["portal_p99"], 25.0),
        Row.bounded(
            "portal overview after a change (cache miss), worker CPU per page (ms)",
            values["portal_miss_cpu_ms"],
            1.5,
        ),
    ]


def main() -> int:
    """The portal rows alone, briefly: seed, one pinned worker, wrk, the miss loop."""
    os.environ.setdefault("BENCH_SIZES", "1")
    from bench import run  # the full bench's helpers (run imports this module first)

    work = Path(tempfile.mkdtemp(prefix="gateway-bench-portal-"))
    kek = os.urandom(32)
    db = run.prepare_databases(work, Sealer(kek))
    try:
        figures = run.Figures({}, [])
        server = start_gateway(
            database_url=db.urls[run.SIZES[0]],
            kek=kek,
            data_dir=work / "gateway-portal",
            log_path=work / "gateway-portal.log",
            cpus=run.SERVER_CPUS,
        )
        try:
            run.portal_overview_scenario(figures, db, server)
        finally:
            server.stop()
        print()
        print(render_table(overview_rows(figures.values)))
    finally:
        db.server.stop()
        shutil.rmtree(db.server.directory, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

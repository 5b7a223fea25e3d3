"""Profile one page in-process: the portal overview (or the small page), with queries counted.

`python -m bench.profile_portal [--path overview|icon] [--requests N] [--miss]` starts an
embedded PostgreSQL in a temporary directory, seeds the issue's portal customer
(bench/seed.py), serves the gateway in this process, counts the SQL statements
and pool round trips one request costs, then requests the page N times under
pyinstrument and prints the profile. `--miss` empties the portal's page cache before
each request, so every page is rendered (the cost after a change). Never run in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

from bench import seed  # noqa: E402
from gateway.app import create_app  # noqa: E402
from gateway.database.embedded import EmbeddedPostgres  # noqa: E402
from gateway.database.pool import create_pool  # noqa: E402
from gateway.edge import keys  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from kernel.sealing import Sealer  # noqa: E402
from portal.page_cache import PAGE_CACHE  # noqa: E402


class StatementCounter:
    """Every statement the server receives on the app's pool connections, by text."""

    def __init__(self) -> None:
        self.statements: Counter[str] = Counter()

    def __call__(self, record: Any) -> None:
        self.statements[" ".join(record.query.split())[:90]] += 1

    def connections(self, pool: asyncpg.Pool[Any]) -> list[Any]:
        holders: list[Any] = getattr(pool, "_holders")  # noqa: B009 - asyncpg keeps it private
        return [holder._con for holder in holders if holder._con is not None]

    def attach(self, pool: asyncpg.Pool[Any]) -> None:
        for connection in self.connections(pool):
            connection.add_query_logger(self)

    def detach(self, pool: asyncpg.Pool[Any]) -> None:
        for connection in self.connections(pool):
            connection.remove_query_logger(self)


async def profile(path_kind: str, requests: int, html: Path | None, miss: bool) -> None:
    directory = Path(tempfile.mkdtemp(prefix="gateway-profile-"))
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="gateway-profile-pg-")))
    url = await asyncio.to_thread(server.start)
    kek = os.urandom(32)
    try:
        pool = await create_pool(url, min_size=1, max_size=4)
        try:
            portal = await seed.seed_portal(pool, Sealer(kek), "localhost")
        finally:
            await pool.close()
        settings = Settings(
            database_url=url, data_dir=directory, kek=kek, http_port=8080, redirect_http=False
        )
        app = create_app(settings, domain_worker=False, outbox_delivery=False)
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
            headers = {"Host": f"{portal.tenant_host}:8080"}
            path = f"/portal/{portal.customer_id}" if path_kind == "overview" else "/brand/icon"
            for _ in range(20):  # warm-up: templates compiled, statements prepared
                response = await client.get(path, headers=headers)
                assert response.status == 200, response.status
                await response.read()
            counter = StatementCounter()
            if miss:
                app[PAGE_CACHE].clear()  # count what a render sends, not a hit
            counter.attach(app[keys.POOL])
            response = await client.get(path, headers=headers)
            await response.read()
            counter.detach(app[keys.POOL])
            print(
                f"statements sent for one {path_kind} request: {sum(counter.statements.values())}"
            )
            for text, count in counter.statements.most_common():
                print(f"  {count} x {text}")
            started = time.perf_counter()
            cache = app[PAGE_CACHE]
            cpu = time.process_time()
            for _ in range(requests):
                if miss:
                    cache.clear()
                response = await client.get(path, headers=headers)
                await response.read()
            took = time.perf_counter() - started
            cpu = time.process_time() - cpu
            print(
                f"{requests} requests, {took / requests * 1000:.2f} ms each (not profiled), "
                f"{cpu / requests * 1000:.2f} ms of this process's CPU each (client included)"
            )
            profiler = Profiler(interval=0.0005, async_mode="disabled")
            started = time.perf_counter()
            with profiler:
                for _ in range(requests):
                    if miss:
                        cache.clear()
                    response = await client.get(path, headers=headers)
                    await response.read()
            took = time.perf_counter() - started
            print(f"{requests} requests, {took / requests * 1000:.2f} ms each (profiled)")
            print(profiler.output_text(unicode=False, color=False, show_all=False))
            if html is not None:
                await asyncio.to_thread(html.write_text, profiler.output_html())
    finally:
        await asyncio.to_thread(server.stop)
        shutil.rmtree(server.directory, ignore_errors=True)
        shutil.rmtree(directory, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--path", choices=("overview", "icon"), default="overview")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--html", type=Path, default=None)
    parser.add_argument("--miss", action="store_true", help="render every page (no cache hit)")
    arguments = parser.parse_args()
    asyncio.run(profile(arguments.path, arguments.requests, arguments.html, arguments.miss))
    return 0


if __name__ == "__main__":
    sys.exit(main())

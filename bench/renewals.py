"""Bench rows for issue 16: renewing due subscriptions, and the portal while that runs.

`count` subscriptions of the bench tenant (BENCH_RENEWALS, default 10,000), each with
a card at localstripe (the card stand-in, in a process of its own on the load CPUs),
fall due at once with one UPDATE; the gateway's own renewal job (woken by the NOTIFY
of migration 0013) renews each one, makes its invoice and charges the card. The row
is subscriptions renewed and paid per second, from the UPDATE to the last paid
invoice. Meanwhile wrk asks for the portal overview at 32 connections: its p99 is
compared with the same page's p99 on the same gateway with nothing due.

Part of `make bench` (bench/run.py); alone, on its own embedded PostgreSQL:
`BENCH_RENEWALS=300 python -m bench.renewals`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import stripe  # noqa: E402

from bench import seed  # noqa: E402
from bench.load import run_wrk  # noqa: E402
from bench.processes import free_port, pinned, start_gateway  # noqa: E402
from bench.report import Row  # noqa: E402
from billing.payment_methods_service import ensure_stripe_customer  # noqa: E402
from billing.stripe_gateway import StripePayments  # noqa: E402
from gateway.database.embedded import EmbeddedPostgres  # noqa: E402
from gateway.database.pool import create_pool  # noqa: E402
from gateway.tenants.registry import set_stripe_keys  # noqa: E402
from kernel.sealing import Sealer  # noqa: E402

COUNT = int(os.environ.get("BENCH_RENEWALS", "10000"))
RENEWALS_GOAL = 50.0  # renewed and paid per second, at least
LOADED_GOAL = 2.0  # portal p99 while renewing, at most this many times the idle p99
PLAN = "Bench renewal"
SECRET_KEY = "sk_test_benchrenewals0001"  # noqa: S105 (a localstripe key, not a secret)
PUBLISHABLE_KEY = "pk_test_benchrenewals0001"
CONNECTIONS = 32

# Runs in the child: an empty store, never written to disk (localstripe would pickle its
# whole store on every write, which grows with every charge).
LOCALSTRIPE = """
import sys
from aiohttp import web
import localstripe.resources as resources
import localstripe.server as server
resources.Store.dump_to_disk = lambda self: None
resources.store.clear()
web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


@contextmanager
def local_stripe(work: Path, cpus: Sequence[int] | None) -> Iterator[str]:
    """localstripe in a child process on `cpus`; yields its API base URL."""
    port = free_port()
    with (work / "localstripe.log").open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", LOCALSTRIPE, str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=work,
            preexec_fn=pinned(cpus),
        )
    api_base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("localstripe did not start") from None
                time.sleep(0.1)
        yield api_base
    finally:
        process.terminate()
        process.wait(timeout=10)


async def seed_renewals(
    pool: asyncpg.Pool[Any], sealer: Sealer, api_base: str, *, tenant_id: int, count: int
) -> None:
    """`count` customers of the tenant with a card at localstripe, each with a monthly
    subscription that is not due yet (one localstripe customer and card serve them all,
    as the renewal tests' race does: each charge is still its own PaymentIntent)."""
    await set_stripe_keys(
        pool, sealer, tenant_id=tenant_id, secret_key=SECRET_KEY, publishable_key=PUBLISHABLE_KEY
    )
    payments = StripePayments(api_key=SECRET_KEY, api_base=api_base)
    first = seed.fast_id("cus")
    await pool.execute(
        "INSERT INTO customers (id, tenant_id, name) VALUES ($1, $2, 'Renewing customer')",
        first,
        tenant_id,
    )
    stripe_customer = await ensure_stripe_customer(
        pool, payments, tenant_id=tenant_id, customer_id=first
    )
    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": api_base})
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    method = await asyncio.to_thread(
        lambda: client.v1.payment_methods.create(params={"type": "card", "card": card})  # type: ignore[arg-type]
    )
    await payments.attach_payment_method(payment_method_id=method.id, customer_id=stripe_customer)
    customer_ids = [first] + [seed.fast_id("cus") for _ in range(count - 1)]
    subscription_ids = [seed.fast_id("sub") for _ in range(count)]
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(
            "UPDATE customers SET stripe_customer_id = $2 WHERE id = $1", first, stripe_customer
        )
        await connection.copy_records_to_table(
            "customers",
            columns=("id", "tenant_id", "name", "stripe_customer_id"),
            records=[
                (cid, tenant_id, "Renewing customer", stripe_customer) for cid in customer_ids[1:]
            ],
        )
        await connection.copy_records_to_table(
            "payment_methods",
            columns=(
                "id",
                "tenant_id",
                "customer_id",
                "brand",
                "last4",
                "exp_month",
                "exp_year",
                "is_default",
                "stripe_payment_method_id",
            ),
            records=[
                (seed.fast_id("pm"), tenant_id, cid, "visa", "4242", 12, 2034, True, method.id)
                for cid in customer_ids
            ],
        )
        await connection.execute(
            "INSERT INTO subscriptions (id, tenant_id, customer_id, currency, plan_name, "
            "current_period_start, current_period_end) SELECT s, $1, c, 'EUR', $4, "
            "now() - interval '1 month', now() + interval '1 year' "
            "FROM unnest($2::text[], $3::text[]) AS pairs (s, c)",
            tenant_id,
            subscription_ids,
            customer_ids,
            PLAN,
        )
        await connection.copy_records_to_table(
            "subscription_items",
            columns=(
                "id",
                "tenant_id",
                "subscription_id",
                "name",
                "unit_amount",
                "billing_interval",
            ),
            records=[
                (seed.fast_id("si"), tenant_id, sid, "Seat", 1000, "month")
                for sid in subscription_ids
            ],
        )


async def _make_due(url: str, tenant_id: int) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "UPDATE subscriptions SET current_period_end = now() "
            "WHERE tenant_id = $1 AND plan_name = $2",
            tenant_id,
            PLAN,
        )
    finally:
        await connection.close()


async def _wait_until_paid(url: str, tenant_id: int, count: int, deadline: float) -> float:
    """Seconds (monotonic clock) at which `count` renewal invoices are paid."""
    connection = await asyncpg.connect(url)
    try:
        while time.monotonic() < deadline:
            paid = await connection.fetchval(
                "SELECT count(*) FROM invoices WHERE tenant_id = $1 AND kind = 'subscription' "
                "AND status = 'paid'",
                tenant_id,
            )
            if paid >= count:
                return time.monotonic()
            await asyncio.sleep(0.2)
        raise RuntimeError(f"only {paid} of {count} renewals paid before the deadline")
    finally:
        await connection.close()


def _measure(
    url: str,
    portal_url: str,
    tenant_id: int,
    *,
    count: int,
    seconds: float,
    runs: int,
    load_cpus: Sequence[int] | None,
) -> tuple[float, float, float, int]:
    """(renewals/s, portal p99 while renewing, idle p99, wrk runs while renewing)."""
    run_wrk(portal_url, connections=CONNECTIONS, seconds=2, cpus=load_cpus)  # warm
    idle = statistics.median(
        run_wrk(portal_url, connections=CONNECTIONS, seconds=seconds, cpus=load_cpus).p99_ms
        for _ in range(runs)
    )
    finished: list[float] = []
    started = time.monotonic()
    asyncio.run(_make_due(url, tenant_id))
    deadline = started + 120 + count / 5

    def wait() -> None:
        finished.append(asyncio.run(_wait_until_paid(url, tenant_id, count, deadline)))

    waiter = threading.Thread(target=wait)
    waiter.start()
    loaded: list[float] = []
    while not loaded or (waiter.is_alive() and len(loaded) < runs):
        result = run_wrk(portal_url, connections=CONNECTIONS, seconds=seconds, cpus=load_cpus)
        loaded.append(result.p99_ms)
    waiter.join()
    if not finished:
        raise RuntimeError("the renewals did not all complete")
    return count / (finished[0] - started), statistics.median(loaded), idle, len(loaded)


def renewal_scenario(
    work: Path,
    values: dict[str, float],
    notes: list[str],
    *,
    admin_url: str,
    kek: bytes,
    server_cpus: Sequence[int] | None,
    load_cpus: Sequence[int] | None,
    seconds: float,
    runs: int,
) -> None:
    """Seed a database of its own, run the gateway on it, and record the rows' figures."""
    url = admin_url.rsplit("/", 1)[0] + "/bench_renewals"

    async def prepare(api_base: str) -> seed.PortalSeed:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute("DROP DATABASE IF EXISTS bench_renewals")
            await admin.execute("CREATE DATABASE bench_renewals")
        finally:
            await admin.close()
        pool = await create_pool(url, min_size=1, max_size=4)
        try:
            portal = await seed.seed_portal(pool, Sealer(kek), "localhost")
            started = time.monotonic()
            await seed_renewals(
                pool, Sealer(kek), api_base, tenant_id=portal.tenant_id, count=COUNT
            )
            log(f"{COUNT:,} subscriptions seeded in {time.monotonic() - started:.1f} s")
            return portal
        finally:
            await pool.close()

    with local_stripe(work, load_cpus) as api_base:
        portal = asyncio.run(prepare(api_base))
        server = start_gateway(
            database_url=url,
            kek=kek,
            data_dir=work / "gateway-renewals",
            log_path=work / "gateway-renewals.log",
            cpus=server_cpus,
            extra={"GATEWAY_STRIPE_API_BASE": api_base},
        )
        try:
            port = server.ports["http"]
            portal_url = f"http://{portal.tenant_host}:{port}/portal/{portal.customer_id}"
            log(f"renewing {COUNT:,} due subscriptions while the portal is loaded")
            rate, loaded, idle, wrk_runs = _measure(
                url,
                portal_url,
                portal.tenant_id,
                count=COUNT,
                seconds=seconds,
                runs=runs,
                load_cpus=load_cpus,
            )
        finally:
            server.stop()
    values["renewals_per_second"] = rate
    values["portal_p99_renewing"] = loaded
    values["portal_p99_renewals_idle"] = idle
    values["ratio_portal_renewing"] = loaded / idle if idle else 0.0
    log(f"  {rate:.0f} renewals/s; portal p99 {loaded:.1f} ms renewing, {idle:.1f} ms idle")
    notes.append(
        f"Renewals row: {COUNT:,} subscriptions due at once, renewed, invoiced and charged "
        f"at localstripe by one gateway worker; the portal p99 while renewing is the median "
        f"of {wrk_runs} wrk run(s) of {seconds:g} s started as they fell due."
    )


def renewal_rows(values: dict[str, float]) -> list[Row]:
    rate = values["renewals_per_second"]
    return [
        Row(
            f"{COUNT:,} due subscriptions renewed and charged, localstripe (per s)",
            f"{rate:,.0f}" if rate >= 100 else f"{rate:.1f}",
            "-",
            "-",
            f">= {RENEWALS_GOAL:g}",
            rate >= RENEWALS_GOAL,
        ),
        Row.compared(
            f"portal p99 while renewing vs idle, {CONNECTIONS} connections (ms)",
            values["portal_p99_renewing"],
            values["portal_p99_renewals_idle"],
            at_most=LOADED_GOAL,
            ratio=values["ratio_portal_renewing"],
        ),
    ]


def main() -> int:
    """The renewal rows alone, on an embedded PostgreSQL of their own."""
    from bench.report import render_table

    work = Path(tempfile.mkdtemp(prefix="gateway-bench-renewals-"))
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="gateway-bench-pg-")))
    cpus = sorted(os.sched_getaffinity(0))
    values: dict[str, float] = {}
    notes: list[str] = []
    try:
        renewal_scenario(
            work,
            values,
            notes,
            admin_url=server.start(),
            kek=os.urandom(32),
            server_cpus=cpus[:1],
            load_cpus=cpus[1:] or cpus,
            seconds=float(os.environ.get("BENCH_SECONDS", "5")),
            runs=int(os.environ.get("BENCH_RUNS", "3")),
        )
    finally:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    print(render_table(renewal_rows(values)))
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Prometheus metrics through `prometheus_client`: requests and latency, plus scrape-time figures.

Per-request series (`gateway_http_requests_total`, `gateway_http_request_duration_seconds`)
are labelled by route pattern and status class only, so their number is fixed by
the routes, not by tenants or scanners. Under worker processes the supervisor
gives every worker the same fresh PROMETHEUS_MULTIPROC_DIR (`gateway.jobs.workers`):
prometheus_client's multiprocess mode then keeps these series in files there
and any worker's /metrics shows the sum over all workers. TLS, connection and
pool figures are read from their owners at scrape time (`gateway.ops.process_figures`);
certificate expiry and ACME order counts come from PostgreSQL on a timer
(`metrics_context`), never per scrape, so a scraper cannot load the database.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import prometheus_client
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from gateway.database.pool import DatabaseUnreachable
from gateway.edge import keys
from gateway.ops.process_figures import (
    ACME_OUTCOMES,
    CertificateCounters,
    GuardCounters,
    HandshakeCounters,
    ProcessFigures,
)

logger = logging.getLogger(__name__)

# prometheus_client's own variable: set (by the supervisor) before the library is imported.
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# Seconds; the usual web latency spread from 5 ms to 10 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A value equal to a bound falls in that bucket (le), as Histogram.observe places it.
LATENCY_BOUNDS = list(LATENCY_BUCKETS)
# Requests no route matched share one label, so scanners cannot grow the series without bound.
UNMATCHED_ROUTE = "unmatched"
STATUS_CLASSES = {status: f"{status // 100}xx" for status in range(100, 600)}

# A `_created` series per label set says when this process first counted it: noise
# under workers (and not kept in multiprocess mode at all).
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

__all__ = [
    "METRICS",
    "CertificateCounters",
    "GatewayMetrics",
    "GuardCounters",
    "HandshakeCounters",
    "metrics_context",
    "metrics_handler",
]


class GatewayMetrics:
    """Every series the gateway exposes; one instance per process, shared by app and ops site."""

    def __init__(self) -> None:
        # A registry per instance: tests build several apps in one process.
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "gateway_http_requests",
            "HTTP requests answered, by route pattern and status class (2xx, 3xx, 4xx, 5xx).",
            ("route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "gateway_http_request_duration_seconds",
            "Time from the request head to the end of the response, by route pattern.",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.renewals = Counter(
            "gateway_renewals",
            "Subscription period ends handled by the renewal job, by outcome (renewed, canceled).",
            ("outcome",),
            registry=self.registry,
        )
        self.collections = Counter(
            "gateway_collections",
            "Off-session collection steps of renewal invoices, by outcome (paid, failed, unknown).",
            ("outcome",),
            registry=self.registry,
        )
        self.payment_failures = Counter(
            "gateway_renewal_payment_failures",
            "Renewal charges declined or left for the customer to authenticate.",
            registry=self.registry,
        )
        self.customer_mail = Counter(
            "gateway_customer_mail",
            "Customer mail attempts by kind (the invoice event: invoice.created, invoice.paid, "
            "invoice.payment_failed) and outcome (sent, retried, skipped, given_up).",
            ("kind", "outcome"),
            registry=self.registry,
        )
        self._request_series: dict[tuple[str, str], _RequestSeries] = {}
        self._unwritten: list[_RequestSeries] = []
        self.figures = ProcessFigures()
        self.registry.register(self.figures)

    def observe_request(self, *, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its duration.

        On the hot path: the labelled children are looked up once per (route, status
        class), a set bounded by the routes, instead of through `labels()` each time,
        and a request only adds to plain numbers; they reach prometheus_client's
        (locked, under workers file-backed) values once per event-loop turn, or at
        the next `render` outside a loop (bench/notes.md, "Small page, third round").
        """
        key = (route, STATUS_CLASSES.get(status, "other"))
        series = self._request_series.get(key)
        if series is None:
            series = _RequestSeries(self.requests.labels(*key), self.latency.labels(route))
            self._request_series[key] = series
        if not series.count:
            unwritten = self._unwritten
            unwritten.append(series)
            loop = asyncio._get_running_loop()
            if len(unwritten) == 1 and loop is not None:
                loop.call_soon(self.write_requests)
        series.count += 1
        series.seconds += seconds
        series.buckets[bisect.bisect_left(LATENCY_BOUNDS, seconds)] += 1

    def write_requests(self) -> None:
        """Add the requests counted since the last call to the exposed series."""
        unwritten, self._unwritten = self._unwritten, []
        for series in unwritten:
            series.write()

    def count_renewal(self, outcome: str) -> None:
        """Count one period end the renewal job handled."""
        self.renewals.labels(outcome).inc()

    def count_collection(self, outcome: str) -> None:
        """Count one collection step; a failed one is also a payment failure."""
        self.collections.labels(outcome).inc()
        if outcome == "failed":
            self.payment_failures.inc()

    def count_customer_mail(self, kind: str, outcome: str) -> None:
        """Count one customer mail attempt (kinds and outcomes are the mail job's fixed sets)."""
        self.customer_mail.labels(kind, outcome).inc()

    def watch_guard(self, guard: GuardCounters) -> None:
        """Expose the HTTP guard's connection figures and deadline closes (read at scrape time)."""
        self.figures.guards.append(guard)

    def watch_listener(self, listener: HandshakeCounters) -> None:
        """Expose an HTTPS listener's handshake counters (read at scrape time)."""
        self.figures.listeners.append(listener)

    def watch_resolver(self, resolver: CertificateCounters) -> None:
        """Expose a certificate resolver's load and issuance counters (read at scrape time)."""
        self.figures.resolvers.append(resolver)

    def watch_pool(self, pool: asyncpg.Pool[Any]) -> None:
        """Expose the database pool's size and idle connections (read at scrape time)."""
        self.figures.pool = pool

    async def refresh(self, pool: asyncpg.Pool[Any]) -> None:
        """Read certificate expiry and ACME order counts from PostgreSQL."""
        # Operator-wide figures across every tenant, served on the ops port only: these two
        # reads deliberately have no tenant filter.
        async with pool.acquire() as connection:
            expiry_rows = await connection.fetch(
                """SELECT name, extract(epoch FROM max(not_after))::float8 AS expires
                   FROM certificates, unnest(names) AS name GROUP BY name"""
            )
            order_rows = await connection.fetch(
                "SELECT outcome, count(*) AS orders FROM acme_orders GROUP BY outcome"
            )
        self.figures.certificate_expiry = {row["name"]: row["expires"] for row in expiry_rows}
        orders = dict.fromkeys(ACME_OUTCOMES, 0.0)
        orders.update({row["outcome"]: float(row["orders"]) for row in order_rows})
        self.figures.acme_orders = orders
        self.figures.refreshed = time.time()

    def render(self) -> bytes:
        """The exposition text of every series: under workers, the requests of all of them."""
        self.write_requests()
        directory = os.environ.get(MULTIPROCESS_DIRECTORY)
        if not directory:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        registry.register(self.figures)
        return generate_latest(registry)


class _RequestSeries:
    """The requests of one (route, status class) counted since they were last written."""

    __slots__ = ("buckets", "count", "counter", "histogram", "seconds")

    def __init__(self, counter: Counter, histogram: Histogram) -> None:
        self.counter = counter
        self.histogram = histogram
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(LATENCY_BOUNDS) + 1)

    def write(self) -> None:
        # Histogram.observe takes one value at a time; its children (one per bucket, and the
        # sum) are what it increments, so a batch adds to them directly. Checked by
        # tests/gateway/test_metrics.py against the exposition text.
        self.counter.inc(self.count)
        children = self.histogram._buckets
        for index, count in enumerate(self.buckets):
            if count:
                children[index].inc(count)
                self.buckets[index] = 0
        self.histogram._sum.inc(self.seconds)
        self.count = 0
        self.seconds = 0.0


METRICS = web.AppKey("metrics", GatewayMetrics)


def route_label(request: web.Request) -> str:
    """The matched route's pattern (`/portal/{customer_id}`), never the raw path."""
    resource = request.match_info.route.resource
    if resource is None:
        return UNMATCHED_ROUTE
    return str(resource.canonical)


async def metrics_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the process's metrics, refreshed from PostgreSQL on a timer.

    Goes in `app.cleanup_ctx` after the context that opens `keys.POOL`. A failed
    refresh keeps the previous figures and is counted; the timer goes on.
    """
    metrics = GatewayMetrics()
    app[METRICS] = metrics
    pool = app[keys.POOL]
    metrics.watch_pool(pool)
    interval = app[keys.SETTINGS].metrics_refresh_seconds
    stop = asyncio.Event()
    task = asyncio.create_task(_refresh_periodically(metrics, pool, interval, stop), name="metrics")
    try:
        yield
    finally:
        # Let a refresh in flight finish: a query cancelled midway leaves its pooled
        # connection in a state asyncpg then complains about while the pool closes.
        stop.set()
        await task


async def _refresh_periodically(
    metrics: GatewayMetrics, pool: asyncpg.Pool[Any], interval: float, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        try:
            await metrics.refresh(pool)
        except (
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,  # raised when the server goes away mid-reset
            DatabaseUnreachable,
            OSError,
        ) as error:
            metrics.figures.refresh_failures += 1
            logger.warning("metrics refresh from PostgreSQL failed: %s", error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def metrics_handler(request: web.Request) -> web.Response:
    """GET /metrics on the ops site."""
    metrics = request.config_dict[METRICS]
    return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

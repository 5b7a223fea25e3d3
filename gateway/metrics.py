"""Prometheus metrics: requests, latency, TLS handshakes, certificate expiry, ACME orders, pool.

The text exposition format (version 0.0.4) is small enough to write here, so
the gateway needs no metrics library. Per-request series are updated in
memory by `record_request`; TLS and pool figures are read from their
owners at scrape time; certificate expiry and ACME order counts come from
PostgreSQL on a timer (`metrics_context`), never per scrape, so a scraper
cannot load the database.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Protocol

import asyncpg
from aiohttp import web

from gateway import keys

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds; the usual web latency spread from 5 ms to 10 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Requests no route matched share one label, so scanners cannot grow the series without bound.
UNMATCHED_ROUTE = "unmatched"
# Tenants get a label value each up to this many per process; later ones share OTHER_TENANTS,
# so a platform with many tenants keeps a bounded number of series (each tenant value costs
# one series per route and status, and a histogram per route).
MAX_TENANT_LABELS = 1000
OTHER_TENANTS = "other"

Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    pairs = ",".join(
        f'{name}="{_escape(value)}"' for name, value in zip(names, values, strict=True)
    )
    return "{" + pairs + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class Metric:
    """One metric family: a name, a help text, label names, and its samples."""

    kind = "untyped"

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        self.name = name
        self.help_text = help_text
        self.label_names = tuple(label_names)

    def samples(self) -> Iterable[tuple[str, str, float]]:
        """(name suffix, rendered labels, value) for every sample."""
        return ()

    def render(self) -> list[str]:
        lines = [
            f"# HELP {self.name} {self.help_text}",
            f"# TYPE {self.name} {self.kind}",
        ]
        for suffix, labels, value in self.samples():
            lines.append(f"{self.name}{suffix}{labels} {_number(value)}")
        return lines


class Counter(Metric):
    """A value per label set that only goes up (resets when the process restarts)."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, label_names)
        self._values: dict[Labels, float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(labels, 0.0)

    def samples(self) -> Iterable[tuple[str, str, float]]:
        for labels, value in sorted(self._values.items()):
            yield "", _labels(self.label_names, labels), value


class Gauge(Metric):
    """A value per label set that may go up and down; `replace` swaps the whole set at once."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, label_names)
        self._values: dict[Labels, float] = {}

    def set(self, *labels: str, value: float) -> None:
        self._values[labels] = value

    def replace(self, values: Mapping[Labels, float]) -> None:
        self._values = dict(values)

    def value(self, *labels: str) -> float | None:
        return self._values.get(labels)

    def samples(self) -> Iterable[tuple[str, str, float]]:
        for labels, value in sorted(self._values.items()):
            yield "", _labels(self.label_names, labels), value


class Histogram(Metric):
    """Observations counted in cumulative buckets, with their sum and count, per label set."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        label_names: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, label_names)
        self.buckets = tuple(sorted(buckets))
        # Per label set: a count per bucket (not cumulative), then sum and count.
        self._counts: dict[Labels, list[int]] = {}
        self._sums: dict[Labels, float] = {}

    def observe(self, *labels: str, value: float) -> None:
        counts = self._counts.get(labels)
        if counts is None:
            counts = self._counts[labels] = [0] * (len(self.buckets) + 1)
        # The first bucket whose bound is >= value; past the last bound, the +Inf one.
        counts[bisect.bisect_left(self.buckets, value)] += 1
        self._sums[labels] = self._sums.get(labels, 0.0) + value

    def count(self, *labels: str) -> int:
        return sum(self._counts.get(labels, ()))

    def samples(self) -> Iterable[tuple[str, str, float]]:
        names = (*self.label_names, "le")
        for labels, counts in sorted(self._counts.items()):
            running = 0
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                running += count
                yield "_bucket", _labels(names, (*labels, _number(bound))), running
            plain = _labels(self.label_names, labels)
            yield "_sum", plain, self._sums[labels]
            yield "_count", plain, running


class HandshakeCounters(Protocol):
    """What the HTTPS listener counts (gateway.tls.listener.HttpsListener)."""

    accepted: int
    refused: int
    failed: int


class GuardCounters(Protocol):
    """What the HTTP connection guard counts (gateway.http_guard.GuardedServer)."""

    open_connections: int
    head_timeouts: int
    body_timeouts: int
    refused_connections: int


class CertificateCounters(Protocol):
    """What the certificate resolver counts (gateway.tls.certificates.CertificateResolver)."""

    loaded: int
    issued: int


class GatewayMetrics:
    """Every series the gateway exposes; one instance per process, shared by app and ops site."""

    def __init__(self) -> None:
        self.requests = Counter(
            "gateway_http_requests_total",
            "HTTP requests answered, by tenant slug, route pattern and status.",
            ("tenant", "route", "status"),
        )
        self.latency = Histogram(
            "gateway_http_request_duration_seconds",
            "Time from the request head to the end of the response, by tenant and route.",
            ("tenant", "route"),
        )
        self.certificate_expiry = Gauge(
            "gateway_certificate_expiry_timestamp_seconds",
            "Unix time the newest stored certificate for a name expires.",
            ("domain",),
        )
        self.acme_orders = Gauge(
            "gateway_acme_orders",
            "ACME orders recorded in PostgreSQL (all replicas), by outcome.",
            ("outcome",),
        )
        self.refreshed = Gauge(
            "gateway_metrics_refresh_timestamp_seconds",
            "Unix time the figures read from PostgreSQL were last refreshed.",
        )
        self.refresh_failures = Counter(
            "gateway_metrics_refresh_failures_total",
            "Refreshes of the figures read from PostgreSQL that failed.",
        )
        self._listeners: list[HandshakeCounters] = []
        self._resolvers: list[CertificateCounters] = []
        self._guards: list[GuardCounters] = []
        self._pool: asyncpg.Pool[Any] | None = None
        self._tenants: set[str] = set()

    def observe_request(self, *, tenant: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        tenant = self._bounded_tenant(tenant)
        self.requests.inc(tenant, route, _status_text(status))
        self.latency.observe(tenant, route, value=seconds)

    def _bounded_tenant(self, tenant: str) -> str:
        if tenant in self._tenants or not tenant:
            return tenant
        if len(self._tenants) >= MAX_TENANT_LABELS:
            return OTHER_TENANTS
        self._tenants.add(tenant)
        return tenant

    def watch_guard(self, guard: GuardCounters) -> None:
        """Expose the HTTP guard's connection figures and deadline closes (read at scrape time)."""
        self._guards.append(guard)

    def watch_listener(self, listener: HandshakeCounters) -> None:
        """Expose an HTTPS listener's handshake counters (read at scrape time)."""
        self._listeners.append(listener)

    def watch_resolver(self, resolver: CertificateCounters) -> None:
        """Expose a certificate resolver's load and issuance counters (read at scrape time)."""
        self._resolvers.append(resolver)

    def watch_pool(self, pool: asyncpg.Pool[Any]) -> None:
        """Expose the database pool's size and idle connections (read at scrape time)."""
        self._pool = pool

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
        self.certificate_expiry.replace({(row["name"],): row["expires"] for row in expiry_rows})
        orders: dict[Labels, float] = {
            (outcome,): 0.0 for outcome in ("pending", "valid", "invalid", "error")
        }
        orders.update({(row["outcome"],): float(row["orders"]) for row in order_rows})
        self.acme_orders.replace(orders)
        self.refreshed.set(value=time.time())

    def render(self) -> str:
        """The exposition text of every series."""
        lines: list[str] = []
        for metric in (
            self.requests,
            self.latency,
            *self._guard_metrics(),
            *self._handshake_metrics(),
            self.certificate_expiry,
            self.acme_orders,
            self.refreshed,
            self.refresh_failures,
            *self._pool_metrics(),
        ):
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"

    def _guard_metrics(self) -> list[Metric]:
        if not self._guards:
            return []
        open_now = Gauge(
            "gateway_http_connections_open", "HTTP and HTTPS connections open in this process."
        )
        closed = Counter(
            "gateway_http_connections_closed_total",
            "Connections the gateway closed on its own, by reason: head_timeout (no complete "
            "request head in GATEWAY_HEAD_TIMEOUT), body_timeout (no whole body in "
            "GATEWAY_BODY_TIMEOUT) or over_limit (beyond GATEWAY_MAX_CONNECTIONS).",
            ("reason",),
        )
        open_now.set(value=sum(guard.open_connections for guard in self._guards))
        for guard in self._guards:
            closed.inc("head_timeout", amount=guard.head_timeouts)
            closed.inc("body_timeout", amount=guard.body_timeouts)
            closed.inc("over_limit", amount=guard.refused_connections)
        return [open_now, closed]

    def _handshake_metrics(self) -> list[Metric]:
        accepted = Counter(
            "gateway_tls_connections_accepted_total", "TCP connections accepted on HTTPS."
        )
        handshakes = Counter(
            "gateway_tls_handshakes_total",
            "HTTPS connections that did not reach HTTP, by outcome: refused (unknown name, "
            "old protocol version) or failed (no ClientHello, handshake error, no certificate).",
            ("outcome",),
        )
        loaded = Counter(
            "gateway_tls_certificates_loaded_total",
            "Certificates loaded from PostgreSQL into the TLS context cache.",
        )
        issued = Counter(
            "gateway_tls_certificates_issued_on_handshake_total",
            "Certificates issued while a client waited in its handshake.",
        )
        for listener in self._listeners:
            accepted.inc(amount=listener.accepted)
            handshakes.inc("refused", amount=listener.refused)
            handshakes.inc("failed", amount=listener.failed)
        if not self._listeners:
            return []
        for resolver in self._resolvers:
            loaded.inc(amount=resolver.loaded)
            issued.inc(amount=resolver.issued)
        return [accepted, handshakes, loaded, issued]

    def _pool_metrics(self) -> list[Metric]:
        if self._pool is None:
            return []
        connections = Gauge(
            "gateway_database_pool_connections",
            "Connections of the database pool, by state.",
            ("state",),
        )
        size, idle = self._pool.get_size(), self._pool.get_idle_size()
        connections.set("in_use", value=size - idle)
        connections.set("idle", value=idle)
        maximum = Gauge(
            "gateway_database_pool_max_connections", "Largest size of the database pool."
        )
        maximum.set(value=self._pool.get_max_size())
        return [connections, maximum]


METRICS = web.AppKey("metrics", GatewayMetrics)

_STATUS_TEXT = {status: str(status) for status in range(100, 600)}


def _status_text(status: int) -> str:
    text = _STATUS_TEXT.get(status)
    return str(status) if text is None else text


def route_label(request: web.Request) -> str:
    """The matched route's pattern (`/portal/{customer_id}`), never the raw path."""
    resource = request.match_info.route.resource
    if resource is None:
        return UNMATCHED_ROUTE
    return str(resource.canonical)


def tenant_label(request: web.Request) -> str:
    """The slug of the tenant the request was for (its host, API key or settings-page session),
    else empty."""
    tenant = keys.request_tenant(request)
    return "" if tenant is None else tenant.slug


def record_request(request: web.Request, status: int, seconds: float) -> None:
    """Count a request answered with `status` by tenant, route and status, and time it
    (no-op without metrics); the error middleware calls it, so error pages count too."""
    metrics = request.app.get(METRICS)
    if metrics is not None:
        metrics.observe_request(
            tenant=tenant_label(request),
            route=route_label(request),
            status=status,
            seconds=seconds,
        )


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
            OSError,
        ) as error:
            metrics.refresh_failures.inc()
            logger.warning("metrics refresh from PostgreSQL failed: %s", error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def metrics_handler(request: web.Request) -> web.Response:
    """GET /metrics on the ops site."""
    metrics = request.config_dict[METRICS]
    return web.Response(body=metrics.render().encode(), headers={"Content-Type": CONTENT_TYPE})

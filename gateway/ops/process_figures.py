"""Figures read at scrape time in the scraped process: connections, TLS handshakes, the pool,
and the certificate and ACME figures last read from PostgreSQL.

A `prometheus_client` collector: nothing here is counted per request. With
worker processes each worker serves its own ops port (GATEWAY_OPS_PORT + n), so
these figures are those of the worker scraped; the per-request series of
`gateway.ops.metrics` aggregate every worker instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import asyncpg
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

ACME_OUTCOMES = ("pending", "valid", "invalid", "error")


class HandshakeCounters(Protocol):
    """What the HTTPS listener counts (gateway.tls.listener.HttpsListener)."""

    accepted: int
    refused: int
    failed: int


class GuardCounters(Protocol):
    """What the HTTP connection guard counts (gateway.network.http_guard.GuardedServer)."""

    open_connections: int
    head_timeouts: int
    body_timeouts: int
    refused_connections: int


class CertificateCounters(Protocol):
    """What the certificate resolver counts (gateway.tls.certificates.CertificateResolver)."""

    loaded: int
    issued: int


class ProcessFigures(Collector):
    """The owners this process watches and the figures last read from PostgreSQL."""

    def __init__(self) -> None:
        self.listeners: list[HandshakeCounters] = []
        self.resolvers: list[CertificateCounters] = []
        self.guards: list[GuardCounters] = []
        self.pool: asyncpg.Pool[Any] | None = None
        self.certificate_expiry: Mapping[str, float] = {}
        self.acme_orders: Mapping[str, float] = {}
        self.refreshed: float | None = None
        self.refresh_failures = 0

    def collect(self) -> Iterator[Metric]:
        yield from self._guard_metrics()
        yield from self._handshake_metrics()
        yield from self._database_figures()
        yield from self._pool_metrics()

    def _guard_metrics(self) -> Iterator[Metric]:
        if not self.guards:
            return
        open_now = GaugeMetricFamily(
            "gateway_http_connections_open", "HTTP and HTTPS connections open in this process."
        )
        open_now.add_metric([], sum(guard.open_connections for guard in self.guards))
        closed = CounterMetricFamily(
            "gateway_http_connections_closed",
            "Connections the gateway closed on its own, by reason: head_timeout (no complete "
            "request head in GATEWAY_HEAD_TIMEOUT), body_timeout (no whole body in "
            "GATEWAY_BODY_TIMEOUT) or over_limit (beyond GATEWAY_MAX_CONNECTIONS).",
            labels=("reason",),
        )
        closed.add_metric(["head_timeout"], sum(guard.head_timeouts for guard in self.guards))
        closed.add_metric(["body_timeout"], sum(guard.body_timeouts for guard in self.guards))
        closed.add_metric(["over_limit"], sum(guard.refused_connections for guard in self.guards))
        yield from (open_now, closed)

    def _handshake_metrics(self) -> Iterator[Metric]:
        if not self.listeners:
            return
        accepted = CounterMetricFamily(
            "gateway_tls_connections_accepted", "TCP connections accepted on HTTPS."
        )
        accepted.add_metric([], sum(listener.accepted for listener in self.listeners))
        handshakes = CounterMetricFamily(
            "gateway_tls_handshakes",
            "HTTPS connections that did not reach HTTP, by outcome: refused (unknown name, "
            "old protocol version) or failed (no ClientHello, handshake error, no certificate).",
            labels=("outcome",),
        )
        handshakes.add_metric(["refused"], sum(listener.refused for listener in self.listeners))
        handshakes.add_metric(["failed"], sum(listener.failed for listener in self.listeners))
        loaded = CounterMetricFamily(
            "gateway_tls_certificates_loaded",
            "Certificates loaded from PostgreSQL into the TLS context cache.",
        )
        loaded.add_metric([], sum(resolver.loaded for resolver in self.resolvers))
        issued = CounterMetricFamily(
            "gateway_tls_certificates_issued_on_handshake",
            "Certificates issued while a client waited in its handshake.",
        )
        issued.add_metric([], sum(resolver.issued for resolver in self.resolvers))
        yield from (accepted, handshakes, loaded, issued)

    def _database_figures(self) -> Iterator[Metric]:
        expiry = GaugeMetricFamily(
            "gateway_certificate_expiry_timestamp_seconds",
            "Unix time the newest stored certificate for a name expires.",
            labels=("domain",),
        )
        for name, expires in sorted(self.certificate_expiry.items()):
            expiry.add_metric([name], expires)
        orders = GaugeMetricFamily(
            "gateway_acme_orders",
            "ACME orders recorded in PostgreSQL (all replicas), by outcome.",
            labels=("outcome",),
        )
        for outcome, count in sorted(self.acme_orders.items()):
            orders.add_metric([outcome], count)
        refreshed = GaugeMetricFamily(
            "gateway_metrics_refresh_timestamp_seconds",
            "Unix time the figures read from PostgreSQL were last refreshed.",
        )
        if self.refreshed is not None:
            refreshed.add_metric([], self.refreshed)
        failures = CounterMetricFamily(
            "gateway_metrics_refresh_failures",
            "Refreshes of the figures read from PostgreSQL that failed.",
        )
        failures.add_metric([], self.refresh_failures)
        yield from (expiry, orders, refreshed, failures)

    def _pool_metrics(self) -> Iterator[Metric]:
        if self.pool is None:
            return
        connections = GaugeMetricFamily(
            "gateway_database_pool_connections",
            "Connections of the database pool, by state.",
            labels=("state",),
        )
        size, idle = self.pool.get_size(), self.pool.get_idle_size()
        connections.add_metric(["in_use"], size - idle)
        connections.add_metric(["idle"], idle)
        maximum = GaugeMetricFamily(
            "gateway_database_pool_max_connections", "Largest size of the database pool."
        )
        maximum.add_metric([], self.pool.get_max_size())
        yield from (connections, maximum)

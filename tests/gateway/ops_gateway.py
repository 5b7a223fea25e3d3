"""The gateway app with the observability and proxy wiring of the production composition.

`observed_app` adds what `create_app` may not wire yet (request ids and JSON
access lines, metrics, the database-outage 503, reverse-proxy routes), each
only once, so the tests hold whether or not the composition root has them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from gateway.app import create_app
from gateway.error_middleware import observed_error_middleware
from gateway.health import database_outage_middleware
from gateway.logging_setup import request_id_header, request_log_middleware
from gateway.metrics import metrics_context, metrics_middleware
from gateway.middleware import edge_middleware
from gateway.proxy_routes import setup_proxy_routes
from gateway.settings import Settings

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def observed_app(settings: Settings) -> web.Application:
    """`create_app(settings)` (no domain worker) with the ops middleware, signal and contexts."""
    app = create_app(settings, validate_api_responses=True, domain_worker=False)
    # observed_error_middleware holds the request log and metrics middlewares, and
    # edge_middleware the outage one.
    observed = observed_error_middleware in app.middlewares
    if not observed and request_log_middleware not in app.middlewares:
        app.middlewares.insert(0, request_log_middleware)
    if not observed and metrics_middleware not in app.middlewares:
        app.middlewares.insert(1, metrics_middleware)
    outage = edge_middleware in app.middlewares
    if not outage and database_outage_middleware not in app.middlewares:
        app.middlewares.append(database_outage_middleware)
    if request_id_header not in app.on_response_prepare:
        app.on_response_prepare.append(request_id_header)
    if metrics_context not in app.cleanup_ctx:
        app.cleanup_ctx.append(metrics_context)
    routed = {resource.canonical for resource in app.router.resources()}
    missing = tuple((prefix, url) for prefix, url in settings.upstreams if prefix not in routed)
    setup_proxy_routes(app, dataclasses.replace(settings, upstreams=missing))
    return app


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Samples of a Prometheus text exposition: (name, labels) -> value."""
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match is not None, f"not a sample line: {line!r}"
        labels = frozenset(LABEL.findall(match[2] or ""))
        samples[(match[1], labels)] = float(match[3])
    return samples


def sample(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def json_lines(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        if line.strip():
            yield json.loads(line)

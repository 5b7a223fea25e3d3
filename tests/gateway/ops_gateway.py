"""The production gateway app for the observability tests, and readers of what it exposes.

`observed_app` is `create_app(settings)` as the process serves it (request ids
and JSON access lines, metrics, the database-outage 503, reverse-proxy routes
from settings), with API responses checked against their schemas and no domain
worker; `parse_metrics` and `json_lines` read its metrics and logs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from gateway.app import create_app
from gateway.settings import Settings

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def observed_app(settings: Settings) -> web.Application:
    """`create_app(settings)` with API responses validated and no domain worker."""
    return create_app(settings, domain_worker=False)


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

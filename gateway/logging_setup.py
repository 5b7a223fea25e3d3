"""Structured logs: one JSON object per line, carrying the request id and tenant of the request.

`configure_logging` installs the formatter on the root logger. The
`request_log_middleware` gives every request an id (the client's
`X-Request-Id` when it is sane, else a fresh one), makes it and the tenant
appear on every log line written while the request runs (the error
middleware's line with its error id included), and writes one access line
per request on the `gateway.access` logger. `request_id_header` (an
`on_response_prepare` signal) echoes the id in the response, streamed
responses and error pages included.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import sys
import time
from datetime import UTC, datetime
from typing import IO, Any

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway import keys

REQUEST_ID_HEADER = "X-Request-Id"
# A client's id is kept when it is short and plain (no spaces, quotes or control
# characters that would forge log fields or headers); otherwise a new one is made.
_ACCEPTED_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")

REQUEST_ID = web.RequestKey("request_id", str)
access_logger = logging.getLogger("gateway.access")

# The request being served by the current task, for log lines written anywhere below it.
_current_request: contextvars.ContextVar[web.BaseRequest | None] = contextvars.ContextVar(
    "gateway_current_request", default=None
)

# LogRecord attributes that are not `extra` fields.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """Each record as one JSON object: time, level, logger, message, request context, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(request_context())
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def request_context() -> dict[str, Any]:
    """The request id and tenant of the request this task serves; empty outside requests."""
    request = _current_request.get()
    if request is None:
        return {}
    context: dict[str, Any] = {"request_id": request.get(REQUEST_ID)}
    tenant = request.get(keys.TENANT) or request.get(keys.API_TENANT)
    if tenant is not None:
        context["tenant_id"] = tenant.id
        context["tenant"] = tenant.slug
    return context


def configure_logging(
    level: str = "INFO", *, log_format: str = "json", stream: IO[str] | None = None
) -> None:
    """Send every log line to `stream` (stderr) as JSON (or plain text), at `level` and above.

    aiohttp's own access log is silenced: `request_log_middleware` writes one
    richer line per request instead.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def choose_request_id(offered: str | None) -> str:
    """The client's request id when acceptable, else a new random one (128 bits, hex)."""
    if offered is not None and _ACCEPTED_REQUEST_ID.match(offered):
        return offered
    return secrets.token_hex(16)


@web.middleware
async def request_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request its id, put it on every log line below, and log one access line.

    Goes first in the middleware list, so its line has the final status and duration.
    """
    request[REQUEST_ID] = choose_request_id(request.headers.get(REQUEST_ID_HEADER))
    token = _current_request.set(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:
        status = error.status
        error.headers.setdefault(REQUEST_ID_HEADER, request[REQUEST_ID])
        raise
    finally:
        access_logger.info(
            "%s %s %d",
            request.method,
            request.path,
            status,
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "remote": request.remote,
            },
        )
        _current_request.reset(token)


async def request_id_header(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """on_response_prepare: echo the request id on every response that has one."""
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers.setdefault(REQUEST_ID_HEADER, request_id)

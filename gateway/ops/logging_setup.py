"""Structured logs: one JSON object per line, carrying the request id and tenant of the request.

`configure_logging` installs the formatter on the root logger.
`begin_request` gives every request an id (the client's `X-Request-Id` when
it is sane, else a fresh one) and makes it and the tenant appear on every log
line written while the request runs (the error middleware's line with its
error id included) until `end_request`. `gateway.edge.error_middleware` calls
both; `gateway.ops.access_log` writes one access line per request on the
`gateway.access` logger, and `gateway.edge.response_headers` echoes the id in
the response.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import os
import random
import re
import sys
from datetime import UTC, datetime
from typing import IO, Any

from aiohttp import web
from multidict import istr

from gateway.edge import keys

# The project's top-level packages: their loggers follow the configured level.
OWN_PACKAGES = ("gateway", "billing", "certs", "portal", "checkout", "kernel")

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID_KEY = istr(REQUEST_ID_HEADER)
# A client's id is kept when it is short and plain (no spaces, quotes or control
# characters that would forge log fields or headers); otherwise a new one is made.
_ACCEPTED_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")

REQUEST_ID = web.RequestKey("request_id", str)
access_logger = logging.getLogger("gateway.access")

_ids = random.Random(os.urandom(32))  # noqa: S311
# A forked child must not repeat its parent's ids.
os.register_at_fork(after_in_child=lambda: _ids.seed(os.urandom(32)))

# The request being served by the current task, for log lines written anywhere below it.
_current_request: contextvars.ContextVar[web.BaseRequest | None] = contextvars.ContextVar(
    "gateway_current_request", default=None
)

# The attribute of an access line's LogRecord holding its whole JSON object, built flat by
# the middleware: formatting it is one json.dumps (bench/notes.md: the access line cost 9%
# of a small request when it went through `extra=` and the generic formatter).
ACCESS_FIELDS = "access_fields"

# LogRecord attributes that are not `extra` fields.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)


# One encoder for every line (json.dumps with `default=` would build one per call).
_ENCODER = json.JSONEncoder(default=str)


class JsonFormatter(logging.Formatter):
    """Each record as one JSON object: time, level, logger, message, request context, extras."""

    def format(self, record: logging.LogRecord) -> str:
        flat: dict[str, Any] | None = record.__dict__.get(ACCESS_FIELDS)
        if flat is not None:
            return _ENCODER.encode(flat)
        entry: dict[str, Any] = {
            "time": timestamp(record.created),
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
        return _ENCODER.encode(entry)


class LineBatchingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes the lines of one event-loop iteration in one write.

    Lines logged from the event loop's thread are kept until the loop's next
    iteration (or `flush`), then written together and flushed: one system call
    for the access lines of many requests instead of one each. Lines from other
    threads, or with no loop running, are written at once, after any kept ones.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._pending_loop: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            loop = asyncio.events._get_running_loop()
            if loop is not None and loop is self._pending_loop:
                self._pending.append(line)
                return
            if loop is not None and not loop.is_closed():
                self._write_pending()
                self._pending.append(line)
                self._pending_loop = loop
                loop.call_soon(self._drain)
                return
            self._write_pending()
            self.stream.write(line)
            self.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def _drain(self) -> None:
        with self.lock or _NO_LOCK:
            self._write_pending()
            super().flush()

    def _write_pending(self) -> None:
        self._pending_loop = None
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self.stream.write(text)

    def flush(self) -> None:
        with self.lock or _NO_LOCK:
            self._write_pending()
            super().flush()

    def write_text(self, text: str) -> None:
        """Write whole formatted lines now, after any kept ones, and flush."""
        with self.lock or _NO_LOCK:
            self._write_pending()
            self.stream.write(text)
            super().flush()


# The formatted second of the last timestamp: lines of one second share it.
_last_second: list[Any] = [None, ""]


_NO_LOCK = contextlib.nullcontext()
# The handler configure_logging installed last (see direct_json_handler).
_installed: list[LineBatchingHandler | None] = [None]


def timestamp(created: float) -> str:
    """ISO 8601 in UTC to the millisecond, as `datetime.isoformat(timespec="milliseconds")`."""
    whole = int(created)
    fraction = round((created - whole) * 1_000_000)
    second = whole + fraction // 1_000_000
    fraction %= 1_000_000
    if _last_second[0] != second:
        _last_second[1] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second[0] = second
    return f"{_last_second[1]}.{fraction // 1000:03d}+00:00"


def request_context() -> dict[str, Any]:
    """The request id and tenant of the request this task serves; empty outside requests."""
    request = _current_request.get()
    if request is None:
        return {}
    context: dict[str, Any] = {"request_id": request.get(REQUEST_ID)}
    tenant = keys.request_tenant(request)
    if tenant is not None:
        context["tenant_id"] = tenant.id
        context["tenant"] = tenant.slug
    return context


def configure_logging(
    level: str = "INFO", *, log_format: str = "json", stream: IO[str] | None = None
) -> None:
    """Send every log line to `stream` (stderr) as JSON (or plain text), at `level` and above.

    That level is for the project's own packages. Libraries (the Stripe client logs
    every API request at INFO) speak from WARNING up, unless `level` is DEBUG.
    aiohttp's own access log is silenced: `gateway.ops.access_log` writes one richer
    line per request instead.
    """
    handler = LineBatchingHandler(stream or sys.stderr)
    _installed[0] = handler
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    own_level = logging.getLevelNamesMapping().get(level.upper())
    if own_level is None:
        raise ValueError(f"unknown log level {level!r}")
    root.setLevel(own_level if own_level <= logging.DEBUG else max(own_level, logging.WARNING))
    for package in OWN_PACKAGES:
        logging.getLogger(package).setLevel(own_level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def choose_request_id(offered: str | None) -> str:
    """The client's request id when acceptable, else a new random one (128 bits, hex)."""
    if offered is not None and _ACCEPTED_REQUEST_ID.match(offered):
        return offered
    # An id names a request in logs; it is no secret (the client may choose it). 128 bits
    # from a generator seeded from the OS: a system call per request cost more than the rest.
    return f"{_ids.getrandbits(128):032x}"


def begin_request(request: web.Request) -> contextvars.Token[web.BaseRequest | None]:
    """Give `request` its id and make it the current request of log lines; see `end_request`."""
    request[REQUEST_ID] = choose_request_id(request.headers.get(_REQUEST_ID_KEY))
    return _current_request.set(request)


def end_request(token: contextvars.Token[web.BaseRequest | None]) -> None:
    """End the log context `begin_request` opened (the access line: `gateway.ops.access_log`)."""
    _current_request.reset(token)


def direct_json_handler(logger: logging.Logger) -> LineBatchingHandler | None:
    """The handler `configure_logging` installed, when it alone takes `logger`'s INFO lines as JSON.

    Then a line can be written to it preformatted (`LineBatchingHandler.write_text`)
    with the same result as a record going through the logging machinery; None
    under any other set-up (other handlers, filters, text format, a disabled logger).
    """
    handler = _installed[0]
    if handler is None or logger.handlers or logger.filters or not logger.propagate:
        return None
    root = logging.getLogger()
    if root.handlers != [handler] or root.filters or handler.filters or logger.disabled:
        return None
    if handler.level > logging.INFO or type(handler.formatter) is not JsonFormatter:
        return None
    return handler

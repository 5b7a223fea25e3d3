"""The access line: plain values kept on the request path, formatted and written once per loop turn.

A request only appends a tuple of what its line needs (`AccessLog.record`); the
lines of one event-loop iteration are formatted and written together on the
next one. With the handler `configure_logging` installs (JSON to a stream, the
usual case) a line is built by string formatting and the batch is one write:
no LogRecord, no handler chain and no generic JSON encoding per request
(bench/notes.md, "Small page, third round"). Under any other logging set-up
(text format, extra handlers, filters, pytest's capture) each line becomes an
ordinary record on the `gateway.access` logger, as before.

Operators may sample fast successful requests (GATEWAY_ACCESS_LOG_SAMPLE with
GATEWAY_ACCESS_LOG_FAST_MS): errors, redirects and slow requests are always written.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from json.encoder import encode_basestring_ascii
from typing import Any

from aiohttp import web

from gateway.edge import keys
from gateway.ops import logging_setup
from gateway.ops.logging_setup import ACCESS_FIELDS, REQUEST_ID, access_logger

_LOGGER_NAME = encode_basestring_ascii(access_logger.name)

# time, request id, tenant, method, path, status, seconds, remote address
Entry = tuple[float, Any, Any, str, str, int, float, Any]


class AccessLog:
    """One line per request on `gateway.access`, unless sampled out.

    `sample` is the share (0 to 1) of 2xx responses faster than `fast_seconds`
    that get a line; every other response always gets one. The logger's level is
    honoured: at WARNING or above no line is kept at all.
    """

    def __init__(self, *, sample: float = 1.0, fast_seconds: float = 0.1) -> None:
        self.sample = sample
        self.fast_seconds = fast_seconds
        self._pending: list[Entry] = []
        # Sampling, not secrecy: a fast generator is right here.
        self._random = random.Random()  # noqa: S311

    def record(self, request: web.Request, status: int, seconds: float) -> None:
        """Keep the line of `request`, answered with `status` after `seconds`."""
        if (
            self.sample < 1.0
            and 200 <= status < 300
            and seconds < self.fast_seconds
            and self._random.random() >= self.sample
        ):
            return
        if not access_logger.isEnabledFor(logging.INFO):
            return
        entry = (
            time.time(),
            request.get(REQUEST_ID),
            keys.request_tenant(request),
            request.method,
            request.path,
            status,
            seconds,
            request.remote,
        )
        pending = self._pending
        pending.append(entry)
        if len(pending) == 1:
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write the lines kept so far (the loop calls this once per iteration with lines)."""
        entries, self._pending = self._pending, []
        if not entries:
            return
        handler = logging_setup.direct_json_handler(access_logger)
        if handler is not None:
            handler.write_text("".join([_json_line(entry) for entry in entries]))
            return
        for entry in entries:
            _log_record(entry)


def _json_line(entry: Entry) -> str:
    """The line JsonFormatter would write for the record `_log_record` makes, and a newline."""
    created, request_id, tenant, method, path, status, seconds, remote = entry
    message = encode_basestring_ascii(f"{method} {path} {status}")
    tenant_fields = (
        ""
        if tenant is None
        else f', "tenant_id": {tenant.id}, "tenant": {encode_basestring_ascii(tenant.slug)}'
    )
    return (
        f'{{"time": "{logging_setup.timestamp(created)}", "level": "INFO", '
        f'"logger": {_LOGGER_NAME}, "message": {message}, '
        f'"request_id": {_text(request_id)}{tenant_fields}, '
        f'"method": {encode_basestring_ascii(method)}, "path": {encode_basestring_ascii(path)}, '
        f'"status": {status}, "duration_ms": {round(seconds * 1000, 3)!r}, '
        f'"remote": {_text(remote)}}}\n'
    )


def _text(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)


def _log_record(entry: Entry) -> None:
    created, request_id, tenant, method, path, status, seconds, remote = entry
    message = f"{method} {path} {status}"
    record = access_logger.makeRecord(
        access_logger.name, logging.INFO, __file__, 0, message, (), None
    )
    record.created = created
    fields: dict[str, Any] = {
        "time": logging_setup.timestamp(created),
        "level": "INFO",
        "logger": access_logger.name,
        "message": message,
        "request_id": request_id,
    }
    if tenant is not None:
        fields["tenant_id"] = tenant.id
        fields["tenant"] = tenant.slug
    fields["method"] = method
    fields["path"] = path
    fields["status"] = status
    fields["duration_ms"] = round(seconds * 1000, 3)
    fields["remote"] = remote
    setattr(record, ACCESS_FIELDS, fields)
    access_logger.handle(record)


ACCESS_LOG = web.AppKey("access_log", AccessLog)

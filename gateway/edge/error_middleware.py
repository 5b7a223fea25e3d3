"""The one place errors become responses: a branded HTML page or an RFC 9457 problem document."""

from __future__ import annotations

import html
import http
import json
import logging
import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.edge import keys
from gateway.edge.branding import brand_context
from gateway.edge.errors import GatewayError, PayloadTooLarge, Unauthorized
from gateway.edge.middleware import is_api_path
from gateway.ops.access_log import ACCESS_LOG
from gateway.ops.logging_setup import REQUEST_ID, begin_request, end_request
from gateway.ops.metrics import METRICS, route_label
from kernel.errors import DomainError, ErrorKind

logger = logging.getLogger(__name__)

# Problem types are stable identifiers clients may switch on (RFC 9457 3.1.1);
# they name a documentation page per kind of problem.
PROBLEM_TYPE_BASE = "https://docs.gateway.invalid/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"
ERROR_TEMPLATE = "error.html"
# Headers of aiohttp's own exceptions that tell the client what to do next.
_KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After")


@dataclass(frozen=True, kw_only=True)
class Problem:
    """An error as the client will see it, whatever the format."""

    status: int
    title: str
    detail: str
    errors: Mapping[str, str] = field(default_factory=dict)
    codes: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    slug: str = ""

    @property
    def type_uri(self) -> str:
        return PROBLEM_TYPE_BASE + self.type_slug

    @property
    def type_slug(self) -> str:
        return self.slug or self.title.lower().replace(" ", "-")

    def code(self, name: str) -> str:
        """The machine code of field `name`'s error: its own, else `invalid` (422) or the type."""
        return self.codes.get(name, "invalid" if self.status == 422 else self.type_slug)


@web.middleware
async def observed_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error raised below into a response, logged with an error id; add the fixed
    response headers; count and log every request.

    The request log, response headers, metrics and errors as one layer
    (bench/notes.md): the request id and log context, the error page or problem
    document, the app's precomputed header block, then the request counted and
    timed and its access line kept with the final status. Goes first in the
    middleware list of an app made by `create_app` (it reads the app's
    `keys.RESPONSE_HEADERS`, `ACCESS_LOG` and `METRICS`).
    """
    app = request.app  # the main app: sub-apps' handlers change it while they run
    fixed = app[keys.RESPONSE_HEADERS]
    in_flight = app[keys.IN_FLIGHT]
    token = begin_request(request)
    started = time.perf_counter()
    in_flight.arrived(started)
    status = 500
    try:
        try:
            response = await handler(request)
        except web.HTTPException as error:
            if error.status >= 400:
                response = error_response(request, error)
            else:  # redirects and 304s raised as exceptions pass through
                status = error.status
                fixed.apply(request, error, request[REQUEST_ID])
                raise
        except Exception as error:
            response = error_response(request, error)
        status = response.status
        fixed.apply(request, response, request[REQUEST_ID])
        return response
    finally:
        seconds = time.perf_counter() - started
        metrics = app.get(METRICS)
        if metrics is not None:
            metrics.observe_request(route=route_label(request), status=status, seconds=seconds)
        app[ACCESS_LOG].record(request, status, seconds)
        end_request(token)
        in_flight.answered()


def error_response(request: web.Request, error: Exception) -> web.Response:
    """The response for `error` raised while serving `request` (an HTTPException >= 400 or
    any other exception), logged with a new error id."""
    if isinstance(error, web.HTTPException):
        problem = _from_http_exception(request, error)
    else:
        problem = describe_error(error)
    error_id = secrets.token_hex(8)
    _log(request, problem, error_id, error)
    response = _render(request, problem, error_id)
    if request.path.startswith("/portal/"):
        # The portal URL is a bearer link: an error page must not leak it either.
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


# The one table from what a domain error is to what a client sees (README, "Errors").
# A payment provider that cannot be reached is a 503 like a database outage: the same
# request may succeed shortly, and nothing was charged.
KIND_STATUS: Mapping[ErrorKind, tuple[int, str]] = {
    ErrorKind.NOT_FOUND: (404, "Not found"),
    ErrorKind.INVALID: (422, "Invalid input"),
    ErrorKind.MALFORMED: (400, "Bad request"),
    ErrorKind.CONFLICT: (409, "Conflict"),
    ErrorKind.UNAUTHENTICATED: (401, "Unauthorized"),
    ErrorKind.RATE_LIMITED: (429, "Too many requests"),
    ErrorKind.PAYMENT_FAILED: (402, "Payment failed"),
    ErrorKind.UNAVAILABLE: (503, "Service unavailable"),
    ErrorKind.UPSTREAM_FAILED: (502, "Bad gateway"),
    ErrorKind.INTERNAL: (500, "Internal error"),
}
INTERNAL_DETAIL = "Something went wrong on our side. Quote the error id if you contact support."
INVALID_DETAIL = "Some fields are not valid; nothing was changed."


def describe_error(error: Exception) -> Problem:
    """The problem a raised exception stands for; anything not raised on purpose is a 500."""
    if isinstance(error, GatewayError):
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, Unauthorized) else {}
        return Problem(
            status=error.status,
            title=error.title,
            detail=error.detail,
            errors=error.errors,
            codes=error.codes,
            headers=headers,
        )
    if isinstance(error, DomainError):
        return _from_domain_error(error)
    return Problem(status=500, title="Internal error", detail=INTERNAL_DETAIL)


def _from_domain_error(error: DomainError) -> Problem:
    status, title = KIND_STATUS[error.kind]
    detail = str(error)
    if error.kind is ErrorKind.INTERNAL:
        detail = INTERNAL_DETAIL  # our own state is wrong: the details go to the log only
    elif error.kind is ErrorKind.INVALID:
        detail = INVALID_DETAIL
    headers: dict[str, str] = {}
    if error.kind is ErrorKind.UNAUTHENTICATED:
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = error.retry_after
    if isinstance(retry_after, datetime):
        headers["Retry-After"] = f"{retry_after:%a, %d %b %Y %H:%M:%S} GMT"
    elif retry_after is not None:
        headers["Retry-After"] = str(math.ceil(retry_after))
    return Problem(
        status=status,
        title=title,
        detail=detail,
        errors=error.field_errors,
        codes=error.field_codes,
        headers=headers,
    )


def _from_http_exception(request: web.Request, error: web.HTTPException) -> Problem:
    headers = {name: error.headers[name] for name in _KEPT_HEADERS if name in error.headers}
    if isinstance(error, web.HTTPRequestEntityTooLarge):
        return Problem(
            status=413,
            title=PayloadTooLarge.title,
            detail=f"The request body is larger than the limit of {request.client_max_size} bytes.",
            headers=headers,
        )
    if error.status == 404:
        return Problem(status=404, title="Not found", detail="There is nothing at this address.")
    try:
        phrase = http.HTTPStatus(error.status).phrase
    except ValueError:
        phrase = "Error"
    default_text = f"{error.status}: {error.reason}"
    detail = error.text if error.text and error.text != default_text else phrase + "."
    return Problem(status=error.status, title=phrase, detail=detail, headers=headers)


def _log(request: web.Request, problem: Problem, error_id: str, error: BaseException) -> None:
    extra = {"error_id": error_id, "status": problem.status, "path": request.path}
    message = "error_id=%s status=%d %s %s: %s"
    arguments = (error_id, problem.status, request.method, request.path, error)
    if problem.status >= 500:
        logger.error(message, *arguments, exc_info=error, extra=extra)
    else:
        logger.info(message, *arguments, extra=extra)


def wants_problem_document(request: web.Request) -> bool:
    """Problem documents for API clients: /api/ paths, the API host, and page scripts.

    A page script asks with `Accept: application/json` (the portal's payment
    forms) and shows the problem's detail instead of parsing an HTML page.
    """
    settings = request.config_dict.get(keys.SETTINGS)
    on_api_host = settings is not None and request.get(keys.CANONICAL_HOST) == settings.api_host
    wants_json = "application/json" in request.headers.get("Accept", "")
    return is_api_path(request.path) or on_api_host or wants_json


def _render(request: web.Request, problem: Problem, error_id: str) -> web.Response:
    if wants_problem_document(request):
        return _problem_document(request, problem, error_id)
    return _error_page(request, problem, error_id)


def _problem_document(request: web.Request, problem: Problem, error_id: str) -> web.Response:
    body: dict[str, Any] = {
        "type": problem.type_uri,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.path,
        "error_id": error_id,
        "errors": [
            {"field": name, "code": problem.code(name), "message": message}
            for name, message in problem.errors.items()
        ],
    }
    # Bytes, not text: JSON media types take no charset parameter (RFC 8259 11).
    return web.Response(
        body=json.dumps(body).encode(),
        status=problem.status,
        content_type=PROBLEM_CONTENT_TYPE,
        headers=dict(problem.headers),
    )


def _error_page(request: web.Request, problem: Problem, error_id: str) -> web.Response:
    detail = problem.detail[:1].upper() + problem.detail[1:]
    context = {
        # Only a resolved tenant brands the page; an unknown host must name no one.
        "brand": brand_context(request.get(keys.TENANT)),
        "status": problem.status,
        "title": problem.title,
        "detail": detail,
        "errors": [{"field": name, "message": message} for name, message in problem.errors.items()],
        "error_id": error_id if problem.status >= 500 else None,
    }
    try:
        text = aiohttp_jinja2.render_string(ERROR_TEMPLATE, request, context)
    except Exception:
        logger.exception("error_id=%s: the error page could not be rendered", error_id)
        text = (
            f"<!doctype html><html lang=en><meta charset=utf-8><title>{problem.status}</title>"
            f"<h1>{html.escape(problem.title)}</h1><p>{html.escape(detail)}</p>"
            f"<p>Error id: {error_id}</p></html>"
        )
    return web.Response(
        text=text,
        status=problem.status,
        content_type="text/html",
        headers=dict(problem.headers),
    )

"""Errors of the gateway package: data with a readable message, translated once at the edge.

`gateway.error_middleware` maps these (and the other packages' roots) to a
branded HTML page or an RFC 9457 problem document.
"""

from __future__ import annotations

from collections.abc import Mapping


class GatewayError(Exception):
    """Root of every error the gateway package raises on purpose; `status` is the HTTP status."""

    status = 500
    title = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        errors: Mapping[str, str] | None = None,
        codes: Mapping[str, str] | None = None,
    ) -> None:
        self.detail = detail
        self.errors = dict(errors or {})
        # A stable machine code per field of `errors` (`required`, `invalid_email`...), where known.
        self.codes = dict(codes or {})
        super().__init__(detail)


class BadRequest(GatewayError):
    """Malformed request: bad host, bad JSON, unknown fields, wrong types."""

    status = 400
    title = "Bad request"


class Unauthorized(GatewayError):
    """Missing, unknown or revoked API key."""

    status = 401
    title = "Unauthorized"


class Forbidden(GatewayError):
    """Authenticated but not allowed (for example a missing CSRF token)."""

    status = 403
    title = "Forbidden"


class NotFound(GatewayError):
    """No such route, host, tenant or resource. The message never names another tenant."""

    status = 404
    title = "Not found"


class Conflict(GatewayError):
    """The request clashes with stored state (duplicate slug, reused idempotency key)."""

    status = 409
    title = "Conflict"


class PayloadTooLarge(GatewayError):
    """The body (or an uploaded icon) is larger than the configured limit."""

    status = 413
    title = "Payload too large"


class UnsupportedMediaType(GatewayError):
    """The body is not of a type this route accepts."""

    status = 415
    title = "Unsupported media type"


class MisdirectedRequest(GatewayError):
    """The request reached a connection whose TLS name differs from its Host (RFC 9110 15.5.20)."""

    status = 421
    title = "Misdirected request"


class ServiceUnavailable(GatewayError):
    """A dependency (the database) is unreachable; retry shortly."""

    status = 503
    title = "Service unavailable"


class BadGateway(GatewayError):
    """An upstream of a reverse-proxy route refused the connection or broke its answer."""

    status = 502
    title = "Bad gateway"


class GatewayTimeout(GatewayError):
    """An upstream of a reverse-proxy route did not connect or answer in time."""

    status = 504
    title = "Gateway timeout"

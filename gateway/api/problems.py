"""The tenant API's one answer to invalid input: 422, every field error at once, each with a code.

Request models (pydantic) and the domain services (`billing.errors.InvalidInput`,
`gateway.tenants.errors.InvalidTenantInput`) both report field errors; this
middleware renders all of them in one RFC 9457 shape:

    {"type": ".../problems/invalid-input", "title": "Invalid input", "status": 422,
     "detail": ..., "instance": ..., "error_id": ...,
     "errors": [{"field": "address.country", "code": "invalid_country", "message": ...}]}

A body that cannot be parsed (not JSON, not UTF-8, nested too deeply, a NUL or
lone surrogate, an over-long number) stays a 400 from `gateway.errors.BadRequest`.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from billing.errors import InvalidInput
from billing.fields import field_violations
from gateway.errors import GatewayError
from gateway.tenants.errors import InvalidTenantInput

logger = logging.getLogger("gateway.error_middleware")

PROBLEM_TYPE = "https://docs.gateway.invalid/problems/invalid-input"
PROBLEM_CONTENT_TYPE = "application/problem+json"
TITLE = "Invalid input"
DETAIL = "Some fields are not valid; nothing was changed."
Violations = Mapping[str, tuple[str, str]]


class InvalidRequest(GatewayError):
    """Fields of the request are wrong: `violations` maps each field to (code, message)."""

    status = 422
    title = TITLE

    def __init__(self, violations: Violations, detail: str = DETAIL) -> None:
        self.violations = dict(violations)
        super().__init__(
            detail, errors={name: message for name, (_, message) in violations.items()}
        )

    @classmethod
    def from_validation(
        cls, error: ValidationError, prefix: tuple[str, ...] = ()
    ) -> InvalidRequest:
        return cls(field_violations(error, prefix))

    @classmethod
    def field(cls, name: str, code: str, message: str) -> InvalidRequest:
        return cls({name: (code, message)})


def violations_of(error: Exception) -> dict[str, tuple[str, str]] | None:
    """The field violations an error stands for, or None when it is not invalid input."""
    if isinstance(error, InvalidRequest):
        return error.violations
    if isinstance(error, InvalidInput):
        return {name: (error.codes[name], message) for name, message in error.errors.items()}
    if isinstance(error, InvalidTenantInput):
        return {name: (error.codes[name], message) for name, message in error.errors.items()}
    return None


def problem_response(request: web.Request, violations: Violations) -> web.Response:
    """The 422 problem document for `violations`, logged with a new error id."""
    error_id = secrets.token_hex(8)
    logger.info(
        "error_id=%s status=422 %s %s: %s",
        error_id,
        request.method,
        request.path,
        "; ".join(f"{name}: {code}" for name, (code, _) in violations.items()),
        extra={"error_id": error_id, "status": 422, "path": request.path},
    )
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE,
        "title": TITLE,
        "status": 422,
        "detail": DETAIL,
        "instance": request.path,
        "error_id": error_id,
        "errors": [
            {"field": name, "code": code, "message": message}
            for name, (code, message) in violations.items()
        ],
    }
    # Bytes, not text: JSON media types take no charset parameter (RFC 8259 11).
    return web.Response(
        body=json.dumps(body).encode(), status=422, content_type=PROBLEM_CONTENT_TYPE
    )


@web.middleware
async def invalid_input_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Invalid input from the models or the services as one 422; other errors pass on."""
    try:
        return await handler(request)
    except (InvalidRequest, InvalidInput, InvalidTenantInput) as error:
        violations = violations_of(error)
        assert violations is not None
        return problem_response(request, violations)


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem document.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "error_id": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "For 422, every wrong field of the request at once.",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {
                    "field": {
                        "type": "string",
                        "description": "Dotted path, such as address.country.",
                    },
                    "code": {
                        "type": "string",
                        "description": (
                            "Stable machine code: required, unknown_field, wrong_type, too_short, "
                            "too_long, out_of_range, not_allowed, invalid_characters, "
                            "invalid_email, invalid_country, invalid_currency, "
                            "invalid_vat_number, country_required, invalid_url, invalid_color, "
                            "invalid_domain, invalid."
                        ),
                    },
                    "message": {"type": "string"},
                },
            },
        },
    },
}

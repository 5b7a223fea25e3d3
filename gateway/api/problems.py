"""The tenant API's one answer to invalid input: 422, every field error at once, each with a code.

Request models (pydantic) report field errors as `InvalidRequest`, the domain
services as `billing.errors.InvalidInput` or `gateway.tenants.errors.InvalidTenantInput`;
all three carry a code per field, and the one error middleware
(`gateway.edge.error_middleware`) renders them in one RFC 9457 shape:

    {"type": ".../problems/invalid-input", "title": "Invalid input", "status": 422,
     "detail": ..., "instance": ..., "error_id": ...,
     "errors": [{"field": "address.country", "code": "invalid_country", "message": ...}]}

A body that cannot be parsed (not JSON, not UTF-8, nested too deeply, a NUL or
lone surrogate, an over-long number) stays a 400 from `gateway.edge.errors.BadRequest`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from billing.fields import field_violations
from gateway.edge.errors import GatewayError

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
        super().__init__(
            detail,
            errors={name: message for name, (_, message) in violations.items()},
            codes={name: code for name, (code, _) in violations.items()},
        )

    @classmethod
    def from_validation(
        cls, error: ValidationError, prefix: tuple[str, ...] = ()
    ) -> InvalidRequest:
        return cls(field_violations(error, prefix))

    @classmethod
    def field(cls, name: str, code: str, message: str) -> InvalidRequest:
        return cls({name: (code, message)})


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
                            "invalid_email, invalid_country, invalid_postal_code, "
                            "invalid_currency, invalid_vat_number, country_required, "
                            "invalid_url, invalid_color, invalid_domain, invalid."
                        ),
                    },
                    "message": {"type": "string"},
                },
            },
        },
    },
}

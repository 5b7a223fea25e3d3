"""Field checks of the billing services: each collects errors under the API field name.

The rules themselves live once in `billing.fields` (the tenant API's request
models use the same ones); these functions keep the forms' calling style:
collect every error of a submission, then raise one `InvalidInput` carrying
each field's message and code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billing import fields
from billing.errors import InvalidInput, RuleViolation
from billing.fields import MAX_METADATA_KEY, MAX_METADATA_KEYS, MAX_METADATA_VALUE

EMAIL = fields.EMAIL
__all__ = [
    "EMAIL",
    "MAX_METADATA_KEY",
    "MAX_METADATA_KEYS",
    "MAX_METADATA_VALUE",
    "FieldErrors",
    "email",
    "integer",
    "metadata",
    "text",
]


class FieldErrors:
    """Collects field errors so a request reports every wrong field at once."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}
        self.codes: dict[str, str] = {}

    def add(self, field: str, message: str, code: str = "invalid") -> None:
        if field not in self.errors:
            self.errors[field] = message
            self.codes[field] = code

    def violation(self, field: str, violation: RuleViolation) -> None:
        self.add(field, violation.message, violation.code)

    def merge(self, error: InvalidInput, prefix: str = "") -> None:
        for name, message in error.errors.items():
            self.add(prefix + name, message, error.codes.get(name, "invalid"))

    def raise_if_any(self) -> None:
        if self.errors:
            raise InvalidInput(self.errors, self.codes)


def text(
    errors: FieldErrors,
    field: str,
    value: Any,
    *,
    maximum: int,
    required: bool = False,
    minimum: int = 1,
    one_line: bool = False,
) -> str | None:
    """A stripped string of `minimum`..`maximum` characters; None (if allowed) for absent/empty.

    Never a NUL or a lone surrogate (PostgreSQL cannot store them); with `one_line` (names,
    shown in terminals and page titles) no control character at all, newlines included.
    """
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            errors.add(field, "is required", "required")
        return None
    if not isinstance(value, str):
        errors.add(field, "must be a string", "wrong_type")
        return None
    try:
        return fields.check_text(value, maximum=maximum, minimum=minimum, one_line=one_line)
    except RuleViolation as violation:
        errors.violation(field, violation)
        return None


def email(errors: FieldErrors, field: str, value: Any) -> str | None:
    """An e-mail address of a plausible shape (one @, a dot in the domain), or None."""
    found = text(errors, field, value, maximum=fields.EMAIL_MAX)
    if found is None:
        return None
    try:
        return fields.check_email(found)
    except RuleViolation as violation:
        errors.violation(field, violation)
        return None


def integer(
    errors: FieldErrors, field: str, value: Any, *, minimum: int, maximum: int
) -> int | None:
    """An integer (not a boolean) within [minimum, maximum], or None with an error."""
    try:
        return fields.check_integer(value, minimum=minimum, maximum=maximum)
    except RuleViolation as violation:
        errors.violation(field, violation)
        return None


def metadata(errors: FieldErrors, field: str, value: Any) -> dict[str, str]:
    """Free-form string -> string labels, at most 50 keys of 40 characters, values of 500."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        errors.add(field, "must be an object of string values", "wrong_type")
        return {}
    if len(value) > MAX_METADATA_KEYS:
        errors.add(field, f"must have at most {MAX_METADATA_KEYS} keys", "too_long")
        return {}
    found: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_METADATA_KEY:
            message = f"keys must have 1 to {MAX_METADATA_KEY} characters"
            errors.add(f"{field}.{key}", message, "too_long")
        elif not isinstance(item, str) or len(item) > MAX_METADATA_VALUE:
            message = f"must be a string of at most {MAX_METADATA_VALUE}"
            errors.add(f"{field}.{key}", message, "too_long")
        else:
            found[key] = item
    return found

"""Field checks shared by the billing modules: each collects errors under the API field name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from billing.errors import InvalidInput
from kernel.text import control_character_reason, unstorable_reason

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500


class FieldErrors:
    """Collects field errors so a request reports every wrong field at once."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    def merge(self, error: InvalidInput, prefix: str = "") -> None:
        for name, message in error.errors.items():
            self.add(prefix + name, message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise InvalidInput(self.errors)


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
            errors.add(field, "is required")
        return None
    if not isinstance(value, str):
        errors.add(field, "must be a string")
        return None
    stripped = value.strip()
    problem = control_character_reason(stripped) if one_line else unstorable_reason(stripped)
    if problem is not None:
        errors.add(field, problem)
        return None
    if len(stripped) < minimum:
        errors.add(field, "must not be empty" if minimum == 1 else f"needs {minimum}+ characters")
        return None
    if len(stripped) > maximum:
        errors.add(field, f"must have at most {maximum} characters")
        return None
    return stripped


def email(errors: FieldErrors, field: str, value: Any) -> str | None:
    """An e-mail address of a plausible shape (one @, a dot in the domain), or None."""
    found = text(errors, field, value, maximum=254)
    if found is not None and not EMAIL.match(found):
        errors.add(field, "must be an e-mail address such as name@example.com")
        return None
    return found


def integer(
    errors: FieldErrors, field: str, value: Any, *, minimum: int, maximum: int
) -> int | None:
    """An integer (not a boolean) within [minimum, maximum], or None with an error."""
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(field, "must be an integer")
        return None
    if not minimum <= value <= maximum:
        errors.add(field, f"must be between {minimum} and {maximum}")
        return None
    return value


def metadata(errors: FieldErrors, field: str, value: Any) -> dict[str, str]:
    """Free-form string -> string labels, at most 50 keys of 40 characters, values of 500."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        errors.add(field, "must be an object of string values")
        return {}
    if len(value) > MAX_METADATA_KEYS:
        errors.add(field, f"must have at most {MAX_METADATA_KEYS} keys")
        return {}
    found: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_METADATA_KEY:
            errors.add(f"{field}.{key}", f"keys must have 1 to {MAX_METADATA_KEY} characters")
        elif not isinstance(item, str) or len(item) > MAX_METADATA_VALUE:
            errors.add(f"{field}.{key}", f"must be a string of at most {MAX_METADATA_VALUE}")
        else:
            found[key] = item
    return found

"""Errors of the billing package: data with a readable message, translated once at the edge."""

from __future__ import annotations

from collections.abc import Mapping


class BillingError(Exception):
    """Root of every error the billing package raises on purpose."""


class NotFound(BillingError):
    """The resource does not exist for this tenant (another tenant's ids look the same)."""

    def __init__(self, resource: str, resource_id: str) -> None:
        self.resource = resource
        self.resource_id = resource_id
        super().__init__(f"no {resource} {resource_id}")


class InvalidInput(BillingError):
    """One or more fields are wrong; `errors` maps each field (dotted path) to what is wrong.

    `codes` maps the same fields to a stable machine code (`required`, `too_long`,
    `invalid_email`...; `billing.fields` lists them) that clients and translated
    forms switch on instead of the English message; a field without one is `invalid`.
    """

    def __init__(self, errors: Mapping[str, str], codes: Mapping[str, str] | None = None) -> None:
        self.errors = dict(errors)
        self.codes = {name: (codes or {}).get(name, "invalid") for name in self.errors}
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.errors.items()))


class RuleViolation(BillingError, ValueError):
    """A value breaks one field rule (`billing.fields`): a stable `code` and an English message.

    Raised by the single-value checks; the services collect them into `InvalidInput`.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


class Conflict(BillingError):
    """The request is well formed but the resource's state does not allow it."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)

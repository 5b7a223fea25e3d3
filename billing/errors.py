"""Errors of the billing package: data with a readable message, translated once at the edge."""

from __future__ import annotations

from collections.abc import Mapping

from kernel.errors import DomainError, ErrorKind


class BillingError(DomainError):
    """Root of every error the billing package raises on purpose; `kind` says what it is."""


class NotFound(BillingError):
    """The resource does not exist for this tenant (another tenant's ids look the same)."""

    kind = ErrorKind.NOT_FOUND

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

    kind = ErrorKind.INVALID

    def __init__(self, errors: Mapping[str, str], codes: Mapping[str, str] | None = None) -> None:
        self.errors = dict(errors)
        self.codes = {name: (codes or {}).get(name, "invalid") for name in self.errors}
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.errors.items()))

    @property
    def field_errors(self) -> Mapping[str, str]:
        return self.errors

    @property
    def field_codes(self) -> Mapping[str, str]:
        return self.codes


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

    kind = ErrorKind.CONFLICT

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)

    @property
    def field_errors(self) -> Mapping[str, str]:
        return {self.field: str(self)} if self.field else {}

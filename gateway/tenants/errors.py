"""Errors of the tenants package: data with a readable message, translated once at the edge."""

from __future__ import annotations

from collections.abc import Mapping

from kernel.errors import DomainError, ErrorKind


class TenantError(DomainError):
    """Root of every error the tenants package raises on purpose; `kind` says what it is."""


class TenantNotFound(TenantError):
    """No tenant (or domain, or key) by that name; the message names only what was asked for."""

    kind = ErrorKind.NOT_FOUND

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"no {what}")


class InvalidTenantInput(TenantError):
    """Fields are wrong; `errors` maps each field to what is wrong. Nothing was stored.

    `codes` maps the same fields to a stable machine code (as `billing.errors.InvalidInput`
    does); a field without one is `invalid`.
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


class TenantConflict(TenantError):
    """A unique name is taken (slug, domain) or the state forbids the change."""

    kind = ErrorKind.CONFLICT

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)

    @property
    def field_errors(self) -> Mapping[str, str]:
        return {self.field: str(self)} if self.field else {}


class InvalidApiKey(TenantError):
    """The API key is missing, unknown or revoked."""

    kind = ErrorKind.UNAUTHENTICATED

    def __init__(self, reason: str = "the API key is unknown or revoked") -> None:
        super().__init__(reason)

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
    """One or more fields are wrong; `errors` maps each field (dotted path) to what is wrong."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.errors.items()))


class Conflict(BillingError):
    """The request is well formed but the resource's state does not allow it."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)

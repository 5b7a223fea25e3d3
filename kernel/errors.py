"""What kind of failure a domain error is, in words the domain owns; the edge picks the status.

Domain packages (billing, certs, tenants) know nothing of HTTP. Each root
exception derives from `DomainError` and each subclass says which `ErrorKind`
it is; `gateway.problems` maps a kind to an HTTP status and title in one table.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar


class ErrorKind(enum.StrEnum):
    """The few kinds of failure a caller can act on differently."""

    # The thing asked for does not exist (for this tenant).
    NOT_FOUND = "not_found"
    # The input is well formed but some fields are wrong; `field_errors` says which.
    INVALID = "invalid"
    # The input cannot be read at all (a forged or unparsable message).
    MALFORMED = "malformed"
    # The request clashes with stored state (a taken name, a closed session, no Stripe key).
    CONFLICT = "conflict"
    # The caller could not be identified (unknown or revoked key).
    UNAUTHENTICATED = "unauthenticated"
    # A limit applies now; `retry_after` says when it frees up.
    RATE_LIMITED = "rate_limited"
    # The payment provider refused the payment (a decline); the customer can act on it.
    PAYMENT_FAILED = "payment_failed"
    # A dependency (database, payment provider) cannot be reached; retry shortly as is.
    UNAVAILABLE = "unavailable"
    # A dependency answered but failed (the CA refused to issue).
    UPSTREAM_FAILED = "upstream_failed"
    # Our own state is wrong; nothing the caller did or can do.
    INTERNAL = "internal"


class DomainError(Exception):
    """Root of the domain packages' root exceptions: a kind, field errors, a retry time."""

    kind: ClassVar[ErrorKind] = ErrorKind.INTERNAL

    @property
    def field_errors(self) -> Mapping[str, str]:
        """What is wrong per field (dotted path); empty when no field is to blame."""
        return {}

    @property
    def field_codes(self) -> Mapping[str, str]:
        """A stable machine code per field of `field_errors` (`required`, `invalid_email`...)."""
        return {}

    @property
    def retry_after(self) -> datetime | float | None:
        """When trying again may succeed: a UTC time, seconds from now, or None."""
        return None

"""Errors of the certs package: data with a readable message, translated once at the edge."""

from __future__ import annotations

from collections.abc import Mapping

from kernel.errors import DomainError, ErrorKind


class CertsError(DomainError):
    """Root of every error the certs package raises on purpose; `kind` says what it is.

    Without a narrower kind (InvalidCertificate, KeyUnavailable) our own state is wrong,
    not the request: an internal error.
    """


class InvalidCertificateNames(CertsError):
    """The names asked for cannot go in a certificate; `reason` says why. Nothing was issued."""

    kind = ErrorKind.INVALID

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    @property
    def field_errors(self) -> Mapping[str, str]:
        return {"name": self.reason}


class NameOutsideInternalCA(InvalidCertificateNames):
    """The internal CA's root is limited (NameConstraints) to `permitted` and their subdomains;
    `names` lie outside them. Clients would refuse such a leaf, so none is issued."""

    def __init__(self, names: list[str], permitted: tuple[str, ...]) -> None:
        self.names = list(names)
        self.permitted = permitted
        super().__init__(
            f"{', '.join(self.names)}: the internal CA only issues for names under"
            f" {', '.join(permitted)}; add the domain to GATEWAY_INTERNAL_CA_NAMES"
            " (development only) or use GATEWAY_ISSUER=acme"
        )


class InvalidCertificate(CertsError):
    """A chain or key given to the store is unusable (unparsable, mismatched, wrong names)."""


class KeyUnavailable(CertsError):
    """A stored private key does not open with this process's key-encryption key."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"the private key of {what} does not open with this key-encryption key")

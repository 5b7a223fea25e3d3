"""Errors of the certs package: data with a readable message, translated once at the edge."""

from __future__ import annotations


class CertsError(Exception):
    """Root of every error the certs package raises on purpose."""


class InvalidCertificateNames(CertsError):
    """The names asked for cannot go in a certificate; `reason` says why. Nothing was issued."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class InvalidCertificate(CertsError):
    """A chain or key given to the store is unusable (unparsable, mismatched, wrong names)."""


class KeyUnavailable(CertsError):
    """A stored private key does not open with this process's key-encryption key."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"the private key of {what} does not open with this key-encryption key")

"""The issuer interface: "issue a certificate for these names", and the internal CA behind it.

Two issuers fit it: `certs.acme_issuer.AcmeIssuer` (a public or test ACME CA)
and `InternalIssuer` (the local root of `certs.internal_ca`, for offline and
demo use). The domain lifecycle and renewal only ever see `Issuer`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from certs.errors import CertsError
from certs.internal_ca import InternalCA, IssuedCertificate
from certs.keys import normalise_names
from kernel.errors import ErrorKind

__all__ = [
    "InternalIssuer",
    "IssuanceFailed",
    "IssuanceInProgress",
    "IssuedCertificate",
    "Issuer",
    "OnIssued",
]

# Awaited with a certificate the issuer just obtained, before `issue` returns.
OnIssued = Callable[[IssuedCertificate], Awaitable[None]]


class Issuer(Protocol):
    """Obtains certificates. `kind` and `detail` go to the certificates table's issuer columns."""

    @property
    def kind(self) -> str:
        """ "acme" or "internal" (CertificateStore's `issuer`)."""
        ...

    @property
    def detail(self) -> str:
        """Which CA, for operators (CertificateStore's `issuer_detail`), e.g. a directory URL."""
        ...

    async def issue(
        self, names: list[str], *, on_issued: OnIssued | None = None
    ) -> IssuedCertificate:
        """A certificate with a fresh ECDSA P-256 key covering every name in `names`.

        May block for as long as the CA takes: an ACME order waits for the CA to
        validate every name (seconds, bounded by the issuer's deadline), and for a
        cluster-wide lock while another caller issues for the same names. Nothing
        blocks the event loop. `on_issued`, when given, is awaited with the new
        certificate while that lock is still held: store the certificate there,
        so a caller waiting for the same names finds it instead of ordering
        again (that caller then gets the stored certificate, and its own
        `on_issued` is not called).

        The issuer cleans up after itself whatever happens (challenge answers,
        locks, the order's record); the caller owns the returned key and must
        seal it before it leaves memory.

        Raises InvalidCertificateNames for names no CA issues, IssuanceFailed when
        the CA refused or could not be reached, IssuanceInProgress when the lock
        stayed taken past the wait limit, certs.budgets.BudgetExhausted when the
        CA's limits would be exceeded.
        """
        ...


class IssuanceFailed(CertsError):
    """The CA did not issue. `validation_failed` tells a failed challenge (the name's DNS or
    responder is wrong: fix it first) from a CA error or outage (retry later as is)."""

    kind = ErrorKind.UPSTREAM_FAILED

    def __init__(self, names: list[str], reason: str, *, validation_failed: bool = False) -> None:
        self.names = list(names)
        self.reason = reason
        self.validation_failed = validation_failed
        subject = ", ".join(self.names) or "any name"
        super().__init__(f"no certificate for {subject}: {reason}")


class IssuanceInProgress(CertsError):
    """Another caller held the issuance lock for these names longer than this caller waits."""

    kind = ErrorKind.CONFLICT

    def __init__(self, names: list[str], waited_seconds: float) -> None:
        self.names = list(names)
        self.waited_seconds = waited_seconds
        super().__init__(
            f"another issuance for {', '.join(self.names)} is still running after"
            f" {waited_seconds:g} s; try again later"
        )

    @property
    def retry_after(self) -> float:
        return 60.0  # seconds; about how long one issuance takes at worst


class InternalIssuer:
    """`Issuer` over the internal CA: CPU only, issues at once, needs no lock or cleanup."""

    kind = "internal"

    def __init__(self, authority: InternalCA) -> None:
        self._authority = authority

    @property
    def detail(self) -> str:
        return "internal CA"

    async def issue(
        self, names: list[str], *, on_issued: OnIssued | None = None
    ) -> IssuedCertificate:
        issued = self._authority.issue(normalise_names(names))
        if on_issued is not None:
            await on_issued(issued)
        return issued

"""The one way to obtain a certificate: issue it and store it while the issuer's lock is held.

Every caller uses `issue_and_store` (the domain lifecycle, renewal, the CLI and
handshake-time issuance): it saves the certificate through `CertificateStore`
inside the issuer's `on_issued` callback, so a concurrent caller for the same
names, on any replica, finds it stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from certs.issuer import IssuedCertificate, Issuer
from certs.store import CertificateStore
from kernel.db import Db
from kernel.sealing import Sealer


@dataclass(frozen=True)
class StoredIssue:
    """A certificate just issued (or found stored by a concurrent caller) and its row id.

    `certificate_id` is None when another caller issued and stored it while
    this one waited for the issuer's lock.
    """

    certificate: IssuedCertificate
    certificate_id: str | None


async def issue_and_store(
    issuer: Issuer,
    pool: Db,
    sealer: Sealer,
    *,
    tenant_id: int | None,
    domain_id: str | None,
    names: list[str],
) -> StoredIssue:
    """Issue a certificate for `names` and save it (key sealed) in table certificates.

    The save runs inside the issuer's `on_issued` callback, under its
    cluster-wide lock for the names, and records the issuer's kind and detail.
    `tenant_id`/`domain_id` are None for vendor hosts. Blocks for as long as the
    CA takes (see `certs.issuer.Issuer.issue`); raises what `issue` raises
    (IssuanceFailed, IssuanceInProgress, BudgetExhausted, InvalidCertificateNames).
    """
    saved: list[str] = []

    async def save(issued: IssuedCertificate) -> None:
        saved.append(
            await CertificateStore().save(
                pool,
                sealer,
                tenant_id=tenant_id,
                domain_id=domain_id,
                names=issued.names,
                issuer=issuer.kind,
                issuer_detail=issuer.detail,
                chain_pem=issued.chain_pem,
                key_pem=issued.key_pem,
            )
        )

    issued = await issuer.issue(names, on_issued=save)
    return StoredIssue(issued, saved[0] if saved else None)
